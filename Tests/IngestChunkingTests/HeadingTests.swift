import Foundation
import IngestChunking
import Testing

/// Minimal documents for the three heading defects found on real documents (issue 15): a heading
/// inside a list, headings with nothing under them, permalink markers. Each tree has the shape
/// docling-serve gives (see the repro fixtures for the same cases converted for real).
@Suite("Headings: in lists, with nothing under them, permalink markers")
struct HeadingTests {
    private typealias Text = DoclingDocument.TextItem

    /// A document whose body is `body`, with `texts` and `groups`.
    private func document(_ body: [DoclingRef], texts: [Text], groups: [DoclingDocument.Group] = []) -> DoclingDocument {
        DoclingDocument(name: "t", body: .init(children: body), texts: texts, groups: groups)
    }

    private func summary(_ chunks: [Chunk]) -> [String] {
        chunks.map { $0.headings.joined(separator: " > ") + " | " + $0.text }
    }

    // MARK: - A heading inside a list

    @Test("DOCX shape: a Heading 1 that Docling hangs in the list group after a bullet is a heading")
    func docxHeadingInListGroup() {
        // A bullet, Heading 1, Heading 2, a paragraph: the Heading 1 is a child of the list group.
        let texts: [Text] = [
            .init(label: .listItem, text: "first bullet"),
            .init(label: .sectionHeader, text: "Top Heading", children: [.text(2)], level: 1),
            .init(label: .sectionHeader, text: "Sub Heading", children: [.text(3)], level: 2),
            .init(label: .text, text: "A paragraph under the sub heading."),
        ]
        let doc = document([.group(0)], texts: texts, groups: [.init(children: [.text(0), .text(1)], label: "list")])
        let chunks = chunker().chunks(for: doc)
        #expect(summary(chunks) == [" | - first bullet", "Top Heading > Sub Heading | A paragraph under the sub heading."])
        #expect(chunks[1].embeddingText == "Top Heading\nSub Heading\nA paragraph under the sub heading.")
        expectDocumentInvariants(doc, chunks, maxTokens: 256, name: "docx shape")
    }

    @Test("HTML/Markdown shape: a heading among the items and under an item; the list goes on under the new path")
    func headingUnderListItem() {
        // list: [item "one", heading "Setup" (level 1), item "two" with a nested list holding a
        // level-2 heading "Details" and item "three"], then a paragraph.
        let texts: [Text] = [
            .init(label: .listItem, text: "one"),
            .init(label: .sectionHeader, text: "Setup", level: 1),
            .init(label: .listItem, text: "two", children: [.group(1)]),
            .init(label: .sectionHeader, text: "Details", level: 2),
            .init(label: .listItem, text: "three"),
            .init(label: .text, text: "After the list."),
        ]
        let groups: [DoclingDocument.Group] = [
            .init(children: [.text(0), .text(1), .text(2)], label: "list"),
            .init(children: [.text(3), .text(4)], label: "list"),
        ]
        let chunks = chunker().chunks(for: document([.group(0), .text(5)], texts: texts, groups: groups))
        #expect(summary(chunks) == [" | - one", "Setup | - two", "Setup > Details |   - three\n\nAfter the list."])
    }

    @Test("a heading that is the child of a list item (not of the group) is a heading too")
    func headingChildOfListItem() {
        let texts: [Text] = [
            .init(label: .listItem, text: "Install", children: [.text(1)]),
            .init(label: .title, text: "Reference"),
            .init(label: .text, text: "Everything else."),
        ]
        let chunks = chunker().chunks(for: document([.group(0), .text(2)], texts: texts, groups: [.init(children: [.text(0)], label: "list")]))
        #expect(summary(chunks) == [" | - Install", "Reference | Everything else."])
    }

    @Test("Markdown path: '- ## heading' and an indented heading end the list; '# comment' in a fenced block stays code")
    func markdownHeadingInList() {
        let text = """
            - first bullet
            - ## Top Heading

              ### Sub Heading

              A paragraph under the sub heading.

            - step:
              ```sh
              # not a heading
              make
              ```
            - last
            """
        let chunks = chunker().chunks(forMarkdown: text)
        #expect(summary(chunks) == [
            " | - first bullet",
            "Top Heading > Sub Heading | A paragraph under the sub heading.\n\n- step:\n  ```sh\n  # not a heading\n  make\n  ```\n- last",
        ])
    }

    // MARK: - Headings with nothing under them

    @Test("three consecutive headings: the first two become lines of the next chunk, whose path ends in the third")
    func consecutiveHeadings() {
        let texts: [Text] = [
            .init(label: .title, text: "Users and Groups"),
            .init(label: .sectionHeader, text: "Joey Hess", level: 2),
            .init(label: .sectionHeader, text: "Colin Watson", level: 2),
            .init(label: .sectionHeader, text: "David Mandelberg", level: 2),
            .init(label: .text, text: "Copyright © 2005."),
            .init(label: .sectionHeader, text: "Introduction", level: 1),
            .init(label: .text, text: "The base-passwd package."),
        ]
        let doc = document(texts.indices.map { .text($0) }, texts: texts)
        let chunks = chunker().chunks(for: doc)
        #expect(summary(chunks) == [
            "Users and Groups > David Mandelberg | Joey Hess\nColin Watson\n\nCopyright © 2005.",
            "Users and Groups > Introduction | The base-passwd package.",
        ])
        #expect(chunks[0].docItems == ["#/texts/1", "#/texts/2", "#/texts/4"])
        #expect(chunks[0].embeddingText == "Users and Groups\nDavid Mandelberg\nJoey Hess\nColin Watson\n\nCopyright © 2005.")
        expectDocumentInvariants(doc, chunks, maxTokens: 256, name: "consecutive")
    }

    @Test("an empty section before a shallower heading, and headings at the end, are kept in reading order")
    func emptySectionsAndTrailingHeadings() {
        let texts: [Text] = [
            .init(label: .sectionHeader, text: "A", level: 1, pages: [1]),
            .init(label: .sectionHeader, text: "A.1", level: 2, pages: [1]),
            .init(label: .sectionHeader, text: "B", level: 1, pages: [2]),
            .init(label: .text, text: "Body of B.", pages: [2]),
            .init(label: .sectionHeader, text: "B.1", level: 2, pages: [3]),
            .init(label: .sectionHeader, text: "See also", level: 3, pages: [3]),
        ]
        let doc = DoclingDocument(name: "t", body: .init(children: texts.indices.map { .text($0) }), texts: texts, pageCount: 3)
        let chunks = chunker().chunks(for: doc)
        // The trailing headings fall back to the path of the last content and merge with it.
        #expect(summary(chunks) == ["B | A\nA.1\n\nBody of B.\n\nB.1\nSee also"])
        #expect(chunks.map(\.pages) == [[1, 2, 3]])
        expectDocumentInvariants(doc, chunks, maxTokens: 256, name: "trailing")
    }

    @Test("a slide with only a title keeps it, in a chunk of its own with the slide's page")
    func titleOnlySlide() {
        let texts: [Text] = [
            .init(label: .title, text: "Roadmap", pages: [1]),
            .init(label: .text, text: "Q1: storage.", pages: [1]),
            .init(label: .title, text: "Thank you", pages: [2]),
        ]
        let groups: [DoclingDocument.Group] = [
            .init(children: [.text(0), .text(1)], label: "chapter", name: "slide-0"),
            .init(children: [.text(2)], label: "chapter", name: "slide-1"),
        ]
        let doc = DoclingDocument(name: "t", body: .init(children: [.group(0), .group(1)]), texts: texts, groups: groups, pageCount: 2)
        let chunks = chunker().chunks(for: doc)
        #expect(summary(chunks) == ["Roadmap | Q1: storage.", " | Thank you"])
        #expect(chunks.map(\.pages) == [[1], [2]])
    }

    @Test("Markdown path: consecutive and trailing headings are kept the same way")
    func markdownConsecutiveHeadings() {
        let chunks = chunker().chunks(forMarkdown: "# Guide\n## Authors\n## Joey Hess\n## Colin Watson\nText.\n## Appendix\n")
        #expect(summary(chunks) == ["Guide > Colin Watson | Authors\nJoey Hess\n\nText.", "Guide | Appendix"])
    }

    // MARK: - Permalink markers

    @Test("permalink markers: ' #' (never 'C#'), '¶', '§', '🔗', '⚓' with or without a space; nothing else", arguments: [
        ("DNS #", "DNS"), ("Class: dns.Resolver #", "Class: dns.Resolver"), ("Usage¶", "Usage"), ("Usage ¶", "Usage"),
        ("History§", "History"), ("History §", "History"), ("Links 🔗", "Links"), ("Links🔗", "Links"),
        ("Anchor ⚓", "Anchor"), ("Anchor ⚓\u{FE0F}", "Anchor"), ("Title # ¶", "Title"), ("Title\u{00A0}#", "Title"),
        ("C#", "C#"), ("F#", "F#"), ("Issue #12", "Issue #12"), ("#", "#"), ("¶ Intro", "¶ Intro"), ("Notes *", "Notes *"),
        ("Sharp ♯", "Sharp ♯"), ("  Spaced  \n heading # ", "Spaced heading"), ("¶", ""),
    ])
    func permalinkMarkers(raw: String, cleaned: String) {
        #expect(HeadingText.cleaned(raw) == cleaned)
    }

    @Test("markers are stripped wherever heading text is stored or embedded: paths, embedding text, kept lines")
    func markersStrippedEverywhere() {
        let texts: [Text] = [
            .init(label: .sectionHeader, text: "DNS #", level: 1),
            .init(label: .sectionHeader, text: "Class: dns.Resolver #", level: 2),
            .init(label: .sectionHeader, text: "Resolver([options])¶", level: 3),
            .init(label: .sectionHeader, text: "Lists in C#", level: 3),
            .init(label: .text, text: "Create a new resolver."),
        ]
        let chunks = chunker().chunks(for: document(texts.indices.map { .text($0) }, texts: texts))
        #expect(summary(chunks) == ["DNS > Class: dns.Resolver > Lists in C# | Resolver([options])\n\nCreate a new resolver."])
        #expect(chunks[0].embeddingText == "DNS\nClass: dns.Resolver\nLists in C#\nResolver([options])\n\nCreate a new resolver.")

        let markdown = chunker().chunks(forMarkdown: "# DNS #\n## Class: dns.Resolver #\n### Resolver([options])¶\n### C#\nCreate a new resolver.\n")
        #expect(summary(markdown) == ["DNS > Class: dns.Resolver > C# | Resolver([options])\n\nCreate a new resolver."])
    }

    @Test("a sheet's name heads its content but is not kept as a line when the sheet is empty")
    func emptySheet() {
        let texts: [Text] = [.init(label: .text, text: "42", pages: [1])]
        let groups: [DoclingDocument.Group] = [
            .init(children: [.text(0)], label: "sheet", name: "Budget"),
            .init(children: [], label: "sheet", name: "Empty"),
        ]
        let doc = DoclingDocument(name: "t", body: .init(children: [.group(0), .group(1)]), texts: texts, groups: groups, pageCount: 2)
        #expect(summary(chunker().chunks(for: doc)) == ["Budget | 42"])
    }
}
