import Foundation
import IngestChunking
import Testing

/// Documents nobody here wrote, as Debian ships them, converted by docling-serve (provenance and
/// licences: Fixtures/README.md), and the heading-in-a-list reproductions converted by
/// LibreOffice and docling-serve. Each test pins the defect it was found with (issue 15).
@Suite("Real documents: headings as documentation generators and word processors write them")
struct RealDocumentTests {
    private func chunks(_ name: String, maxTokens: Int = 256) throws -> [Chunk] {
        chunker(maxTokens).chunks(for: try Fixtures.document(name))
    }

    @Test("base-passwd 'Users and Groups' (DocBook HTML, and the same through LibreOffice as DOCX): three author headings in a row are all kept",
          arguments: ["real/base-passwd_users-and-groups.html.docling.json.gz", "real/base-passwd_users-and-groups.docx.docling.json.gz"])
    func consecutiveAuthorHeadings(name: String) throws {
        let chunks = try chunks(name)
        // Joey Hess and Colin Watson have nothing under them: they open the chunk that follows,
        // whose content (the copyright lines) stays under the last author's path.
        #expect(chunks[0].headings == ["Users and Groups in the Debian System", "David Mandelberg"])
        #expect(chunks[0].text.hasPrefix("Joey Hess\nColin Watson\n\nCopyright © 2001, 2002 Joey Hess"))
        #expect(chunks[0].embeddingText.hasPrefix("Users and Groups in the Debian System\nDavid Mandelberg\nJoey Hess\nColin Watson\n"))
    }

    @Test("base-passwd DOCX: LibreOffice's list headings (one per user name, hung after the chapter by Docling) are kept as lines")
    func docxUserNameHeadings() throws {
        let document = try Fixtures.document("real/base-passwd_users-and-groups.docx.docling.json.gz")
        let names = document.texts.filter { $0.label == .sectionHeader && ["root", "daemon", "sshd"].contains($0.text) }
        #expect(names.count == 3)
        let lines = Set(try chunks("real/base-passwd_users-and-groups.docx.docling.json.gz").flatMap { $0.text.split(separator: "\n").map(String.init) })
        #expect(lines.isSuperset(of: ["root", "daemon", "sshd"]))
    }

    @Test("Node.js API page (nodejs-doc): every heading ends in ' #' in Docling's output and in none of ours")
    func nodeMarkers() throws {
        let document = try Fixtures.document("real/nodejs-doc_api_string_decoder.html.docling.json.gz")
        let raw = document.texts.filter { $0.isBody && $0.label == .sectionHeader }.map(\.text)
        #expect(raw.contains("Class: StringDecoder #") && raw.allSatisfy { $0.hasSuffix(" #") })
        let chunks = chunker().chunks(for: document)
        #expect(!chunks.flatMap(\.headings).contains { $0.hasSuffix("#") })
        let end = try #require(chunks.first { $0.text.hasPrefix("Added in: v0.9.3") })
        #expect(end.headings == ["Node.js v18.20.4 documentation", "String decoder", "Class: StringDecoder", "stringDecoder.end([buffer])"])
        #expect(end.embeddingText.hasPrefix("Node.js v18.20.4 documentation\nString decoder\nClass: StringDecoder\nstringDecoder.end([buffer])\nAdded in"))
    }

    @Test("Python docs (python3.11-doc, Sphinx): '¶' leaves the headings; a '¶' in body text is not touched")
    func sphinxMarkers() throws {
        let document = try Fixtures.document("real/python3.11-doc_library_secrets.html.docling.json.gz")
        #expect(document.texts.contains { $0.isBody && $0.label == .sectionHeader && $0.text == "Random numbers ¶" })
        let chunks = chunker().chunks(for: document)
        #expect(!chunks.flatMap(\.headings).contains { $0.contains("¶") })
        let random = try #require(chunks.first { $0.text.hasPrefix("The `secrets` module provides access to the most secure source") })
        #expect(random.headings == ["secrets - Generate secure random numbers for managing secrets", "Random numbers"])
        // Nothing else: the marker after a function signature (a list item, not a heading) stays.
        #expect(random.text.contains("- class secrets. SystemRandom ¶"))
    }

    @Test("DOCX written by LibreOffice (bullet, Heading 1, Heading 2, paragraph): the Heading 1 Docling hangs in the list is a heading")
    func docxHeadingInList() throws {
        let document = try Fixtures.document("repro/docx-heading-in-list.docx.docling.json")
        #expect(document.groups.first?.label == "list" && document.groups.first?.children.contains(.text(1)) == true)
        #expect(document.texts[1].label == .sectionHeader && document.texts[1].text == "Top Heading")
        let chunks = chunker().chunks(for: document)
        #expect(chunks.map(\.text) == ["- first bullet", "A paragraph under the sub heading."])
        #expect(chunks.map(\.headings) == [[], ["Top Heading", "Sub Heading"]])
    }

    @Test("Markdown: Docling puts '- ## heading' in the list group; both of our paths make it a heading")
    func markdownHeadingInList() throws {
        let expected = [[], ["Top Heading", "Sub Heading"]]
        let viaDocling = try chunks("repro/md-heading-in-list.md.docling.json")
        #expect(viaDocling.map(\.headings) == expected)
        #expect(viaDocling.map(\.text) == ["- first bullet", "A paragraph under the sub heading.\n\nA paragraph after the list."])
        let viaMarkdown = chunker().chunks(forMarkdown: try Fixtures.text("repro/md-heading-in-list.md"))
        #expect(viaMarkdown.map(\.headings) == expected)
        #expect(viaMarkdown.map(\.text) == viaDocling.map(\.text))
    }

    @Test("HTML: Docling folds a heading inside <li> into the item's text (no section_header), so it stays list text, every word kept")
    func htmlHeadingInList() throws {
        let document = try Fixtures.document("repro/html-heading-in-list.html.docling.json")
        #expect(!document.texts.contains { $0.isBody && $0.label.isHeading })
        let chunks = chunker().chunks(for: document)
        #expect(chunks.map(\.text) == ["- first bullet\n- Top Heading Sub Heading A paragraph under the sub heading.\n\nA paragraph after the list."])
    }

    @Test("package READMEs (libcbor, apt) through Docling and through the Markdown path: the same heading paths where the text agrees")
    func readmes() throws {
        let cbor = try chunks("real/libcbor_README.md.docling.json.gz")
        #expect(cbor.contains { $0.headings == ["libcbor", "Getting started", "Homebrew"] && $0.text.contains("brew install libcbor") })
        let apt = try chunks("real/apt_README.md.docling.json.gz")
        let aptText = chunker().chunks(forMarkdown: try Fixtures.text("real/apt_README.md"))
        let paths = { (chunks: [Chunk]) in chunks.map(\.headings).reduce(into: [[String]]()) { if $0.last != $1 { $0.append($1) } } }
        #expect(paths(apt) == paths(aptText))
        #expect(paths(apt).contains(["APT", "Debugging", "Dependency resolution"]))
    }
}
