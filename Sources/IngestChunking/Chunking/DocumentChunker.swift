import IngestTokenizer

/// Structure- and token-aware chunking of DoclingDocuments and Markdown/plain text.
///
/// Pipeline: front end (document tree walk, or Markdown parse) -> blocks under a heading path
/// -> blocks split to fit the budget (between rows/items/lines, then sentences, words,
/// characters) -> neighbours with the same heading path merged up to the budget -> chunks.
/// Guarantees: no empty chunk, no chunk over `maxTokens` (counted on `embeddingText` with
/// [CLS]/[SEP]), deterministic output.
package struct DocumentChunker: Sendable {
    /// Bumped whenever the chunks for the same input change; part of the generation hash.
    /// 2: headings inside lists, headings with nothing under them kept as lines, permalink
    /// markers stripped from heading text.
    package static let version = "2"

    private let tokenizer: any Tokenizer
    private let options: ChunkerOptions

    /// The tokenizer must be the embedding model's, so that budgets are in the tokens it sees.
    package init(tokenizer: any Tokenizer, options: ChunkerOptions = ChunkerOptions()) {
        self.tokenizer = tokenizer
        self.options = options
    }

    /// Chunks a DoclingDocument's body in reading order.
    package func chunks(for document: DoclingDocument) -> [Chunk] {
        var walker = DocumentWalker(document: document)
        walker.run()
        return pack(walker.blocks, paths: walker.paths)
    }

    /// Chunks text that arrived as Markdown or plain text (Docling's `md_content`, a `.txt`).
    package func chunks(forMarkdown text: String) -> [Chunk] {
        var parser = MarkdownBlocks()
        parser.parse(text)
        return pack(parser.blocks, paths: parser.paths)
    }

    private func pack(_ blocks: [Block], paths: HeadingPaths) -> [Chunk] {
        let packer = Packer(tokenizer: tokenizer, options: options)
        var contexts: [Int: Packer.Context] = [:]
        func context(_ path: Int) -> Packer.Context {
            if let c = contexts[path] { return c }
            let c = packer.context(for: paths.paths[path])
            contexts[path] = c
            return c
        }
        func budget(_ path: Int) -> Int {
            max(1, options.maxTokens - packer.specialTokens - context(path).tokens)
        }

        // Split, then merge neighbours under the same heading path while they fit.
        var merged: [Packer.Part] = []
        for block in blocks {
            let room = budget(block.headingPath)
            for part in packer.parts(of: block, budget: room) where !part.text.isEmpty {
                if let last = merged.last, last.headingPath == part.headingPath, last.tokens + part.tokens <= room {
                    merged[merged.count - 1].text += "\n\n" + part.text
                    merged[merged.count - 1].tokens += part.tokens
                    for item in part.items where !merged[merged.count - 1].items.contains(item) {
                        merged[merged.count - 1].items.append(item)
                    }
                    for page in part.pages where !merged[merged.count - 1].pages.contains(page) {
                        merged[merged.count - 1].pages.append(page)
                    }
                } else {
                    merged.append(part)
                }
            }
        }

        var chunks: [Chunk] = []
        chunks.reserveCapacity(merged.count)
        for part in merged {
            let path = paths.paths[part.headingPath]
            let ctx = context(part.headingPath)
            let measured: [(text: String, tokens: Int)] = packer.joinsAreFree
                ? [(part.text, packer.specialTokens + ctx.tokens + part.tokens)]
                : verified(part.text, context: ctx.text)
            for text in measured {
                let embedding = Self.embeddingText(context: ctx.text, text: text.text)
                chunks.append(Chunk(chunkIndex: chunks.count, text: text.text, embeddingText: embedding, headings: path,
                                    pages: part.pages.sorted(), docItems: part.items.map(\.pointer), tokenCount: text.tokens))
            }
        }
        return chunks
    }

    /// Heading context, a line break, then the text (Docling's `contextualize`).
    static func embeddingText(context: String, text: String) -> String {
        context.isEmpty ? text : context + "\n" + text
    }

    /// Measures the real `embedding_text`; when it is over budget despite the per-line sums
    /// (a tokenizer where joins are not free), cuts the text in halves at whitespace until each
    /// half fits. Not used with BERT (joins are free there); it keeps the guarantee for others.
    private func verified(_ text: String, context: String) -> [(text: String, tokens: Int)] {
        let tokens = tokenizer.tokenCount(Self.embeddingText(context: context, text: text))
        if tokens <= options.maxTokens { return [(text, tokens)] }
        let characters = Array(text)
        guard characters.count > 1 else {
            // A single character: nothing left to cut (the heading cap makes this unreachable).
            return [(text, tokens)]
        }
        var cut = characters.count / 2
        if let space = (0..<characters.count / 2).lazy.compactMap({ offset -> Int? in
            let lower = characters.count / 2 - offset, upper = characters.count / 2 + offset
            if lower > 0, characters[lower].isWhitespace { return lower }
            if upper < characters.count - 1, characters[upper].isWhitespace { return upper }
            return nil
        }).first {
            cut = space
        }
        let left = DocumentWalker.trimmed(String(characters[..<cut]))
        let right = DocumentWalker.trimmed(String(characters[cut...]))
        return [left, right].filter { !$0.isEmpty }.flatMap { verified($0, context: context) }
    }
}
