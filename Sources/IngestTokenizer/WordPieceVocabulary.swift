/// A WordPiece vocabulary stored as a byte trie, so the greedy longest-match-first search walks
/// each word once instead of hashing every candidate substring.
///
/// Word-initial tokens hang off the root; continuation tokens ("##…") hang off the node reached by
/// "##", exactly as they are spelled in vocab.txt. Vocabulary tokens are valid UTF-8, so a match on
/// bytes always ends on a character boundary and equals the character-based search of HF WordPiece.
package final class WordPieceVocabulary: Sendable {
    /// Token strings by id, for `tokenize(_:)` and diagnostics.
    package let tokens: [String]
    /// Ids of the special tokens the post-processor and the unknown-word rule need.
    package let unknownID: Int32, classifierID: Int32, separatorID: Int32
    /// Special tokens that HF `tokenizers` matches in the raw text before normalising it.
    let specialTokens: [(bytes: [UInt8], id: Int32)]

    /// Children of the root and of the "##" node, indexed by byte (-1: none). These two nodes have
    /// hundreds of children, so a direct table beats a scan.
    let rootChildren: [Int32]
    let continuationChildren: [Int32]
    /// Per node: the id of the token ending there, or -1.
    let nodeToken: [Int32]
    /// Per node: its children are `edgeByte[edgeStart[n]..<edgeStart[n+1]]`, sorted by byte.
    let edgeStart: [Int32]
    let edgeByte: [UInt8]
    let edgeChild: [Int32]

    /// Builds the trie from vocab.txt text (one token per line, line number = id).
    /// Returns nil when the text lacks [UNK], [CLS], [SEP] or "##" continuation tokens.
    package init?(vocabText: String) {
        var lines: [[UInt8]] = []
        lines.reserveCapacity(32_768)
        for line in vocabText.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lines.append(Array(line))
        }
        if lines.last?.isEmpty == true { lines.removeLast() }
        self.tokens = lines.map { String(decoding: $0, as: UTF8.self) }

        var idOf: [String: Int32] = [:]
        for (i, t) in tokens.enumerated() where idOf[t] == nil { idOf[t] = Int32(i) }
        guard let unk = idOf["[UNK]"], let cls = idOf["[CLS]"], let sep = idOf["[SEP]"] else { return nil }
        self.unknownID = unk
        self.classifierID = cls
        self.separatorID = sep
        self.specialTokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].compactMap { name in
            idOf[name].map { (Array(name.utf8), $0) }
        }

        // Build the trie over the token ids sorted by bytes: the tokens under one node form a
        // contiguous range, so children are laid out contiguously without per-node dictionaries.
        let order = lines.indices.filter { !lines[$0].isEmpty }.sorted { lines[$0].lexicographicallyPrecedes(lines[$1]) }
        var builder = TrieBuilder(lines: lines, order: order)
        builder.build()
        let hashHash = builder.find(Array("##".utf8))
        guard let hashHash else { return nil }
        self.nodeToken = builder.nodeToken
        var starts = builder.edgeStart
        starts.append(Int32(builder.edgeByte.count))
        self.edgeStart = starts
        self.edgeByte = builder.edgeByte
        self.edgeChild = builder.edgeChild
        self.rootChildren = builder.directTable(of: 0)
        self.continuationChildren = builder.directTable(of: hashHash)
    }

    /// all-MiniLM-L6-v2's vocabulary, built once on first use from the compiled-in text.
    package static let miniLM: WordPieceVocabulary = {
        let text = miniLMVocabularyText.withUTF8Buffer { String(decoding: $0, as: UTF8.self) }
        guard let vocabulary = WordPieceVocabulary(vocabText: text) else {
            // The literal is generated and checked by scripts/gen-vocab; reaching this is a build defect.
            fatalError("the compiled-in MiniLM vocabulary lacks [UNK]/[CLS]/[SEP]; regenerate it with scripts/gen-vocab")
        }
        return vocabulary
    }()

    /// The id of `token`, or nil. Linear in the token length; for tests and tooling.
    package func id(of token: String) -> Int? {
        var node: Int32 = 0
        for byte in token.utf8 {
            guard let next = child(of: node, byte) else { return nil }
            node = next
        }
        let id = nodeToken[Int(node)]
        return id >= 0 ? Int(id) : nil
    }

    @inline(__always)
    func child(of node: Int32, _ byte: UInt8) -> Int32? {
        let n = Int(node)
        var i = Int(edgeStart[n])
        let end = Int(edgeStart[n + 1])
        while i < end {
            let b = edgeByte[i]
            if b == byte { return edgeChild[i] }
            if b > byte { return nil }
            i += 1
        }
        return nil
    }
}

/// Lays the trie out node by node (depth first) from the byte-sorted token list.
private struct TrieBuilder {
    let lines: [[UInt8]]
    let order: [Int]
    var nodeToken: [Int32] = []
    var edgeStart: [Int32] = []
    var edgeByte: [UInt8] = []
    var edgeChild: [Int32] = []

    init(lines: [[UInt8]], order: [Int]) {
        self.lines = lines
        self.order = order
        nodeToken.reserveCapacity(120_000)
        edgeStart.reserveCapacity(120_000)
        edgeByte.reserveCapacity(120_000)
        edgeChild.reserveCapacity(120_000)
    }

    mutating func build() {
        _ = makeNode(range: 0..<order.count, depth: 0)
    }

    /// Creates the node for the tokens `order[range]`, which share their first `depth` bytes.
    private mutating func makeNode(range: Range<Int>, depth: Int) -> Int32 {
        let node = Int32(nodeToken.count)
        nodeToken.append(-1)
        edgeStart.append(0)
        var lo = range.lowerBound
        // Sorted order puts the token that ends exactly here first.
        if lo < range.upperBound, lines[order[lo]].count == depth {
            nodeToken[Int(node)] = Int32(order[lo])
            lo += 1
        }
        // Group the rest by their byte at `depth`.
        var groups: [(byte: UInt8, range: Range<Int>)] = []
        var i = lo
        while i < range.upperBound {
            let byte = lines[order[i]][depth]
            var j = i + 1
            while j < range.upperBound, lines[order[j]][depth] == byte { j += 1 }
            groups.append((byte, i..<j))
            i = j
        }
        let first = edgeByte.count
        edgeStart[Int(node)] = Int32(first)
        for g in groups {
            edgeByte.append(g.byte)
            edgeChild.append(-1)
        }
        for (k, g) in groups.enumerated() {
            edgeChild[first + k] = makeNode(range: g.range, depth: depth + 1)
        }
        return node
    }

    func find(_ bytes: [UInt8]) -> Int32? {
        var node: Int32 = 0
        for byte in bytes {
            let n = Int(node)
            let end = n + 1 < edgeStart.count ? Int(edgeStart[n + 1]) : edgeByte.count
            guard let k = (Int(edgeStart[n])..<end).first(where: { edgeByte[$0] == byte }) else { return nil }
            node = edgeChild[k]
        }
        return node
    }

    func directTable(of node: Int32) -> [Int32] {
        var table = [Int32](repeating: -1, count: 256)
        let n = Int(node)
        let end = n + 1 < edgeStart.count ? Int(edgeStart[n + 1]) : edgeByte.count
        for k in Int(edgeStart[n])..<end { table[Int(edgeByte[k])] = edgeChild[k] }
        return table
    }
}
