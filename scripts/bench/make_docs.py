"""Generate N deterministic benchmark documents (HTML, DOCX, Markdown; 1-8 pages each).

    python make_docs.py OUT_DIR [--docs 200] [--source FILE.docling.json.gz] [--seed 3]

The content comes from a DoclingDocument (default: scripts/data/synthetic_1000_pages.docling.json.gz,
1,000 synthetic pages of headings, paragraphs, bullet lists and tables): each generated document
takes the next few pages of it, so documents differ and the same arguments always give the same
files. Half are small (1-2 pages), half medium (3-8 pages); formats rotate HTML, DOCX, Markdown.
DOCX needs python-docx (the docling-serve venv has it). Adapted from the Docling team's
make_big_samples.py, which exports the whole document to one file of each format.
Prints one summary line: documents, pages, bytes.
"""
import argparse
import gzip
import html
import json
import random
import zipfile
from pathlib import Path


def load_pages(source):
    """Body items of the document in reading order, grouped by page: [(kind, payload), ...] per page."""
    with gzip.open(source, "rt") if str(source).endswith(".gz") else open(source) as f:
        d = json.load(f)

    def resolve(ref):
        _, coll, idx = ref.split("/")
        return coll, d[coll][int(idx)]

    pages = {}

    def page_of(item):
        prov = item.get("prov") or []
        return prov[0]["page_no"] if prov else None

    def add(page, block):
        if page is not None:
            pages.setdefault(page, []).append(block)

    for child in d["body"]["children"]:
        coll, item = resolve(child["$ref"])
        if coll == "texts":
            label = item["label"]
            if label in ("page_footer", "page_header", "caption"):
                continue  # captions are emitted with their table
            if label == "title":
                add(page_of(item), ("heading", (1, item["text"])))
            elif label == "section_header":
                add(page_of(item), ("heading", (min(6, item.get("level", 1) + 1), item["text"])))
            else:
                add(page_of(item), ("para", item["text"]))
        elif coll == "groups":
            entries = [resolve(c["$ref"])[1] for c in item["children"]]
            entries = [e for e in entries if e.get("text")]
            if entries:
                add(page_of(entries[0]), ("list", [e["text"] for e in entries]))
        elif coll == "tables":
            caption = ""
            if item.get("captions"):
                caption = resolve(item["captions"][0]["$ref"])[1]["text"]
            grid = [[cell["text"] for cell in row] for row in item["data"]["grid"]]
            add(page_of(item), ("table", (caption, grid)))
    return [pages[k] for k in sorted(pages)]


def to_html(title, blocks):
    out = ["<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\"><title>%s</title></head><body>" % html.escape(title)]
    out.append("<h1>%s</h1>" % html.escape(title))
    for kind, payload in blocks:
        if kind == "heading":
            level, text = payload
            out.append("<h%d>%s</h%d>" % (level, html.escape(text), level))
        elif kind == "para":
            out.append("<p>%s</p>" % html.escape(payload))
        elif kind == "list":
            out.append("<ul>" + "".join("<li>%s</li>" % html.escape(t) for t in payload) + "</ul>")
        elif kind == "table":
            caption, grid = payload
            rows = ["<tr>" + "".join("<th>%s</th>" % html.escape(c) for c in grid[0]) + "</tr>"]
            rows += ["<tr>" + "".join("<td>%s</td>" % html.escape(c) for c in r) + "</tr>" for r in grid[1:]]
            cap = "<caption>%s</caption>" % html.escape(caption) if caption else ""
            out.append("<table>%s%s</table>" % (cap, "".join(rows)))
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def md_cell(text):
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(title, blocks):
    out = ["# " + title, ""]
    for kind, payload in blocks:
        if kind == "heading":
            level, text = payload
            out += ["#" * level + " " + text, ""]
        elif kind == "para":
            out += [payload, ""]
        elif kind == "list":
            out += ["- " + t for t in payload] + [""]
        elif kind == "table":
            caption, grid = payload
            if caption:
                out += [caption, ""]
            out.append("| " + " | ".join(md_cell(c) for c in grid[0]) + " |")
            out.append("|" + "---|" * len(grid[0]))
            out += ["| " + " | ".join(md_cell(c) for c in r) + " |" for r in grid[1:]]
            out.append("")
    return "\n".join(out)


def write_docx(path, title, blocks):
    import docx  # python-docx

    d = docx.Document()
    d.core_properties.title = title
    d.add_heading(title, 0)
    for kind, payload in blocks:
        if kind == "heading":
            level, text = payload
            d.add_heading(text, min(level, 9))
        elif kind == "para":
            d.add_paragraph(payload)
        elif kind == "list":
            for t in payload:
                d.add_paragraph(t, style="List Bullet")
        elif kind == "table":
            caption, grid = payload
            if caption:
                d.add_paragraph(caption)
            t = d.add_table(rows=len(grid), cols=len(grid[0]))
            for r, row in enumerate(grid):
                for c, cell in enumerate(row):
                    t.cell(r, c).text = cell
    d.save(path)
    # python-docx stamps zip entries with the current time; fix them so the bytes are reproducible.
    with zipfile.ZipFile(path) as z:
        entries = [(info.filename, z.read(info)) for info in z.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries:
            z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)


def main():
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--docs", type=int, default=200)
    ap.add_argument("--source", default=str(here.parent / "data" / "synthetic_1000_pages.docling.json.gz"))
    ap.add_argument("--seed", type=int, default=3)
    a = ap.parse_args()

    pages = load_pages(a.source)
    rng = random.Random(a.seed)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    formats = ["html", "docx", "md"]
    cursor = total_pages = total_bytes = 0
    for i in range(a.docs):
        n = rng.randint(1, 2) if rng.random() < 0.5 else rng.randint(3, 8)
        blocks = []
        for k in range(n):
            blocks += pages[(cursor + k) % len(pages)]
        cursor += n
        total_pages += n
        fmt = formats[i % len(formats)]
        title = "Benchmark document %03d (%d pages)" % (i + 1, n)
        path = out / ("doc-%03d.%s" % (i + 1, fmt))
        if fmt == "html":
            path.write_text(to_html(title, blocks))
        elif fmt == "md":
            path.write_text(to_markdown(title, blocks))
        else:
            write_docx(path, title, blocks)
        total_bytes += path.stat().st_size
    print("%d documents, %d pages, %d bytes in %s" % (a.docs, total_pages, total_bytes, out))


if __name__ == "__main__":
    main()
