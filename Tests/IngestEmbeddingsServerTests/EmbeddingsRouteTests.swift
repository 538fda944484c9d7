import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IngestEmbeddingsServer
import NIOCore
import Testing

/// `POST /v1/embeddings` through the router (no socket), with the fake model: the shapes the
/// OpenAI API answers with, and every refusal in its error shape.
@Suite struct EmbeddingsRouteTests {
    @Test func aStringGetsOneVectorWithUsage() async throws {
        try await makeApp().test(.router) { client in
            let response = try await client.embed(#"{"model":"all-MiniLM-L6-v2","input":"hello big world"}"#)
            #expect(response.status == .ok)
            let body = try decode(EmbeddingsBody.self, response)
            #expect(body.object == "list")
            #expect(body.model == "all-MiniLM-L6-v2")
            #expect(body.data.count == 1)
            #expect(body.data[0].object == "embedding")
            #expect(body.data[0].index == 0)
            #expect(body.data[0].embedding == FakeModel.vector([1, 15, 13, 15, 2]))
            #expect(body.usage.prompt_tokens == 5)
            #expect(body.usage.total_tokens == 5)
        }
    }

    @Test func anArrayKeepsItsOrderAndCountsEveryToken() async throws {
        try await makeApp().test(.router) { client in
            let response = try await client.embed(#"{"model":"all-MiniLM-L6-v2","input":["a","bb cc","ddd"],"user":"someone"}"#)
            #expect(response.status == .ok)
            let body = try decode(EmbeddingsBody.self, response)
            #expect(body.data.map(\.index) == [0, 1, 2])
            #expect(body.data[1].embedding == FakeModel.vector([1, 12, 12, 2]))
            #expect(body.usage.prompt_tokens == 3 + 4 + 3)
        }
    }

    /// Token lists are whole WordPiece sequences, fed as given: the vector of the text they
    /// spell. Lists without [CLS]/[SEP] at their ends (tiktoken's ids) are refused.
    @Test func tokenListsGiveTheVectorOfTheText() async throws {
        try await makeApp().test(.router) { client in
            let text = try decode(EmbeddingsBody.self, try await client.embed(#"{"input":"hello big"}"#)).data[0].embedding
            let one = try decode(EmbeddingsBody.self, try await client.embed(#"{"input":[1,15,13,2]}"#))
            #expect(one.data.count == 1)
            #expect(one.data[0].embedding == text)
            #expect(one.usage.prompt_tokens == 4)
            let many = try decode(EmbeddingsBody.self, try await client.embed(#"{"input":[[1,15,13,2],[1,12,2]]}"#))
            #expect(many.data.count == 2)
            #expect(many.data[0].embedding == text)
            #expect(many.data[1].embedding == FakeModel.vector([1, 12, 2]))
            for body in [#"{"input":[15,13]}"#, #"{"input":[[1,15,13]]}"#, #"{"input":[[15,13,2]]}"#, #"{"input":[[1]]}"#] {
                let error = try expectErrorShape(try await client.embed(body), status: .badRequest, param: "input")
                #expect(error.error.message.contains("[CLS]"), "\(body)")
            }
        }
    }

    @Test func base64IsLittleEndianFloat32() async throws {
        try await makeApp().test(.router) { client in
            let floats = try decode(EmbeddingsBody.self, try await client.embed(#"{"input":["x y","zz"],"encoding_format":"float"}"#))
            let encoded = try decode(Base64Body.self, try await client.embed(#"{"input":["x y","zz"],"encoding_format":"base64"}"#))
            #expect(encoded.data.count == 2)
            for (item, expected) in zip(encoded.data, floats.data) {
                let bytes = try #require(Data(base64Encoded: item.embedding))
                #expect(bytes.count == 16)
                let decoded: [Float] = stride(from: 0, to: bytes.count, by: 4).map { (offset: Int) -> Float in
                    var bits: UInt32 = 0
                    for shift in 0..<4 { bits |= UInt32(bytes[offset + shift]) << UInt32(8 * shift) }
                    return Float(bitPattern: bits)
                }
                #expect(decoded == expected.embedding)
            }
        }
    }

    @Test func theModelNameIsCheckedAndItsAliasesAccepted() async throws {
        try await makeApp().test(.router) { client in
            #expect(try await client.embed(#"{"model":"sentence-transformers/all-MiniLM-L6-v2","input":"a"}"#).status == .ok)
            #expect(try await client.embed(#"{"model":"ALL-MINILM-L6-V2","input":"a"}"#).status == .ok)
            #expect(try await client.embed(#"{"input":"a"}"#).status == .ok)
            let body = try expectErrorShape(try await client.embed(#"{"model":"text-embedding-3-small","input":"a"}"#), status: .notFound, param: "model", code: "model_not_found")
            #expect(body.error.type == "invalid_request_error")
            #expect(body.error.message.contains("text-embedding-3-small"))
        }
    }

    @Test func dimensionsOnlyWhenItIsTheModels() async throws {
        try await makeApp().test(.router) { client in
            #expect(try await client.embed(#"{"input":"a","dimensions":4}"#).status == .ok)
            let body = try expectErrorShape(try await client.embed(#"{"input":"a","dimensions":3}"#), status: .badRequest, param: "dimensions")
            #expect(body.error.message.contains("4"))
        }
    }

    @Test(arguments: [
        (#"{"input":[]}"#, "input"),
        (#"{"input":""}"#, "input"),
        (#"{"input":["a",""]}"#, "input"),
        (#"{"input":[[]]}"#, "input"),
        (#"{"input":5}"#, "input"),
        (#"{"input":["a",5]}"#, "input"),
        (#"{"input":[1,"a"]}"#, "input"),
        (#"{"input":null}"#, "input"),
        (#"{"model":"all-MiniLM-L6-v2"}"#, "input"),
        (#"{"input":"a","model":7}"#, "model"),
        (#"{"input":"a","encoding_format":"int8"}"#, "encoding_format"),
        (#"{"input":"a","dimensions":"four"}"#, "dimensions"),
        (#"{"input":[[1,100,2]]}"#, "input"),
        (#"{"input":[1,-1,2]}"#, "input"),
    ])
    func badInputIsRefusedWith400(body: String, param: String) async throws {
        try await makeApp().test(.router) { client in
            let error = try expectErrorShape(try await client.embed(body), status: .badRequest, param: param)
            #expect(error.error.type == "invalid_request_error")
        }
    }

    @Test(arguments: ["not json", "[1,2]", "{\"input\":\"a\"", ""])
    func aBodyThatIsNotAJSONObjectIsRefused(body: String) async throws {
        try await makeApp().test(.router) { client in
            _ = try expectErrorShape(try await client.embed(body), status: .badRequest, param: nil)
        }
    }

    /// OpenAI refuses over-window input rather than truncating; the message is the one our own
    /// client (and LangChain's) recognise as "too long".
    @Test func inputOverTheWindowIsRefusedAsOpenAIDoes() async throws {
        try await makeApp().test(.router) { client in
            // 8 words + [CLS] + [SEP] = 10 = the window: accepted; 9 words: refused.
            #expect(try await client.embed(#"{"input":"a b c d e f g h"}"#).status == .ok)
            let body = try expectErrorShape(try await client.embed(#"{"input":["ok","a b c d e f g h i"]}"#), status: .badRequest, param: "input")
            #expect(body.error.message.contains("maximum context length is 10 tokens, however you requested 11 tokens"))
            #expect(body.error.message.contains("input[1]"))
            // Token lists too, counted with the [CLS]/[SEP] they get.
            _ = try expectErrorShape(try await client.embed(#"{"input":[[1,11,11,11,11,11,11,11,11,11,2]]}"#), status: .badRequest, param: "input")
            #expect(try await client.embed(#"{"input":[[1,11,11,11,11,11,11,11,11,2]]}"#).status == .ok)
        }
    }

    @Test func tooManyInputsAreRefused() async throws {
        try await makeApp(EmbeddingsServerConfiguration(maxInputs: 3)).test(.router) { client in
            #expect(try await client.embed(#"{"input":["a","b","c"]}"#).status == .ok)
            let body = try expectErrorShape(try await client.embed(#"{"input":["a","b","c","d"]}"#), status: .badRequest, param: "input")
            #expect(body.error.message.contains("EMBEDDINGS_SERVER_MAX_INPUTS"))
        }
    }

    @Test func aBodyOverTheLimitIs413() async throws {
        try await makeApp(EmbeddingsServerConfiguration(maxBodyBytes: 1024)).test(.router) { client in
            let big = #"{"input":""# + String(repeating: "a ", count: 600) + #""}"#
            let body = try expectErrorShape(try await client.embed(big), status: .contentTooLarge, param: "input")
            #expect(body.error.message.contains("EMBEDDINGS_SERVER_MAX_BODY_BYTES"))
        }
    }

    @Test func theAPIKeyIsCheckedWhenSet() async throws {
        try await makeApp(EmbeddingsServerConfiguration(apiKey: "sekrit")).test(.router) { client in
            _ = try expectErrorShape(try await client.embed(#"{"input":"a"}"#), status: .unauthorized, param: nil, code: "invalid_api_key")
            _ = try expectErrorShape(try await client.embed(#"{"input":"a"}"#, headers: [.authorization: "Bearer wrong!"]), status: .unauthorized, param: nil, code: "invalid_api_key")
            #expect(try await client.embed(#"{"input":"a"}"#, headers: [.authorization: "Bearer sekrit"]).status == .ok)
            #expect(try await client.execute(uri: "/v1/models", method: .get).status == .unauthorized)
            #expect(try await client.execute(uri: "/health", method: .get).status == .ok)
            #expect(try await client.execute(uri: "/metrics", method: .get).status == .ok)
        }
    }

    /// Over EMBEDDINGS_SERVER_MAX_CONCURRENT_REQUESTS the answer is 429 with Retry-After at once,
    /// not an unbounded queue.
    @Test func requestsOverTheConcurrencyLimitGet429() async throws {
        let app = makeApp(EmbeddingsServerConfiguration(maxConcurrentRequests: 1), model: FakeModel(delay: .milliseconds(800)))
        try await app.test(.router) { client in
            let statuses = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for _ in 0..<2 { group.addTask { try await client.embed(#"{"input":"a"}"#) } }
                return try await group.reduce(into: [TestResponse]()) { $0.append($1) }
            }
            #expect(Set(statuses.map(\.status)) == [.ok, .tooManyRequests])
            let refused = try #require(statuses.first { $0.status == .tooManyRequests })
            #expect(refused.headers[.retryAfter] == "1")
            _ = try expectErrorShape(refused, status: .tooManyRequests, param: nil, code: "rate_limit_exceeded")
            // Both answered: the slot is free again.
            #expect(try await client.embed(#"{"input":"a"}"#).status == .ok)
        }
    }

    /// The model would take an hour: an answer at all shows the deadline ended the request (no
    /// wall-clock bound, which a loaded machine breaks; the time limit catches a hang).
    @Test(.timeLimit(.minutes(2))) func aRequestPastItsDeadlineIs503() async throws {
        let app = makeApp(EmbeddingsServerConfiguration(requestTimeout: .milliseconds(100)), model: FakeModel(delay: .seconds(3600)))
        try await app.test(.router) { client in
            let body = try expectErrorShape(try await client.embed(#"{"input":"a"}"#), status: .serviceUnavailable, param: nil)
            #expect(body.error.type == "server_error")
        }
    }

    @Test func modelsListsTheServedModel() async throws {
        try await makeApp().test(.router) { client in
            let list = try await client.execute(uri: "/v1/models", method: .get)
            #expect(list.status == .ok)
            let json = try #require(try JSONSerialization.jsonObject(with: Data(list.body.readableBytesView)) as? [String: Any])
            #expect(json["object"] as? String == "list")
            let data = try #require(json["data"] as? [[String: Any]])
            #expect(data.map { $0["id"] as? String } == ["all-MiniLM-L6-v2"])
            #expect(data.first?["object"] as? String == "model")
            #expect(try await client.execute(uri: "/v1/models/all-MiniLM-L6-v2", method: .get).status == .ok)
            _ = try expectErrorShape(try await client.execute(uri: "/v1/models/gpt-4", method: .get), status: .notFound, param: "model", code: "model_not_found")
            // Clients configured without /v1 reach the same routes.
            #expect(try await client.execute(uri: "/embeddings", method: .post, body: ByteBuffer(string: #"{"input":"a"}"#)).status == .ok)
        }
    }

    @Test func healthDrainsAndMetricsCount() async throws {
        let state = EmbeddingsServerState()
        try await makeApp(state: state).test(.router) { client in
            let health = try await client.execute(uri: "/health", method: .get)
            #expect(health.status == .ok)
            let json = try #require(try JSONSerialization.jsonObject(with: Data(health.body.readableBytesView)) as? [String: Any])
            #expect(json["status"] as? String == "healthy")
            #expect(json["dimension"] as? Int == 4)
            _ = try await client.embed(#"{"input":["a b","c"]}"#)
            _ = try await client.embed(#"{"input":[]}"#)
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains(#"ingest_embeddings_requests_total{status="200"} 1"#))
            #expect(metrics.contains(#"ingest_embeddings_requests_total{status="400"} 1"#))
            #expect(metrics.contains("ingest_embeddings_inputs_total 2"))
            #expect(metrics.contains("ingest_embeddings_tokens_total 7"))
            state.startDraining()
            let draining = try await client.execute(uri: "/health", method: .get)
            #expect(draining.status == .serviceUnavailable)
            #expect(String(buffer: draining.body).contains(#""status":"draining""#))
        }
    }
}
