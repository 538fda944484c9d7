import Foundation
import IngestChunking
import IngestDocling
import IngestKit
import IngestTokenizer
import Logging

/// The one code path from a document to searchable chunks, shared by the CLI and the worker:
///
/// 1. read: resolve the input (path under the allowed roots, guarded URL, inline bytes),
///    hash the bytes (`document_id`) and derive the `generation`;
/// 2. skip: a source whose stored chunks carry this generation and are all there is `unchanged`
///    (no Docling call, no embedding call); otherwise take the source's lease (waiting while
///    another process ingests the same source) and check again under it;
/// 3. convert (Docling) → 4. chunk → 5. embed → 6. index (`_bulk`, last request `refresh=wait_for`);
///    before the first document of the process is converted, the embedder is checked once
///    (``EmbedderProbe``), so an unreachable one stops a batch before any conversion;
/// 7. swap: delete the source's chunks of other generations, so exactly one generation remains.
///    The new generation is written completely before the old one goes: a document is never
///    left with zero chunks. Right before 6 and before 7 the lease is renewed and must have the
///    swap's timeout plus a clock-skew margin left (else `lease_lost`); ``LeaseKeeper`` renews it
///    every TTL/3 meanwhile and releases it after the swap (or the failure, or cancellation).
///
/// The stages live in `IngestPipeline+Stages.swift`, loading in `+Loading`, the lease wait in
/// `+Lease`, dependency checks in `+Health`, `--preview` in `+Preview`.
package struct IngestPipeline: DocumentIngesting {
    package var converter: any DocumentConverter
    package var embedder: any Embedder
    package var index: any ChunkIndex
    package var tokenizer: any Tokenizer
    package var settings: PipelineSettings
    package var fetcher: URLFetcher?
    package var logger: Logger
    /// Names shown in `checkDependencies` (URLs already redacted).
    package var endpoints: Endpoints
    /// The one pre-flight check of the embedder, shared by every document of this process.
    package var embedderProbe: EmbedderProbe
    /// Renews and releases this process's per-source leases; the runtime runs it.
    package var leases: LeaseKeeper

    /// Where the services live, for messages and health details.
    package struct Endpoints: Sendable {
        package var docling: String
        package var embeddings: String
        package var opensearch: String
        package init(docling: String, embeddings: String, opensearch: String) {
            self.docling = docling; self.embeddings = embeddings; self.opensearch = opensearch
        }
    }

    /// - Parameter embedderProbe: the pre-flight check; by default one probe of `embedder` that
    ///   judges reachability only (``Runtime`` passes one that also checks the model's dimension).
    package init(converter: any DocumentConverter, embedder: any Embedder, index: any ChunkIndex, tokenizer: any Tokenizer, settings: PipelineSettings, fetcher: URLFetcher? = nil, endpoints: Endpoints, embedderProbe: EmbedderProbe? = nil, logger: Logger) {
        self.embedderProbe = embedderProbe ?? EmbedderProbe(model: nil, requestedDimensions: nil, endpoint: endpoints.embeddings) { [embedder] in
            try await embedder.preflightDimension()
        }
        self.converter = converter
        self.embedder = embedder
        self.index = index
        self.tokenizer = tokenizer
        self.settings = settings
        self.fetcher = fetcher
        self.endpoints = endpoints
        self.logger = logger
        self.leases = LeaseKeeper(index: index, timing: settings.leaseTiming, logger: logger)
    }

    /// Re-chunking rounds after the embeddings service refuses a chunk as too long, and the
    /// smallest budget tried: past these the document fails with `embed_rejected`.
    static let maxResplits = 4
    static let minResplitBudget = 16

    // MARK: - DocumentIngesting

    package func ingest(_ request: IngestRequest) async throws -> DocumentOutcome {
        let document = try await load(request)
        return await ingest(document, request: request)
    }

    // MARK: - The pipeline for one loaded document

    package func identity(for document: SourceDocument, request: IngestRequest) -> DocumentIdentity {
        DocumentIdentity(source: document.source, documentID: SHA256.hex(document.bytes), settings: generationSettings(for: request))
    }

    package func generationSettings(for request: IngestRequest) -> GenerationSettings {
        GenerationSettings(
            tokenizer: tokenizer.name,
            maxTokens: maxTokens(for: request),
            doclingOptions: mergedDoclingOptions(request),
            embeddingModel: embedder.model,
            embeddingProvider: settings.embeddingProvider
        )
    }

    /// DOCLING_CONVERT_OPTIONS under the request's options (the request wins): the one merge,
    /// used for the generation and sent to Docling as is.
    package func mergedDoclingOptions(_ request: IngestRequest) -> [String: JSONValue] {
        settings.doclingOptions.merging(request.doclingOptions) { _, requestValue in requestValue }
    }

    func maxTokens(for request: IngestRequest) -> Int { request.maxTokens ?? settings.maxTokens }

    /// Where this process files its vectors: the embedder's model under EMBEDDING_PROVIDER.
    package var space: EmbeddingSpace { EmbeddingSpace(model: embedder.model, provider: settings.embeddingProvider) }

    /// Ingests a document already read: never throws, every failure is a `failed` (or `skipped`)
    /// outcome with its reason.
    package func ingest(_ document: SourceDocument, request: IngestRequest) async -> DocumentOutcome {
        let indexName = request.index ?? settings.index
        let id = identity(for: document, request: request)
        let failed = DocumentOutcome(source: document.source, documentID: id.documentID, filename: document.filename, status: .failed, index: indexName)
        var progress = Progress()
        do {
            if let requested = request.index {
                try IndexName.check(requested, setting: "the request's index", reason: .invalidInput)
            }
            if let budget = request.maxTokens, let error = KnownEmbeddingModel.named(embedder.model)?.windowError(maxTokens: budget, setting: "options.max_tokens", reason: .invalidInput) {
                throw error
            }
            // 2. unchanged? Answered without the lease when nothing needs writing: a read.
            let stored = try await index.storedSource(index: indexName, source: document.source)
            if let current = stored.generations.first(where: { $0.generation == id.generation }), current.isComplete, stored.generations.count == 1 {
                return failed.with(status: .unchanged, chunks: current.chunkCount)
            }
            return try await withSourceLease(index: indexName, source: document.source) { lease in
                try await ingestHoldingLease(document, request: request, identity: id, lease: lease, base: failed, progress: &progress)
            }
        } catch let error as IngestError {
            var outcome = progress.applied(to: failed)
            outcome.timings = progress.timings
            outcome.error = .init(error)
            if error.reason == .unsupportedFormat { outcome.status = .skipped }
            return outcome
        } catch is CancellationError {
            var outcome = progress.applied(to: failed)
            outcome.error = .init(reason: .cancelled, message: "\(document.filename): interrupted before it finished")
            return outcome
        } catch {
            // Every client wraps its library's errors in IngestError; anything else is a bug,
            // logged in full and named by type only (its text can be a library's nested dump).
            logger.error("unexpected error while ingesting", metadata: ["source": "\(redactingCredentials(document.source))", "error": "\(redactingCredentials(String(describing: error)))"])
            var outcome = progress.applied(to: failed)
            outcome.error = .init(reason: .internalError, message: "\(document.filename): an unexpected \(type(of: error)) stopped the ingest (a bug in ingest; the log has the details, please report it)")
            return outcome
        }
    }

    /// What the stages learned so far, for the outcome of a document that fails later on.
    struct Progress {
        var timings = DocumentOutcome.Timings()
        var pages: Int?
        var warnings: [IngestWarning] = []

        func applied(to outcome: DocumentOutcome) -> DocumentOutcome {
            var outcome = outcome
            outcome.pages = pages
            outcome.warnings = warnings
            return outcome
        }
    }

    /// Steps 2–7 with the source's lease held: nobody else writes or swaps this source meanwhile.
    /// `progress` is filled as stages finish, so a failure still reports what was learned.
    private func ingestHoldingLease(_ document: SourceDocument, request: IngestRequest, identity id: DocumentIdentity, lease: SourceLease, base: DocumentOutcome, progress: inout Progress) async throws -> DocumentOutcome {
        let indexName = lease.index
        // 2. unchanged? Again under the lease: the holder we waited for may have written it.
        let stored = try await index.storedSource(index: indexName, source: document.source)
        if let current = stored.generations.first(where: { $0.generation == id.generation }), current.isComplete {
            if stored.generations.count > 1 {
                // A previous run wrote this generation but died before the swap: finish it.
                try await leases.confirm(lease, before: "the swap")
                try await swap(index: indexName, source: document.source, keep: id.generation)
            }
            return base.with(status: .unchanged, chunks: current.chunkCount)
        }
        // This document needs embeddings: make sure the embedder can give them before Docling works.
        try await embedderProbe.ensureReady()
        let clock = ContinuousClock()
        var start = clock.now
        let converted = try await convert(document, request: request)
        progress.timings.convert = (clock.now - start).seconds
        progress.pages = converted.document.pageCount
        progress.warnings = Self.warnings(of: converted)
        let embedded = try await chunkAndEmbed(converted, document: document, maxTokens: maxTokens(for: request), timings: &progress.timings, warnings: &progress.warnings)
        start = clock.now
        try await leases.confirm(lease, before: "the write")
        try await write(records(embedded, identity: id, document: document, converted: converted, request: request), index: indexName, dimension: embedded.dimension)
        try await leases.confirm(lease, before: "the swap")
        try await swap(index: indexName, source: document.source, keep: id.generation)
        progress.timings.index = (clock.now - start).seconds

        var outcome = progress.applied(to: base.with(status: .indexed, chunks: embedded.chunks.count))
        outcome.timings = progress.timings
        return outcome
    }

}
