import Foundation
import IngestKit

/// Where a document comes from.
package enum DocumentInput: Sendable, Equatable {
    /// A local file (must lie under the configured roots when it comes from the worker).
    case path(String)
    /// An http(s) URL, fetched under the URL guard (no loopback/private addresses unless allowed).
    case url(String)
    /// Inline bytes (base64 input or a Stepflow blob), with the name that tells Docling the type;
    /// empty while it is not known yet (a step's `filename` may still supply it, else loading fails).
    case inline(filename: String, bytes: Data)

    /// Inline content (base64 or a blob), whose identity is chosen rather than found.
    package var isInline: Bool {
        if case .inline = self { return true }
        return false
    }

    /// The identity of inline content: `upload:<owner>/<key>`, the key being the caller's
    /// `source_key` or else the file name, and the owner `anonymous` when none is given.
    ///
    /// Uploads live in a namespace no path (absolute) or URL (`http…`) identity can enter, and the
    /// owner is escaped (`%` as `%25`, `/` as `%2F`) so that no owner and key can spell another
    /// owner's identity (owner `a/b` + `c.md` ≠ owner `a` + `b/c.md`). Owners without either
    /// character keep the names they had.
    package static func uploadIdentity(owner: String?, key: String) -> String {
        let owner = owner.flatMap { $0.isEmpty ? nil : $0 } ?? "anonymous"
        let escaped = owner.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "/", with: "%2F")
        return "upload:\(escaped)/\(key)"
    }
}

/// One document to ingest, with the per-request settings that override the configuration.
/// Both the CLI and the worker build these, so both run the same code path.
package struct IngestRequest: Sendable, Equatable {
    package var input: DocumentInput
    /// Overrides the file name (and, for inline content, names the source).
    package var filename: String?
    /// The key of inline content inside its owner's upload namespace (`source_key`, e.g. a
    /// connector's document id); nil keys it by file name. See
    /// ``DocumentInput/uploadIdentity(owner:key:)``. Paths and URLs are their own identity.
    package var source: String?
    package var index: String?
    package var owner: String?
    package var ownerName: String?
    package var ownerEmail: String?
    package var connectorType: String?
    package var mimetype: String?
    package var maxTokens: Int?
    /// Docling options merged over DOCLING_CONVERT_OPTIONS (request wins).
    package var doclingOptions: [String: JSONValue]

    package init(input: DocumentInput, filename: String? = nil, source: String? = nil, index: String? = nil, owner: String? = nil, ownerName: String? = nil, ownerEmail: String? = nil, connectorType: String? = nil, mimetype: String? = nil, maxTokens: Int? = nil, doclingOptions: [String: JSONValue] = [:]) {
        self.input = input
        self.filename = filename
        self.source = source
        self.index = index
        self.owner = owner
        self.ownerName = ownerName
        self.ownerEmail = ownerEmail
        self.connectorType = connectorType
        self.mimetype = mimetype
        self.maxTokens = maxTokens
        self.doclingOptions = doclingOptions
    }
}

/// How one document ended. Encoded as the worker's output and as a report entry.
package struct DocumentOutcome: Sendable, Codable, Equatable {
    package enum Status: String, Sendable, Codable { case indexed, unchanged, skipped, failed }

    /// Why the document failed: the reason stays typed until it is rendered (report, reply).
    package struct Failure: Sendable, Codable, Equatable {
        package var reason: IngestError.Reason
        package var message: String
        /// The failure stops a batch (``IngestError/isRunFatal``); not part of the report.
        package var stopsRun = false
        package init(reason: IngestError.Reason, message: String) { self.reason = reason; self.message = message }
        package init(_ error: IngestError) {
            self.init(reason: error.reason, message: error.message)
            stopsRun = error.isRunFatal
        }
        enum CodingKeys: String, CodingKey { case reason, message }
    }

    /// Seconds per stage.
    package struct Timings: Sendable, Codable, Equatable {
        package var convert: Double = 0
        package var chunk: Double = 0
        package var embed: Double = 0
        package var index: Double = 0
        package init(convert: Double = 0, chunk: Double = 0, embed: Double = 0, index: Double = 0) {
            self.convert = convert; self.chunk = chunk; self.embed = embed; self.index = index
        }
    }

    package var source: String
    package var documentID: String?
    package var filename: String?
    package var status: Status
    package var chunks: Int
    package var index: String?
    /// The document's page count, absent when the format has none.
    package var pages: Int?
    package var warnings: [IngestWarning]
    package var timings: Timings?
    package var error: Failure?

    package init(source: String, documentID: String? = nil, filename: String? = nil, status: Status, chunks: Int = 0, index: String? = nil, pages: Int? = nil, warnings: [IngestWarning] = [], timings: Timings? = nil, error: Failure? = nil) {
        self.source = source
        self.documentID = documentID
        self.filename = filename
        self.status = status
        self.chunks = chunks
        self.index = index
        self.pages = pages
        self.warnings = warnings
        self.timings = timings
        self.error = error
    }

    enum CodingKeys: String, CodingKey {
        case source, documentID = "document_id", filename, status, chunks, index, pages, warnings, timings, error
    }

    /// A copy with another status and chunk count.
    package func with(status: Status, chunks: Int) -> DocumentOutcome {
        var copy = self
        copy.status = status
        copy.chunks = chunks
        return copy
    }
}

/// Runs the pipeline for one document. The worker's `/ingest` component and the CLI both go
/// through this; the server tests use a fake.
package protocol DocumentIngesting: Sendable {
    /// Ingests one document. Never throws for per-document problems: those come back as a
    /// `failed` outcome with a reason. Throws ``IngestError`` only for problems with the request
    /// itself that a caller must report as such (invalid input, path outside the allowed roots).
    func ingest(_ request: IngestRequest) async throws -> DocumentOutcome

    /// Checks every dependency; one line per service, for `/health` details and `ingest doctor`.
    func checkDependencies() async -> [DependencyStatus]
}

/// The state of one external service.
package struct DependencyStatus: Sendable, Codable, Equatable {
    package var name: String
    package var url: String
    package var ok: Bool
    package var message: String
    package init(name: String, url: String, ok: Bool, message: String) {
        self.name = name; self.url = url; self.ok = ok; self.message = message
    }
}
