import Foundation
import IngestEmbeddings
import IngestKit
import Synchronization
import Testing

@Suite("OpenAI-compatible embedder (fake transport)")
struct EmbedderTests {
    static let url = "/v1/embeddings"

    static func configuration(
        apiKey: String? = nil,
        batch: Int = 64,
        tokens: Int = 8_000,
        concurrency: Int = 4,
        attempts: Int = 4,
        dimensions: Int? = nil
    ) -> EmbeddingsConfiguration {
        EmbeddingsConfiguration(
            baseURL: "http://embed.test/v1/",
            apiKey: apiKey,
            model: "all-MiniLM-L6-v2",
            maxBatchInputs: batch,
            maxBatchTokens: tokens,
            concurrency: concurrency,
            retry: RetryPolicy(maxAttempts: attempts, baseDelay: .milliseconds(100), maxDelay: .seconds(30), maxElapsed: .seconds(300)),
            dimensions: dimensions
        )
    }

    /// The `input` array of a recorded request.
    static func inputs(_ request: HTTPRequest) -> [String] {
        let body = (try? JSONValue.parse(request.body ?? Data(), what: "request")) ?? nil
        return (body["input"]?.arrayValue ?? []).compactMap(\.stringValue)
    }

    /// A server that embeds text "n" as [n, 1, 0] (indices in order).
    static func echo(_ request: HTTPRequest) -> HTTPResponse {
        let data: [JSONValue] = inputs(request).enumerated().map { index, text in
            ["object": "embedding", "index": .int(index), "embedding": [.double(Double(text) ?? -1), 1, 0]]
        }
        let body: JSONValue = ["object": "list", "data": .array(data), "model": "m"]
        return HTTPResponse(status: 200, body: body.jsonData())
    }

    static func openAIError(_ status: Int, _ message: String, headers: [(name: String, value: String)] = []) -> FakeHTTPTransport.Reply {
        .json(#"{"error":{"message":"\#(message)","type":"invalid_request_error","code":null}}"#, status: status, headers: headers)
    }

    func embedder(_ http: FakeHTTPTransport, _ configuration: EmbeddingsConfiguration = EmbedderTests.configuration(), tokenCounter: (@Sendable (String) -> Int)? = nil, sleeps: SleepRecorder = SleepRecorder()) -> OpenAIEmbedder {
        OpenAIEmbedder(configuration: configuration, transport: http, tokenCounter: tokenCounter, sleep: sleeps.sleep)
    }

    func expectError(_ reason: IngestError.Reason, _ body: () async throws -> Void) async throws -> IngestError {
        do {
            try await body()
        } catch let error as IngestError {
            #expect(error.reason == reason, "\(error)")
            return error
        }
        Issue.record("expected \(reason), got success")
        return IngestError(.internalError, "no error")
    }

    @Test func sendsTheOpenAIRequestShape() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.url, handler: Self.echo)
        let vectors = try await embedder(http, Self.configuration(apiKey: "sk-test")).embed(["1", "2"])
        #expect(vectors == [[1, 1, 0], [2, 1, 0]])
        let request = try #require(http.requests.first)
        #expect(request.url == "http://embed.test/v1/embeddings")
        #expect(request.header("Authorization") == "Bearer sk-test")
        #expect(request.header("Content-Type") == "application/json")
        let body = try JSONValue.parse(try #require(request.body), what: "body")
        #expect(body == ["model": "all-MiniLM-L6-v2", "input": ["1", "2"], "encoding_format": "float"])
        #expect(http.recorded.first?.timeout == .seconds(60))
    }

    @Test func sendsDimensionsOnlyWhenSet() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.url, handler: Self.echo)
        _ = try await embedder(http, Self.configuration(dimensions: 3)).embed(["1"])
        let body = try JSONValue.parse(try #require(http.requests.first?.body), what: "body")
        #expect(body["dimensions"] == 3)
        #expect(http.requests.first?.header("Authorization") == nil)
    }

    @Test func ordersVectorsByIndex() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.url, .json(#"{"data":[{"index":2,"embedding":[3,0]},{"index":0,"embedding":[1,0]},{"index":1,"embedding":[2,0]}]}"#))
        #expect(try await embedder(http).embed(["a", "b", "c"]) == [[1, 0], [2, 0], [3, 0]])
    }

    @Test func emptyInputSendsNothing() async throws {
        let http = FakeHTTPTransport()
        #expect(try await embedder(http).embed([]).isEmpty)
        #expect(http.requests.isEmpty)
    }

    @Test func splitsBatchesByCountAndReassemblesInOrder() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.url, handler: Self.echo)
        let texts = (0..<10).map(String.init)
        let vectors = try await embedder(http, Self.configuration(batch: 3)).embed(texts)
        #expect(vectors.map { Int($0[0]) } == Array(0..<10))
        #expect(http.requests.map { Self.inputs($0).count }.sorted() == [1, 3, 3, 3])
    }

    @Test func splitsBatchesByTokens() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.url, handler: Self.echo)
        let vectors = try await embedder(http, Self.configuration(tokens: 25), tokenCounter: { _ in 10 }).embed((0..<5).map(String.init))
        #expect(vectors.count == 5)
        #expect(http.requests.map { Self.inputs($0).count }.sorted() == [1, 2, 2])
    }

    @Test func concurrencyIsBounded() async throws {
        let http = FakeHTTPTransport()
        let active = ConcurrencyProbe()
        http.on("POST", Self.url) { request in
            active.enter()
            try await Task.sleep(for: .milliseconds(5))
            active.leave()
            return Self.echo(request)
        }
        _ = try await embedder(http, Self.configuration(batch: 1, concurrency: 2)).embed((0..<8).map(String.init))
        #expect(active.peak == 2)
        #expect(http.requests.count == 8)
    }

    @Test func rateLimitHonoursRetryAfter() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.url, Self.openAIError(429, "Rate limit reached; retry after 1s.", headers: [(name: "Retry-After", value: "2")]), .handler(Self.echo))
        let sleeps = SleepRecorder()
        #expect(try await embedder(http, sleeps: sleeps).embed(["7"]) == [[7, 1, 0]])
        #expect(sleeps.durations == [.seconds(2)])
        #expect(http.requests.count == 2)
    }

    @Test func rateLimitWithoutRetryAfterBacksOff() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.url, Self.openAIError(429, "slow down"), .handler(Self.echo))
        let sleeps = SleepRecorder()
        _ = try await embedder(http, sleeps: sleeps).embed(["1"])
        let wait = try #require(sleeps.durations.first)
        #expect(wait >= .milliseconds(50) && wait <= .milliseconds(150))
    }

    @Test func serverErrorsGiveUpAfterBoundedAttempts() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.url, .json(#"{"detail":"CUDA out of memory"}"#, status: 503))
        let sleeps = SleepRecorder()
        let error = try await expectError(.embedFailed) { _ = try await embedder(http, Self.configuration(attempts: 4), sleeps: sleeps).embed(["1"]) }
        #expect(error.message.contains("CUDA out of memory"))
        #expect(error.isTransient)
        #expect(http.requests.count == 4)
        #expect(sleeps.durations.count == 3)
    }

    @Test func refusedKeyIsAuthFailedWithoutTheKey() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.url, Self.openAIError(401, "Incorrect API key provided: sk-secret-123."))
        let error = try await expectError(.authFailed) { _ = try await embedder(http, Self.configuration(apiKey: "sk-secret-123")).embed(["1"]) }
        #expect(error.message.contains("OPENAI_API_KEY"))
        #expect(!error.message.contains("sk-secret-123"))
        #expect(!error.isTransient)
        #expect(http.requests.count == 1)
    }

    @Test func unknownModelIsConfiguration() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.url, Self.openAIError(404, "The model `nope` does not exist"))
        let error = try await expectError(.configuration) { _ = try await embedder(http).embed(["1"]) }
        #expect(error.message.contains("EMBEDDING_MODEL"))
    }

    @Test func otherBadRequestIsEmbedFailedWithTheServersMessage() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.url, Self.openAIError(400, "Too many inputs: 65 > 64."))
        let error = try await expectError(.embedFailed) { _ = try await embedder(http).embed(["1"]) }
        #expect(error.message.contains("Too many inputs: 65 > 64."))
        #expect(http.requests.count == 1)
    }

    /// A server (like serve.py --max-input-tokens) that refuses any request holding a text marked LONG.
    static func rejectsLong(_ request: HTTPRequest) -> HTTPResponse {
        if inputs(request).contains(where: { $0.hasPrefix("LONG") }) {
            let body = #"{"error":{"message":"This model's maximum context length is 256 tokens, however you requested 300 tokens. Please reduce your input.","type":"invalid_request_error","code":null}}"#
            return HTTPResponse(status: 400, body: Data(body.utf8))
        }
        return echo(request)
    }

    @Test(arguments: [8, 3])
    func tooLongInputIsFoundByBisection(batch: Int) async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.url, handler: Self.rejectsLong)
        var texts = (0..<8).map(String.init)
        texts[5] = "LONG 5"
        let error = try await expectError(.embedRejected) { _ = try await embedder(http, Self.configuration(batch: batch, concurrency: 1)).embed(texts) }
        #expect(error.itemIndex == 5)
        #expect(error.message.contains("input 5"))
        #expect(error.message.contains("maximum context length"))
        #expect(!error.isTransient)
    }

    @Test func singleTooLongInputIsRejectedDirectly() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.url, handler: Self.rejectsLong)
        let error = try await expectError(.embedRejected) { _ = try await embedder(http).embed(["LONG"]) }
        #expect(error.itemIndex == 0)
        #expect(http.requests.count == 1)
    }

    @Test func mixedDimensionsInOneResponseAreEmbedFailed() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.url, .json(#"{"data":[{"index":0,"embedding":[1,2,3]},{"index":1,"embedding":[1,2]}]}"#))
        let error = try await expectError(.embedFailed) { _ = try await embedder(http).embed(["a", "b"]) }
        #expect(error.message.contains("2, 3"))
    }

    @Test func wrongCountIsEmbedFailed() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.url, .json(#"{"data":[{"index":0,"embedding":[1,2,3]}]}"#))
        _ = try await expectError(.embedFailed) { _ = try await embedder(http).embed(["a", "b"]) }
    }

    @Test func repeatedIndexIsEmbedFailed() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.url, .json(#"{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[2]}]}"#))
        _ = try await expectError(.embedFailed) { _ = try await embedder(http).embed(["a", "b"]) }
    }

    @Test(arguments: [#"{"data":[{"index":0,"embedding":[NaN,1]}]}"#, #"{"data":[{"index":0,"embedding":[1e40,1]}]}"#])
    func nonFiniteValuesAreEmbedFailed(body: String) async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.url, .json(body))
        let error = try await expectError(.embedFailed) { _ = try await embedder(http).embed(["a"]) }
        #expect(error.message.contains("NaN or infinite"))
    }

    @Test func ignoredDimensionsSettingIsEmbedFailed() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.url, handler: Self.echo)
        _ = try await expectError(.embedFailed) { _ = try await embedder(http, Self.configuration(dimensions: 8)).embed(["1"]) }
    }

    @Test func probeDimensionEmbedsOneText() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.url, handler: Self.echo)
        #expect(try await embedder(http).probeDimension() == 3)
        #expect(http.requests.map(Self.inputs) == [["dimension probe"]])
    }

    @Test func connectionRefusedIsRetriedThenServiceUnavailable() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.url, .connectionRefused("http://embed.test/v1/embeddings"))
        let error = try await expectError(.serviceUnavailable) { _ = try await embedder(http, Self.configuration(attempts: 2)).embed(["1"]) }
        #expect(error.isTransient)
        #expect(http.requests.count == 2)
    }

    @Test func tooLongDetection() {
        #expect(OpenAIEmbedder.saysTooLong("This model's maximum context length is 8192 tokens"))
        #expect(OpenAIEmbedder.saysTooLong("Input is too long"))
        #expect(!OpenAIEmbedder.saysTooLong("Too many inputs: 65 > 64."))
    }
}
