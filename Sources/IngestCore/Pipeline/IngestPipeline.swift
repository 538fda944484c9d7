import Foundation
import IngestChunking
import IngestKit
import IngestOpenSearch
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

    /// Where the services live, for messages and health details.
    package struct Endpoints: Sendable {
        package var docling: String
        package var embeddings: String
        package var opensearch: String
        package init(docling: String, embeddings: String, opensearch: String) {
            self.docling = docling; self.embeddings = embeddings; self.opensearch = opensearch
        }
    }

    package init(converter: any DocumentConverter, embedder: any Embedder, index: any ChunkIndex, tokenizer: any Tokenizer, settings: PipelineSettings, fetcher: URLFetcher? = nil, endpoints: Endpoints, logger: Logger) {
        self.converter = converter
        self.embedder = embedder
        self.index = index
        self.tokenizer = tokenizer
        self.settings = settings
        self.fetcher = fetcher
        self.endpoints = endpoints
        self.logger = logger
    }

    package var vectorField: String { IndexNaming.vectorField(forModel: embedder.model) }

    /// Re-chunking rounds after the embeddings service refuses a chunk as too long, and the
    /// smallest budget tried: past these the document fails with `embed_rejected`.
    static let maxResplits = 4
    static let minResplitBudget = 16

    // MARK: - DocumentIngesting

    package func ingest(_ request: IngestRequest) async throws -> DocumentOutcome {
        let loaded = try await load(request)
        return await ingest(loaded, request: request)
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
    package func load(_ request: IngestRequest) async throws -> LoadedDocument {
        switch request.input {
        case .path(let path):
            let canonical = try PathRules.checkAllowed(path, roots: settings.allowedRoots)
            let bytes = try DocumentReader.read(canonical, displayPath: path, maxBytes: settings.maxFileBytes)
            let filename = request.filename ?? (canonical as NSString).lastPathComponent
            return LoadedDocument(source: canonical, filename: filename, bytes: bytes, mimetype: request.mimetype)
        case .url(let url):
            guard let fetcher else {
                throw IngestError(.invalidInput, "URL sources are not enabled in this process: \(redactingCredentials(url))")
            }
            let fetched = try await fetcher.fetch(url, maxBytes: settings.maxFileBytes, allowHosts: settings.urlAllowHosts, timeout: settings.urlTimeout)
            let filename = request.filename ?? fetched.filename
            return LoadedDocument(source: request.source ?? redactingCredentials(url), filename: filename, bytes: fetched.bytes, mimetype: request.mimetype ?? fetched.mimetype)
        case .inline(let filename, let bytes):
            let name = request.filename ?? filename
            guard !name.isEmpty else {
                throw IngestError(.invalidInput, "inline content needs a `filename` whose extension tells Docling its type (e.g. report.pdf)")
            }
            guard bytes.count <= settings.maxFileBytes else {
                throw IngestError(.tooLarge, "\(name) has \(bytes.count) bytes, over INGEST_MAX_FILE_BYTES (\(settings.maxFileBytes))")
            }
            return LoadedDocument(source: request.source ?? name, filename: name, bytes: bytes, mimetype: request.mimetype)
        }
    }

    // MARK: - The pipeline for one loaded document

    package func identity(for loaded: LoadedDocument, request: IngestRequest) -> DocumentIdentity {
        DocumentIdentity(source: loaded.source, documentID: SHA256.hex(loaded.bytes), settings: generationSettings(for: request))
    }

    package func generationSettings(for request: IngestRequest) -> GenerationSettings {
        GenerationSettings(
            tokenizer: tokenizer.name,
            maxTokens: request.maxTokens ?? settings.maxTokens,
            doclingOptions: mergedDoclingOptions(request),
            embeddingModel: embedder.model
        )
    }

    package func mergedDoclingOptions(_ request: IngestRequest) -> [String: JSONValue] {
        settings.doclingOptions.merging(request.doclingOptions) { _, requestValue in requestValue }
    }

    package func ingest(_ loaded: LoadedDocument, request: IngestRequest) async -> DocumentOutcome {
        let indexName = request.index ?? settings.index
        let id = identity(for: loaded, request: request)
        var outcome = DocumentOutcome(source: loaded.source, documentID: id.documentID, filename: loaded.filename, status: .failed, index: indexName)
        var timings = DocumentOutcome.Timings()
        do {
            try PipelineSettings.validateIndexName(indexName)
            // 2. unchanged? Answered without the lease when nothing needs writing: a read.
            let stored = try await index.storedSource(index: indexName, source: loaded.source)
            if let current = stored.generations.first(where: { $0.generation == id.generation }), current.isComplete, stored.generations.count == 1 {
                outcome.status = .unchanged
                outcome.chunks = current.chunkCount
                return outcome
            }
            return try await withSourceLease(index: indexName, source: loaded.source) {
                try await ingestHoldingLease(loaded, request: request, identity: id, indexName: indexName, outcome: &outcome, timings: &timings)
            }
        } catch let error as IngestError {
            outcome.timings = timings
            outcome.error = .init(reason: error.reason.rawValue, message: error.message)
            if error.reason == .unsupportedFormat { outcome.status = .skipped }
            return outcome
        } catch is CancellationError {
            outcome.error = .init(reason: IngestError.Reason.cancelled.rawValue, message: "\(loaded.filename): interrupted before it finished")
            return outcome
        } catch {
            outcome.error = .init(reason: IngestError.Reason.internalError.rawValue, message: redactingCredentials("\(loaded.filename): \(error)"))
            return outcome
        }
    }

    /// Steps 2–7 with the source's lease held: nobody else writes or swaps this source meanwhile.
    private func ingestHoldingLease(_ loaded: LoadedDocument, request: IngestRequest, identity id: DocumentIdentity, indexName: String, outcome: inout DocumentOutcome, timings: inout DocumentOutcome.Timings) async throws -> DocumentOutcome {
        let clock = ContinuousClock()
        do {
            // 2. unchanged? Again under the lease: the holder we waited for may have written it.
            let stored = try await index.storedSource(index: indexName, source: loaded.source)
            if let current = stored.generations.first(where: { $0.generation == id.generation }), current.isComplete {
                if stored.generations.count > 1 {
                    // A previous run wrote this generation but died before the swap: finish it.
                    _ = try await index.deleteChunks(index: indexName, source: loaded.source, keepGeneration: id.generation)
                }
                outcome.status = .unchanged
                outcome.chunks = current.chunkCount
                return outcome
            }

            // 3. convert
            var start = clock.now
            let converted = try await converter.convert(
                SourceDocument(source: loaded.source, filename: loaded.filename, bytes: loaded.bytes, mimetype: loaded.mimetype),
                options: mergedDoclingOptions(request))
            timings.convert = (clock.now - start).seconds
            outcome.warnings += converted.warnings.map { "docling: \($0)" }
            if converted.status == .partialSuccess {
                outcome.warnings.insert("docling converted the document only partially (partial_success)", at: 0)
            }
            outcome.pages = converted.document.pageCount

            // 4. chunk (5. embed: re-chunk smaller when the service refuses a chunk as too long)
            var budget = request.maxTokens ?? settings.maxTokens
            var chunks: [Chunk] = []
            var vectors: [[Float]] = []
            var attempt = 0
            while true {
                start = clock.now
                chunks = Self.chunk(converted, tokenizer: tokenizer, maxTokens: budget)
                timings.chunk += (clock.now - start).seconds
                guard !chunks.isEmpty else {
                    throw IngestError(.emptyDocument, "\(loaded.filename): Docling found no text to index (a scanned PDF needs OCR: set do_ocr=true in DOCLING_CONVERT_OPTIONS where the OCR models are installed)")
                }
                start = clock.now
                do {
                    vectors = try await embedder.embed(chunks.map(\.embeddingText))
                    timings.embed += (clock.now - start).seconds
                    break
                } catch let error as IngestError where error.reason == .embedRejected && attempt < Self.maxResplits && budget > Self.minResplitBudget {
                    // The service's window is smaller than our count says (another tokenizer, or
                    // a smaller model): re-chunk below the refused chunk's size and try again.
                    timings.embed += (clock.now - start).seconds
                    attempt += 1
                    let refused = error.itemIndex.flatMap { chunks.indices.contains($0) ? chunks[$0].tokenCount : nil } ?? budget
                    let smaller = max(Self.minResplitBudget, min(budget, refused) * 3 / 4)
                    outcome.warnings.append("the embeddings service refused a chunk as too long at \(budget) tokens; re-chunked at \(smaller)")
                    budget = smaller
                }
            }
            guard vectors.count == chunks.count, let dimension = vectors.first?.count, dimension > 0 else {
                throw IngestError(.embedFailed, "the embeddings service returned \(vectors.count) vectors for \(chunks.count) chunks")
            }

            // 6. index: check the dimension before anything is written, then write everything.
            // Checked for every document, not cached per run: if OpenSearch restarts (or the
            // index is deleted) mid-batch, a `_bulk` to a missing index would auto-create it with
            // dynamic mappings (the vector as a plain float array); one `GET _mapping` per
            // document recreates it properly instead.
            start = clock.now
            try await index.prepare(index: indexName, vectorField: vectorField, dimension: dimension)
            let documents = Self.indexDocuments(chunks: chunks, vectors: vectors, identity: id, loaded: loaded, converted: converted, request: request, settings: settings, model: embedder.model, vectorField: vectorField)
            try await index.write(index: indexName, documents: documents, refresh: true)
            // 7. swap
            _ = try await index.deleteChunks(index: indexName, source: loaded.source, keepGeneration: id.generation)
            timings.index = (clock.now - start).seconds

            outcome.status = .indexed
            outcome.chunks = chunks.count
            outcome.timings = timings
            return outcome
        }
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

    /// The `_source` of every chunk (README, "Index schema").
    package static func indexDocuments(chunks: [Chunk], vectors: [[Float]], identity: DocumentIdentity, loaded: LoadedDocument, converted: ConvertedDocument, request: IngestRequest, settings: PipelineSettings, model: String, vectorField: String) -> [IndexDocument] {
        let now = ISO8601DateFormatter().string(from: Date())
        let mimetype = loaded.mimetype ?? converted.document.mimetype ?? MimeTypes.forFilename(loaded.filename)
        let owner = request.owner ?? settings.owner
        var common: [String: JSONValue] = [
            ChunkField.embeddingModel: .string(model),
            ChunkField.filename: .string(loaded.filename),
            ChunkField.source: .string(identity.source),
            ChunkField.documentID: .string(identity.documentID),
            ChunkField.generation: .string(identity.generation),
            ChunkField.chunkCount: .int(chunks.count),
            ChunkField.fileSize: .int(loaded.bytes.count),
            ChunkField.indexedTime: .string(now),
        ]
        if let mimetype { common[ChunkField.mimetype] = .string(mimetype) }
        if let owner { common[ChunkField.owner] = .string(owner) }
        if let v = request.ownerName { common[ChunkField.ownerName] = .string(v) }
        if let v = request.ownerEmail { common[ChunkField.ownerEmail] = .string(v) }
        if let v = request.connectorType { common[ChunkField.connectorType] = .string(v) }
        return zip(chunks, vectors).map { chunk, vector in
            var fields = common
            fields[ChunkField.text] = .string(chunk.text)
            fields[ChunkField.chunkIndex] = .int(chunk.chunkIndex)
            fields[ChunkField.headings] = .array(chunk.headings.map { .string($0) })
            fields[ChunkField.pages] = .array(chunk.pages.map { .int($0) })
            if let first = chunk.pages.first { fields[ChunkField.page] = .int(first) }
            fields[ChunkField.embeddingDimensions] = .int(vector.count)
            fields[vectorField] = .array(vector.map { .double(Double($0)) })
            return IndexDocument(id: identity.chunkID(chunk.chunkIndex), fields: fields)
        }
    }

    // MARK: - Preview

    /// Converts and chunks only (no embeddings, no OpenSearch): `--preview`.
    package func preview(_ loaded: LoadedDocument, request: IngestRequest) async throws -> (DocumentIdentity, [Chunk], ConvertedDocument) {
        let id = identity(for: loaded, request: request)
        let converted = try await converter.convert(
            SourceDocument(source: loaded.source, filename: loaded.filename, bytes: loaded.bytes, mimetype: loaded.mimetype),
            options: mergedDoclingOptions(request))
        let chunks = Self.chunk(converted, tokenizer: tokenizer, maxTokens: request.maxTokens ?? settings.maxTokens)
        return (id, chunks, converted)
    }
}

/// A document's bytes with its identity inputs.
package struct LoadedDocument: Sendable {
    package var source: String
    package var filename: String
    package var bytes: Data
    package var mimetype: String?
    package init(source: String, filename: String, bytes: Data, mimetype: String?) {
        self.source = source; self.filename = filename; self.bytes = bytes; self.mimetype = mimetype
    }
}
