import Foundation
import IngestChunking
import IngestDocling
import IngestKit
import IngestTokenizer
import Logging

extension IngestPipeline {
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
}
