import IngestKit
import IngestLocalEmbeddings
import Testing

@Suite struct LocalEmbeddingConfigurationTests {
    private let home = "/home/u"
    private var cached: String { home + "/.cache/ingest/models/all-MiniLM-L6-v2" }

    /// A file system holding a model folder at each of `folders`.
    private func exists(_ folders: [String]) -> (String) -> Bool {
        { path in folders.contains { path == $0 + "/config.json" || path == $0 + "/model.safetensors" } }
    }

    private func select(_ env: [String: String], cli: String? = nil, folders: [String] = []) throws -> LocalEmbeddingConfiguration? {
        try LocalEmbeddingConfiguration.select(environment: Environment(env), cliModelPath: cli, processorCount: 4, fileExists: exists(folders))
    }

    @Test func anExplicitPathSelectsLocalEvenWithARemoteService() throws {
        let env = ["EMBEDDING_MODEL_PATH": "/m", "OPENAI_BASE_URL": "http://127.0.0.1:8000/v1", "OPENAI_API_KEY": "k"]
        #expect(try select(env)?.modelPath == "/m")
        #expect(try select(env, cli: "/cli")?.modelPath == "/cli")
        #expect(try select([:], cli: "/cli")?.modelPath == "/cli")
    }

    @Test func defaultsThreadsToTheProcessorsAndBatchesTo32() throws {
        let c = try #require(try select(["EMBEDDING_MODEL_PATH": "/m"]))
        #expect(c.threads == 4)
        #expect(c.batchSize == 32)
        let d = try #require(try select(["EMBEDDING_MODEL_PATH": "/m", "EMBEDDING_THREADS": "2", "EMBEDDING_BATCH_SIZE": "8"]))
        #expect(d.threads == 2 && d.batchSize == 8)
    }

    @Test(arguments: ["0", "-1", "two", "100000"])
    func rejectsBadThreadCounts(value: String) {
        let error = #expect(throws: IngestError.self) { try select(["EMBEDDING_MODEL_PATH": "/m", "EMBEDDING_THREADS": value]) }
        #expect(error?.reason == .configuration)
        #expect(error?.message.contains("EMBEDDING_THREADS") == true)
    }

    @Test func findsTheDefaultFolderOnlyWithoutARemoteService() throws {
        let env = ["HOME": home]
        #expect(try select(env, folders: [cached])?.modelPath == cached)
        #expect(try select(env, folders: ["/opt/ingest/models/all-MiniLM-L6-v2"])?.modelPath == "/opt/ingest/models/all-MiniLM-L6-v2")
        #expect(try select(env, folders: [cached, "/opt/ingest/models/all-MiniLM-L6-v2"])?.modelPath == cached)
        #expect(try select(env.merging(["OPENAI_BASE_URL": "http://127.0.0.1:8000/v1"]) { $1 }, folders: [cached]) == nil)
        #expect(try select(env.merging(["OPENAI_API_KEY": "sk-x"]) { $1 }, folders: [cached]) == nil)
        #expect(try select(env) == nil)
        let xdg = ["HOME": home, "XDG_CACHE_HOME": "/xdg"]
        #expect(try select(xdg, folders: ["/xdg/ingest/models/all-MiniLM-L6-v2"])?.modelPath == "/xdg/ingest/models/all-MiniLM-L6-v2")
    }

    @Test func theModelNameMustBeMiniLMWhenLocal() throws {
        #expect(try select(["EMBEDDING_MODEL_PATH": "/m", "EMBEDDING_MODEL": "all-MiniLM-L6-v2"]) != nil)
        #expect(try select(["EMBEDDING_MODEL_PATH": "/m", "EMBEDDING_MODEL": "sentence-transformers/all-MiniLM-L6-v2"]) != nil)
        #expect(throws: IngestError.self) { try select(["EMBEDDING_MODEL_PATH": "/m", "EMBEDDING_MODEL": "text-embedding-3-small"]) }
        // Another model asked for and no path: the remote embedder's business, not an error here.
        #expect(try select(["HOME": home, "EMBEDDING_MODEL": "text-embedding-3-small"], folders: [cached]) == nil)
    }

    @Test func batchesGroupSimilarLengthsAndCoverEveryText() {
        let lengths = [10, 3, 250, 4, 9, 3, 100]
        let batches = LocalEmbeddingModel.batches(lengths: lengths, batchSize: 3)
        #expect(batches == [[1, 5, 3], [4, 0, 6], [2]])
        #expect(LocalEmbeddingModel.batches(lengths: [], batchSize: 8).isEmpty)
        #expect(LocalEmbeddingModel.batches(lengths: [1, 2], batchSize: 0) == [[0], [1]])
    }
}

@Suite struct BertEncoderPartitionTests {
    @Test func splitsByTokensKeepingOrderAndNeverEmpty() {
        let sequences: [[Int32]] = [[1, 2], [3, 4, 5, 6], [7], [8, 9, 10]]
        let two = BertEncoder.partition(sequences, into: 2)
        #expect(two.flatMap { $0 } == sequences)
        #expect(two.count == 2 && two.allSatisfy { !$0.isEmpty })
        #expect(BertEncoder.partition(sequences, into: 1) == [sequences])
        let many = BertEncoder.partition(sequences, into: 8)
        #expect(many.flatMap { $0 } == sequences)
        #expect(many.count <= sequences.count && many.allSatisfy { !$0.isEmpty })
    }
}
