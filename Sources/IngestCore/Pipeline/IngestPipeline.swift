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
///    left with zero chunks. The lease is released after the swap (or the failure).
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

    package func checkDependencies() async -> [DependencyStatus] {
        async let docling = status("docling", endpoints.docling) { try await converter.checkHealth() }
        async let search = status("opensearch", endpoints.opensearch) { try await index.checkHealth() }
        // The embedder is not probed here: a probe is an embedding call, and health checks run
        // every few seconds. Its failures show in the documents that need it.
        let embeddings = DependencyStatus(name: "embeddings", url: endpoints.embeddings, ok: true, message: "not probed (checked on first use; `ingest doctor` probes it)")
        return await [docling, search, embeddings]
    }

    /// Probes the embeddings endpoint too (one embedding call): for `ingest doctor`.
    package func checkEmbedder() async -> DependencyStatus {
        await status("embeddings", endpoints.embeddings) {
            let dimension = try await embedder.probeDimension()
            return "model \(embedder.model), \(dimension) dimensions"
        }
    }

    private func status(_ name: String, _ url: String, _ check: () async throws -> Void) async -> DependencyStatus {
        await status(name, url) { try await check(); return "ok" }
    }

    private func status(_ name: String, _ url: String, _ check: () async throws -> String) async -> DependencyStatus {
        do {
            return DependencyStatus(name: name, url: url, ok: true, message: try await check())
        } catch let error as IngestError {
            return DependencyStatus(name: name, url: url, ok: false, message: error.description)
        } catch {
            return DependencyStatus(name: name, url: url, ok: false, message: redactingCredentials("\(error)"))
        }
    }

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
            return try await withSourceLease(index: indexName, source: document.source) {
                try await ingestHoldingLease(document, request: request, identity: id, indexName: indexName, base: failed, progress: &progress)
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
    private func ingestHoldingLease(_ document: SourceDocument, request: IngestRequest, identity id: DocumentIdentity, indexName: String, base: DocumentOutcome, progress: inout Progress) async throws -> DocumentOutcome {
        // 2. unchanged? Again under the lease: the holder we waited for may have written it.
        let stored = try await index.storedSource(index: indexName, source: document.source)
        if let current = stored.generations.first(where: { $0.generation == id.generation }), current.isComplete {
            if stored.generations.count > 1 {
                // A previous run wrote this generation but died before the swap: finish it.
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
        try await write(records(embedded, identity: id, document: document, converted: converted, request: request), index: indexName, dimension: embedded.dimension)
        try await swap(index: indexName, source: document.source, keep: id.generation)
        progress.timings.index = (clock.now - start).seconds

        var outcome = progress.applied(to: base.with(status: .indexed, chunks: embedded.chunks.count))
        outcome.timings = progress.timings
        return outcome
    }

    // MARK: - Stages (also what `--preview` runs)

    /// 3. convert: Docling, with the merged options.
    package func convert(_ document: SourceDocument, request: IngestRequest) async throws -> ConvertedDocument {
        // An empty file, or one that is not what its name says, in plain words rather than
        // in the terms of whichever Docling backend would have choked on it.
        try ContentCheck.check(document.bytes, filename: document.filename, display: document.filename)
        StageProgress.report(.converting)
        return try await converter.convert(document, options: mergedDoclingOptions(request))
    }

    /// Docling's remarks on a conversion, as report warnings.
    package static func warnings(of converted: ConvertedDocument) -> [IngestWarning] {
        let partial: [IngestWarning] = converted.status == .partialSuccess ? [.partialConversion] : []
        return partial + converted.warnings.map(IngestWarning.docling)
    }

    /// Chunks with their vectors.
    struct EmbeddedChunks {
        var chunks: [Chunk]
        var vectors: [[Float]]
        var dimension: Int
    }

    /// 4. chunk and 5. embed: re-chunks smaller when the service refuses a chunk as too long
    /// (saying so in `warnings`); adds the seconds spent to `timings`.
    /// - Throws: `empty_document` when there is nothing to index; `embed_*` from the embedder.
    func chunkAndEmbed(_ converted: ConvertedDocument, document: SourceDocument, maxTokens: Int, timings: inout DocumentOutcome.Timings, warnings: inout [IngestWarning]) async throws -> EmbeddedChunks {
        let clock = ContinuousClock()
        var budget = maxTokens
        var attempt = 0
        while true {
            var start = clock.now
            StageProgress.report(.chunking)
            let chunks = Self.chunk(converted, tokenizer: tokenizer, maxTokens: budget)
            timings.chunk += (clock.now - start).seconds
            guard !chunks.isEmpty else {
                throw IngestError(.emptyDocument, "\(document.filename): Docling found no text to index" + (ContentCheck.mayNeedOCR(document.filename)
                    ? " (a scanned PDF or an image needs OCR: set do_ocr=true in DOCLING_CONVERT_OPTIONS where the OCR models are installed)"
                    : "; the file holds nothing Docling reads as text"))
            }
            start = clock.now
            let vectors: [[Float]]
            do {
                StageProgress.report(.embedding(done: 0, total: chunks.count))
                vectors = try await embedder.embed(chunks.map(\.embeddingText))
                timings.embed += (clock.now - start).seconds
            } catch let error as IngestError where error.reason == .embedRejected && attempt < Self.maxResplits && budget > Self.minResplitBudget {
                // The service's window is smaller than our count says (another tokenizer, or
                // a smaller model): re-chunk below the refused chunk's size and try again.
                timings.embed += (clock.now - start).seconds
                attempt += 1
                let refused = error.itemIndex.flatMap { chunks.indices.contains($0) ? chunks[$0].tokenCount : nil } ?? budget
                let smaller = max(Self.minResplitBudget, min(budget, refused) * 3 / 4)
                warnings.append(.rechunked(refusedAt: budget, retriedAt: smaller))
                budget = smaller
                continue
            }
            guard vectors.count == chunks.count, let dimension = vectors.first?.count, dimension > 0 else {
                throw IngestError(.embedFailed, "the embeddings service returned \(vectors.count) vectors for \(chunks.count) chunks")
            }
            return EmbeddedChunks(chunks: chunks, vectors: vectors, dimension: dimension)
        }
    }

    /// 6. write: check the dimension before anything is written, then write everything.
    /// Checked for every document, not cached per run: if OpenSearch restarts (or the index is
    /// deleted) mid-batch, a `_bulk` to a missing index would auto-create it with dynamic
    /// mappings (the vector as a plain float array); one `GET _mapping` per document recreates
    /// it properly instead.
    func write(_ records: [ChunkRecord], index indexName: String, dimension: Int) async throws {
        StageProgress.report(.writing)
        try await index.prepare(index: indexName, space: space, dimension: dimension)
        try await index.write(index: indexName, records: records, refresh: true)
    }

    /// 7. swap: delete the source's chunks of every other generation.
    func swap(index indexName: String, source: String, keep generation: String) async throws {
        _ = try await index.deleteChunks(index: indexName, source: source, keepGeneration: generation)
    }

    // MARK: - Per-source lease

    /// Runs `body` holding the per-source lease in OpenSearch, so two processes ingesting two
    /// versions of one source cannot interleave (A writes gen1, B writes gen2, A deletes gen2,
    /// B deletes gen1: zero chunks). Waits for a lease held elsewhere, polling every 0.2–1 s, up
    /// to INGEST_LEASE_WAIT_SECONDS and never past cancellation. Releases it on every path; a
    /// release that fails (OpenSearch gone, the task cancelled) is left to the TTL, or to the
    /// next acquisition in this process, which sees the acquisition finished and takes it over.
    package func withSourceLease<T: Sendable>(index indexName: String, source: String, _ body: () async throws -> T) async throws -> T {
        let owner = LeaseOwner.next()
        defer { owner.finished() }
        try await waitForLease(index: indexName, source: source, owner: owner)
        let result: T
        do {
            result = try await body()
        } catch {
            await releaseLease(index: indexName, source: source, owner: owner)
            throw error
        }
        await releaseLease(index: indexName, source: source, owner: owner)
        return result
    }

    private func waitForLease(index indexName: String, source: String, owner: LeaseOwner) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + settings.leaseWait
        var delay = Duration.milliseconds(200)
        var logged = false
        while true {
            if try await index.acquireLease(index: indexName, source: source, owner: owner, ttl: settings.leaseTTL) { return }
            let left = deadline - clock.now
            guard left > .zero else {
                throw IngestError(.leaseTimeout, "another process kept ingesting \(redactingCredentials(source)) into index '\(indexName)' for more than INGEST_LEASE_WAIT_SECONDS (\(Int(settings.leaseWait.seconds)) s); run it again once that process is done, or raise INGEST_LEASE_WAIT_SECONDS (a lease left by a process that hung expires after INGEST_LEASE_TTL_SECONDS)")
            }
            if !logged {
                logger.info("waiting for another process to finish this source", metadata: ["source": "\(redactingCredentials(source))", "index": "\(indexName)"])
                logged = true
            }
            try await Task.sleep(for: min(delay, left))
            delay = min(.seconds(1), delay * 2)
        }
    }

    private func releaseLease(index indexName: String, source: String, owner: LeaseOwner) async {
        do {
            try await index.releaseLease(index: indexName, source: source, owner: owner)
        } catch {
            logger.warning("could not release the lease; it expires after INGEST_LEASE_TTL_SECONDS", metadata: ["source": "\(redactingCredentials(source))", "error": "\(error)"])
        }
    }

    /// Chunks a converted document: the DoclingDocument's structure first, its Markdown export
    /// when the structure holds no text.
    package static func chunk(_ converted: ConvertedDocument, tokenizer: any Tokenizer, maxTokens: Int) -> [Chunk] {
        let chunker = DocumentChunker(tokenizer: tokenizer, options: ChunkerOptions(maxTokens: maxTokens))
        let chunks = chunker.chunks(for: converted.document)
        if chunks.isEmpty, let markdown = converted.markdown, !markdown.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            return chunker.chunks(forMarkdown: markdown)
        }
        return chunks
    }

    /// One record per chunk (README, "Index schema"); the index names and encodes the fields.
    func records(_ embedded: EmbeddedChunks, identity: DocumentIdentity, document: SourceDocument, converted: ConvertedDocument, request: IngestRequest) -> [ChunkRecord] {
        let now = ISO8601DateFormatter().string(from: Date())
        let mimetype = document.mimetype ?? converted.document.mimetype ?? MimeTypes.forFilename(document.filename)
        let count = embedded.chunks.count
        return zip(embedded.chunks, embedded.vectors).map { chunk, vector in
            ChunkRecord(
                id: identity.chunkID(chunk.chunkIndex), text: chunk.text, chunkIndex: chunk.chunkIndex, chunkCount: count,
                headings: chunk.headings, pages: chunk.pages, source: identity.source, documentID: identity.documentID,
                generation: identity.generation, filename: document.filename, mimetype: mimetype, fileSize: document.bytes.count,
                indexedTime: now, owner: request.owner ?? settings.owner, ownerName: request.ownerName, ownerEmail: request.ownerEmail,
                connectorType: request.connectorType, embeddingModel: embedder.model,
                embeddingProvider: settings.embeddingProvider, vector: vector
            )
        }
    }

    // MARK: - Preview

    /// Converts and chunks only (no embeddings, no OpenSearch): `--preview`, through the same
    /// convert stage and chunker as an ingest.
    package func preview(_ document: SourceDocument, request: IngestRequest) async throws -> (DocumentIdentity, [Chunk], ConvertedDocument) {
        let id = identity(for: document, request: request)
        let converted = try await convert(document, request: request)
        let chunks = Self.chunk(converted, tokenizer: tokenizer, maxTokens: maxTokens(for: request))
        return (id, chunks, converted)
    }
}
