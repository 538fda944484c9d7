import IngestEmbeddingsServer
import IngestKit
import Testing

@Suite struct EmbeddingsServerConfigurationTests {
    @Test func defaultsWhenNothingIsSet() throws {
        let config = try EmbeddingsServerConfiguration.fromEnvironment(Environment([:]))
        #expect(config == EmbeddingsServerConfiguration())
        #expect(config.host == "0.0.0.0" && config.port == 8080)
        #expect(config.maxBodyBytes == 4 * 1024 * 1024)
        #expect(config.maxInputs == 2048)
        #expect(config.maxConcurrentRequests == 32)
        #expect(config.requestTimeout == .seconds(60))
        #expect(config.apiKey == nil)
    }

    @Test func everyVariableIsRead() throws {
        let config = try EmbeddingsServerConfiguration.fromEnvironment(Environment([
            "SERVER_HOST": "127.0.0.1", "SERVER_PORT": "8011",
            "EMBEDDINGS_SERVER_MAX_BODY_BYTES": "65536", "EMBEDDINGS_SERVER_MAX_INPUTS": "16",
            "EMBEDDINGS_SERVER_MAX_CONCURRENT_REQUESTS": "4", "EMBEDDINGS_SERVER_REQUEST_TIMEOUT_SECONDS": "2.5",
            "EMBEDDINGS_SERVER_SHUTDOWN_GRACE_SECONDS": "0", "EMBEDDINGS_SERVER_API_KEY": "k",
        ]))
        #expect(config == EmbeddingsServerConfiguration(
            host: "127.0.0.1", port: 8011, maxBodyBytes: 65536, maxInputs: 16, maxConcurrentRequests: 4,
            requestTimeout: .milliseconds(2500), shutdownGrace: .zero, apiKey: "k"
        ))
        #expect(config.summary["api_key_required"] == "true")
        #expect(!config.summary.values.contains("k"))
    }

    @Test(arguments: [
        ("EMBEDDINGS_SERVER_MAX_BODY_BYTES", "12"),
        ("EMBEDDINGS_SERVER_MAX_INPUTS", "0"),
        ("EMBEDDINGS_SERVER_MAX_CONCURRENT_REQUESTS", "lots"),
        ("EMBEDDINGS_SERVER_REQUEST_TIMEOUT_SECONDS", "0"),
        ("SERVER_PORT", "70000"),
    ])
    func aBadValueNamesTheVariable(name: String, value: String) {
        let error = #expect(throws: IngestError.self) { try EmbeddingsServerConfiguration.fromEnvironment(Environment([name: value])) }
        #expect(error?.reason == .configuration)
        #expect(error?.message.contains(name) == true)
    }
}
