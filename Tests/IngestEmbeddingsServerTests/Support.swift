import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import IngestEmbeddingsServer
import Logging
import NIOCore
import Testing

/// A model of 4 dimensions and a 10-token window: a word is the id of its length plus 10
/// ([CLS] = 1, [SEP] = 2, vocabulary 0..<100); the vector is a function of the ids, so the
/// same ids give the same vector whether they came as text or as a token list.
struct FakeModel: ServedModel {
    var delay: Duration = .zero
    var name: String { "all-MiniLM-L6-v2" }
    var aliases: Set<String> { ["sentence-transformers/all-minilm-l6-v2"] }
    var dimension: Int { 4 }
    var maxTokens: Int { 10 }
    var vocabularySize: Int { 100 }
    var classifierID: Int32 { 1 }
    var separatorID: Int32 { 2 }

    func tokenIDs(_ text: String) -> [Int32] {
        [1] + text.split(separator: " ").map { Int32(min(89, $0.count) + 10) } + [2]
    }

    func embed(tokenIDs: [[Int32]]) async throws -> [[Float]] {
        if delay > .zero { try await Task.sleep(for: delay) }
        return tokenIDs.map(Self.vector)
    }

    static func vector(_ ids: [Int32]) -> [Float] {
        let v: [Float] = [Float(ids.count), Float(ids.reduce(0, +)), Float(ids[1]), 0.5]
        let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return v.map { $0 / norm }
    }
}

/// The decoded success body.
struct EmbeddingsBody: Decodable {
    struct Item: Decodable {
        var object: String
        var index: Int
        var embedding: [Float]
    }
    struct Usage: Decodable {
        var prompt_tokens: Int
        var total_tokens: Int
    }
    var object: String
    var data: [Item]
    var model: String
    var usage: Usage
}

/// The same with base64 vectors.
struct Base64Body: Decodable {
    struct Item: Decodable {
        var index: Int
        var embedding: String
    }
    var data: [Item]
}

/// OpenAI's error body.
struct ErrorBody: Decodable {
    struct Inner: Decodable {
        var message: String
        var type: String
        var param: String?
        var code: String?
    }
    var error: Inner
}

func decode<T: Decodable>(_ type: T.Type, _ response: TestResponse) throws -> T {
    try JSONDecoder().decode(type, from: Data(response.body.readableBytesView))
}

/// Every error answer must carry all four keys, `param` and `code` as null when unset.
func expectErrorShape(_ response: TestResponse, status: HTTPResponse.Status, param: String?, code: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws -> ErrorBody {
    #expect(response.status == status, sourceLocation: sourceLocation)
    #expect(response.headers[.contentType] == "application/json", sourceLocation: sourceLocation)
    let raw = try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any], sourceLocation: sourceLocation)
    let inner = try #require(raw["error"] as? [String: Any], sourceLocation: sourceLocation)
    #expect(Set(inner.keys) == ["message", "type", "param", "code"], sourceLocation: sourceLocation)
    let body = try decode(ErrorBody.self, response)
    #expect(body.error.param == param, sourceLocation: sourceLocation)
    #expect(body.error.code == code, sourceLocation: sourceLocation)
    #expect(!body.error.message.isEmpty, sourceLocation: sourceLocation)
    return body
}

func makeApp(
    _ configuration: EmbeddingsServerConfiguration = EmbeddingsServerConfiguration(),
    model: some ServedModel,
    state: EmbeddingsServerState = EmbeddingsServerState()
) -> some ApplicationProtocol {
    buildEmbeddingsApplication(configuration: configuration, model: model, state: state, logger: Logger(label: "test"))
}

/// The app over ``FakeModel``.
func makeApp(
    _ configuration: EmbeddingsServerConfiguration = EmbeddingsServerConfiguration(),
    state: EmbeddingsServerState = EmbeddingsServerState()
) -> some ApplicationProtocol {
    makeApp(configuration, model: FakeModel(), state: state)
}

extension TestClientProtocol {
    /// POSTs `json` to `/v1/embeddings`.
    func embed(_ json: String, headers: HTTPFields = [.contentType: "application/json"]) async throws -> TestResponse {
        try await execute(uri: "/v1/embeddings", method: .post, headers: headers, body: ByteBuffer(string: json))
    }
}
