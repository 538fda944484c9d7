import Foundation
import IngestDocling
import IngestKit

extension IngestPipeline {
    // MARK: - Loading

    /// Resolves the input to bytes and identity. Throws `IngestError` for bad requests and
    /// unreadable inputs (the caller turns the latter into a failed outcome).
    package func load(_ request: IngestRequest) async throws -> SourceDocument {
        if request.source != nil, !request.input.isInline {
            throw IngestError(.invalidInput, "\"source_key\" names uploaded content (base64 or a blob); a path or URL is its own identity, so leave source_key out")
        }
        switch request.input {
        case .path(let path):
            let (canonical, bytes) = try DocumentReader.read(path, roots: settings.allowedRoots, maxBytes: settings.maxFileBytes)
            let filename = request.filename ?? (canonical as NSString).lastPathComponent
            return SourceDocument(source: canonical, filename: filename, bytes: bytes, mimetype: request.mimetype)
        case .url(let url):
            guard let fetcher else {
                throw IngestError(.invalidInput, "URL sources are not enabled in this process: \(redactingCredentials(url))")
            }
            let fetched = try await fetcher.fetch(url, maxBytes: settings.maxFileBytes, allowHosts: settings.urlAllowHosts, timeout: settings.urlTimeout)
            let filename = request.filename ?? fetched.filename
            return SourceDocument(source: redactingCredentials(url), filename: filename, bytes: fetched.bytes, mimetype: request.mimetype ?? fetched.mimetype)
        case .inline(let filename, let bytes):
            let name = request.filename ?? filename
            guard !name.isEmpty else {
                throw IngestError(.invalidInput, "inline content needs a `filename` whose extension tells Docling its type (e.g. report.pdf)")
            }
            guard bytes.count <= settings.maxFileBytes else {
                throw IngestError(.tooLarge, "\(name) has \(bytes.count) bytes, over INGEST_MAX_FILE_BYTES (\(settings.maxFileBytes))")
            }
            return SourceDocument(source: DocumentInput.uploadIdentity(owner: request.owner, key: request.source ?? name), filename: name, bytes: bytes, mimetype: request.mimetype)
        }
    }
}
