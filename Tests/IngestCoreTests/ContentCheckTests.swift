import Foundation
import IngestCore
import IngestKit
import Testing

/// The plain-words verdicts on files whose Docling message would mislead (issue: a new user's
/// first hour).
@Suite struct ContentCheckTests {
    private func verdict(_ bytes: [UInt8], _ name: String) -> IngestError? {
        do {
            try ContentCheck.check(Data(bytes), filename: name, display: name)
            return nil
        } catch let error as IngestError {
            return error
        } catch {
            Issue.record("unexpected \(error)")
            return nil
        }
    }

    @Test(arguments: ["empty.md", "empty.pdf", "empty.pptx", "empty.docx", "empty.html"])
    func anEmptyFileIsSaidToBeEmpty(name: String) {
        let error = verdict([], name)
        #expect(error?.reason == .emptyDocument)
        #expect(error?.message == "\(name) is empty (0 bytes): there is nothing to ingest")
        #expect(error?.message.contains("OCR") == false)
    }

    @Test func aWhitespaceOnlyMarkdownFileHasNoText() {
        let error = verdict(Array(" \n\t\n".utf8), "notes.md")
        #expect(error?.reason == .emptyDocument)
        #expect(error?.message.contains("only whitespace") == true)
    }

    @Test func aBinaryRenamedPDFIsNotAPDF() {
        let error = verdict([0x7F, 0x45, 0x4C, 0x46, 0x02, 0x01, 0x01, 0x00], "report.pdf")
        #expect(error?.reason == .parseFailed)
        #expect(error?.message == "report.pdf is named .pdf but is not a PDF (it is an ELF executable); check the file, or give it the extension of its real type")
        #expect(error?.message.contains("convert it to PDF") == false)
    }

    @Test func unknownBytesAreShownInHex() {
        let error = verdict([0x00, 0x01, 0x02, 0x03], "x.pdf")
        #expect(error?.message.contains("it starts with the bytes 00 01 02 03") == true)
    }

    @Test func aTextFileNamedDocxIsNotAWordDocument() {
        let error = verdict(Array("hello".utf8), "letter.docx")
        #expect(error?.message == "letter.docx is named .docx but is not a Word document (those are ZIP archives; this one it starts as plain text); check the file, or give it the extension of its real type")
    }

    @Test func realHeadersPass() {
        #expect(verdict(Array("%PDF-1.7\n".utf8), "a.pdf") == nil)
        #expect(verdict(Array("\n\n%PDF-1.4\n".utf8), "a.pdf") == nil)
        #expect(verdict([0x50, 0x4B, 0x03, 0x04, 0x14, 0x00], "a.pptx") == nil)
        #expect(verdict(Array("# Title\n".utf8), "a.md") == nil)
        #expect(verdict([0x89, 0x50, 0x4E, 0x47], "a.png") == nil)
    }
}

/// The end of a run names the files that need attention (failed, skipped, pruned).
@Suite struct RunReportNamesTests {
    private func outcome(_ source: String, _ status: DocumentOutcome.Status, reason: IngestError.Reason? = nil, message: String = "") -> DocumentOutcome {
        var o = DocumentOutcome(source: source, status: status)
        if let reason { o.error = .init(reason: reason, message: message) }
        return o
    }

    @Test func failedSkippedAndPrunedAreNamedWithTheirReasons() {
        var report = RunReport()
        report.add(outcome("/d/a.pdf", .indexed))
        report.add(outcome("/d/b.docx", .failed, reason: .parseFailed, message: "b.docx is damaged"))
        report.add(outcome("/d/c.exe", .skipped, reason: .unsupportedFormat, message: "Docling does not convert .exe files"))
        report.pruned = [.init(source: "/d/gone.md", chunks: 4)]
        #expect(report.namedEntries() == [
            "failed:  /d/b.docx: parse_failed: b.docx is damaged",
            "skipped: /d/c.exe: Docling does not convert .exe files",
            "pruned:  /d/gone.md (4 chunks deleted: the file is gone)",
        ])
        #expect(report.namedEntries(failures: false).count == 2)
    }

    @Test func longListsAreCut() {
        var report = RunReport()
        for i in 0..<5 { report.add(outcome("/d/\(i).bin", .skipped, reason: .unsupportedFormat, message: "no")) }
        let lines = report.namedEntries(limit: 2)
        #expect(lines.count == 3)
        #expect(lines.last == "… and 3 more skipped (the --report file lists them all)")
    }
}
