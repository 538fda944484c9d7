import Foundation
import IngestCore
import Testing

/// Warnings are typed in the code and bare strings on the wire, worded as before they had a type.
@Suite struct IngestWarningTests {
    @Test func eachKindKeepsItsWording() {
        #expect(IngestWarning.partialConversion.message == "docling converted the document only partially (partial_success)")
        #expect(IngestWarning.docling("Page 3 could not be parsed").message == "docling: Page 3 could not be parsed")
        #expect(IngestWarning.rechunked(refusedAt: 512, retriedAt: 384).message == "the embeddings service refused a chunk as too long at 512 tokens; re-chunked at 384")
    }

    @Test func anOutcomeCarriesThemAsStrings() throws {
        let outcome = DocumentOutcome(source: "a.pdf", status: .indexed, warnings: [.partialConversion, .docling("x")])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(outcome), as: UTF8.self)
        #expect(json.contains(#""warnings":["docling converted the document only partially (partial_success)","docling: x"]"#))
        #expect(try JSONDecoder().decode(DocumentOutcome.self, from: Data(json.utf8)) == outcome)
    }
}
