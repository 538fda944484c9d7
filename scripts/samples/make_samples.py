"""Generate the small sample documents in samples/ (HTML, Markdown, CSV, AsciiDoc, DOCX, PPTX, XLSX).
Needs python-docx, python-pptx and openpyxl (the docling-serve venv has them):
    ~/.cache/ingest-e2e/docling-venv/bin/python scripts/samples/make_samples.py samples
The PDF comes from make_pdf.py."""
import csv, os, sys
from pathlib import Path
OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "samples")
OUT.mkdir(parents=True, exist_ok=True)

# ---------- HTML ----------
html = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Acme Widget Service – Operations Handbook</title></head>
<body>
<h1>Acme Widget Service – Operations Handbook</h1>
<p>This handbook describes how the <b>Widget Service</b> is deployed, monitored and recovered. It is maintained by the platform team and reviewed every quarter.</p>
<h2>1. Architecture</h2>
<p>The service consists of three tiers: an HTTP gateway, a stateless worker pool and a PostgreSQL cluster. Requests are routed by the gateway to the least-loaded worker.</p>
<h3>1.1 Components</h3>
<ul>
  <li>Gateway: terminates TLS and enforces rate limits.</li>
  <li>Workers: render widgets; each worker holds at most 64 concurrent jobs.
    <ul><li>Small workers: 2 vCPU, 4 GiB.</li><li>Large workers: 8 vCPU, 32 GiB.</li></ul>
  </li>
  <li>Database: primary plus two streaming replicas.</li>
</ul>
<h3>1.2 Capacity</h3>
<table>
  <caption>Table 1: Capacity per region</caption>
  <thead><tr><th>Region</th><th>Workers</th><th>Peak RPS</th><th>p99 latency (ms)</th></tr></thead>
  <tbody>
    <tr><td>eu-west</td><td>12</td><td>4,200</td><td>180</td></tr>
    <tr><td>us-east</td><td>20</td><td>7,900</td><td>210</td></tr>
    <tr><td>ap-south</td><td>6</td><td>1,300</td><td>240</td></tr>
  </tbody>
</table>
<h2>2. Incident response</h2>
<p>When an alert fires, the on-call engineer follows the steps below.</p>
<ol>
  <li>Acknowledge the page within 5 minutes.</li>
  <li>Check the dashboard for error-rate and saturation.</li>
  <li>If the database is degraded, fail over to a replica.</li>
</ol>
<blockquote>Never restart all workers at once: it drops in-flight jobs.</blockquote>
<h2>3. Glossary</h2>
<dl><dt>RPS</dt><dd>Requests per second.</dd><dt>SLO</dt><dd>Service level objective.</dd></dl>
<pre><code>kubectl rollout restart deployment/widget-worker -n widgets</code></pre>
<footer><p>Last reviewed: 2026-09-01. Contact: platform@acme.example.</p></footer>
</body></html>
"""
(OUT / "handbook.html").write_text(html, encoding="utf-8")

# ---------- Markdown ----------
md = """# Release Notes 4.2

Version 4.2 focuses on reliability and a new export API.

## Highlights

- Faster cold start (median 1.8 s, down from 3.1 s).
- New `/export` endpoint returning CSV or JSON.
- Dropped support for TLS 1.0.

## Breaking changes

1. The `legacy_mode` flag is removed.
2. Config key `db.pool` is renamed to `db.pool_size`.

### Migration table

| Old key | New key | Default |
|---------|---------|---------|
| db.pool | db.pool_size | 10 |
| cache.ttl | cache.ttl_seconds | 300 |

## Known issues

Exports larger than 2 GB may time out on slow disks. A fix is planned for 4.2.1.

```python
client.export(format="csv", since="2026-01-01")
```
"""
(OUT / "release_notes.md").write_text(md, encoding="utf-8")

# ---------- CSV ----------
with open(OUT / "inventory.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["sku", "name", "qty", "unit_price_eur"])
    for i, (n, q, p) in enumerate([("Bolt M6", 1200, 0.12), ("Nut M6", 1500, 0.05), ("Washer 6mm", 3000, 0.02), ("Hinge 40mm", 80, 2.35)]):
        w.writerow([f"SKU-{1000+i}", n, q, p])

# ---------- AsciiDoc ----------
adoc = """= Backup Policy
:author: Ops Team

== Scope

This policy applies to all production databases.

== Schedule

* Full backup every Sunday at 02:00 UTC.
* Incremental backups every 6 hours.

=== Retention

|===
|Backup type |Retention

|Full
|90 days

|Incremental
|14 days
|===

== Restore testing

Restores are tested monthly on a staging cluster.
"""
(OUT / "backup_policy.adoc").write_text(adoc, encoding="utf-8")

# ---------- DOCX ----------
import docx
from docx.shared import Pt
d = docx.Document()
d.core_properties.title = "Quarterly Security Review"
d.add_heading("Quarterly Security Review", level=0)  # Title style
d.add_paragraph("Prepared by the Security Office for Q3 2026. This document summarizes findings, open risks and remediation plans.")
d.add_heading("Summary of findings", level=1)
d.add_paragraph("Twelve findings were raised during the quarter; nine are closed.")
d.add_paragraph("Phishing simulation click rate fell to 3.1%.", style="List Bullet")
d.add_paragraph("Two critical CVEs were patched within SLA.", style="List Bullet")
d.add_paragraph("MFA coverage reached 99.4% of accounts.", style="List Bullet")
d.add_heading("Open risks", level=1)
d.add_heading("Legacy VPN concentrator", level=2)
d.add_paragraph("The legacy VPN appliance reaches end of support in March 2027. Replacement is budgeted.")
d.add_heading("Third-party access", level=2)
d.add_paragraph("Vendors retain standing access to two systems.")
d.add_paragraph("Review vendor accounts monthly.", style="List Number")
d.add_paragraph("Move vendors to just-in-time access.", style="List Number")
d.add_heading("Remediation plan", level=1)
t = d.add_table(rows=4, cols=3)
t.style = "Table Grid"
rows = [("Item", "Owner", "Due"), ("Replace VPN", "Network team", "2027-02-15"), ("JIT vendor access", "IAM team", "2026-12-01"), ("Close finding F-7", "App team", "2026-11-10")]
for r, vals in enumerate(rows):
    for c, v in enumerate(vals):
        t.cell(r, c).text = v
d.add_paragraph("Table 1: Remediation items and owners", style="Caption")
d.add_heading("Appendix", level=1)
png = OUT / "scanned_memo.png"
if png.exists():
    from docx.shared import Inches as DInches
    d.add_picture(str(png), width=DInches(4))
    d.add_paragraph("Figure 1: Scanned memo excerpt", style="Caption")
p = d.add_paragraph("All findings are tracked in the GRC tool. ")
p.add_run("Bold note: ").bold = True
p.add_run("dates are subject to change.")
sec = d.sections[0]
sec.header.paragraphs[0].text = "CONFIDENTIAL – Security Office"
sec.footer.paragraphs[0].text = "Quarterly Security Review – Q3 2026"
d.save(OUT / "security_review.docx")

# ---------- PPTX ----------
from pptx import Presentation
from pptx.util import Inches
prs = Presentation()
s = prs.slides.add_slide(prs.slide_layouts[0])
s.shapes.title.text = "Migration to Cloud Storage"
s.placeholders[1].text = "Steering committee update – October 2026"
s = prs.slides.add_slide(prs.slide_layouts[1])
s.shapes.title.text = "Progress"
tf = s.placeholders[1].text_frame
tf.text = "84 of 120 buckets migrated"
for line in ["Cut-over for finance data scheduled for 2026-11-20", "No data loss incidents so far"]:
    tf.add_paragraph().text = line
s = prs.slides.add_slide(prs.slide_layouts[5])
s.shapes.title.text = "Cost comparison"
tbl = s.shapes.add_table(3, 3, Inches(1), Inches(2), Inches(6), Inches(1.5)).table
for r, vals in enumerate([("Item", "On-prem (€/month)", "Cloud (€/month)"), ("Storage", "18,000", "11,500"), ("Operations", "9,000", "4,000")]):
    for c, v in enumerate(vals):
        tbl.cell(r, c).text = v
s.notes_slide.notes_text_frame.text = "Speaker note: cloud costs exclude egress."
prs.save(OUT / "migration_update.pptx")

# ---------- XLSX ----------
import openpyxl
wb = openpyxl.Workbook()
ws = wb.active; ws.title = "Budget"
ws.append(["Department", "Q1", "Q2", "Q3", "Q4"])
for row in [("Engineering", 120, 130, 125, 140), ("Sales", 80, 85, 90, 95), ("Support", 40, 42, 41, 45)]:
    ws.append(row)
ws2 = wb.create_sheet("Headcount")
ws2.append(["Team", "FTE"])
ws2.append(["Platform", 14]); ws2.append(["Data", 9])
wb.save(OUT / "budget.xlsx")
print("ok", sorted(p.name for p in OUT.iterdir()))
