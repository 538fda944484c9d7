import Foundation
import IngestChunking
import IngestDocling
import IngestKit

/// One document of a batch: read it, then preview or ingest it. Failures become outcomes.
extension BatchRunner {
    /// One document: read, then preview or ingest. Never throws: failures become outcomes.
    func process(_ entry: FileWalker.Entry, options: BatchOptions) async -> (DocumentOutcome, PreviewLines?) {
        let canonical = PathRules.canonical(entry.path)
        if !entry.explicit && !MimeTypes.isConvertible(entry.path) {
            let ext = (entry.path as NSString).pathExtension
            return (DocumentOutcome(source: canonical, filename: (entry.path as NSString).lastPathComponent, status: .skipped,
                                    error: .init(reason: .unsupportedFormat,
                                                 message: "\(entry.path): Docling does not convert .\(ext.isEmpty ? "(no extension)" : ext) files")), nil)
        }
        var request = options.request
        request.input = .path(entry.path)
        let loaded: SourceDocument
        do {
            loaded = try await pipeline.load(request)
        } catch let error as IngestError {
            return (DocumentOutcome(source: canonical, filename: (entry.path as NSString).lastPathComponent, status: .failed, error: .init(error)), nil)
        } catch {
            return (DocumentOutcome(source: canonical, status: .failed, error: .init(reason: .internalError, message: "\(error)")), nil)
        }
        if options.previewPath != nil {
            return await previewOne(loaded, request: request, explicit: entry.explicit)
        }
        var outcome = await pipeline.ingest(loaded, request: request)
        if outcome.status == .skipped && entry.explicit {
            // A file named explicitly that cannot be converted is a failure, not a skip.
            outcome.status = .failed
        }
        return (outcome, nil)
    }

    func previewOne(_ loaded: SourceDocument, request: IngestRequest, explicit: Bool) async -> (DocumentOutcome, PreviewLines?) {
        do {
            let (id, chunks, converted) = try await pipeline.preview(loaded, request: request)
            var outcome = DocumentOutcome(source: loaded.source, documentID: id.documentID, filename: loaded.filename, status: .indexed, chunks: chunks.count, pages: converted.document.pageCount, warnings: IngestPipeline.warnings(of: converted))
            if chunks.isEmpty {
                outcome.status = .failed
                outcome.error = .init(reason: .emptyDocument, message: "\(loaded.filename): no text to index")
            }
            return (outcome, PreviewLines(identity: id, chunks: chunks))
        } catch let error as IngestError {
            let status: DocumentOutcome.Status = (error.reason == .unsupportedFormat && !explicit) ? .skipped : .failed
            return (DocumentOutcome(source: loaded.source, filename: loaded.filename, status: status, error: .init(error)), nil)
        } catch {
            return (DocumentOutcome(source: loaded.source, filename: loaded.filename, status: .failed, error: .init(reason: .internalError, message: "\(error)")), nil)
        }
    }
}
