import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IngestCore
import IngestKit
import IngestServer
import IngestWorker
import NIOCore
import Testing

/// Bad input never crashes the worker and always gets a JSON-RPC error the orchestrator can parse
/// (with `jsonrpc` and the id when one could be read).
@Suite struct ProtocolErrorTests {
    private func error(_ response: TestResponse) throws -> (id: JSONValue?, code: Int?, message: String) {
        let reply = try response.json()
        #expect(reply["jsonrpc"] == "2.0")
        #expect(response.headers[.contentType] == "application/json")
        return (reply["id"], reply["error"]?["code"]?.intValue, reply["error"]?["message"]?.stringValue ?? "")
    }

    @Test func malformedJSONIsAParseError() async throws {
        try await TestApp.make().test(.router) { client in
            for body in [#"{"jsonrpc":"2.0","id":"1","method":"#, "", "not json"] {
                let reply = try error(try await client.rpc(body))
                #expect(reply.code == -32700)
                #expect(reply.id == .null)
            }
        }
    }

    @Test func unknownMethodIsMethodNotFound() async throws {
        try await TestApp.make().test(.router) { client in
            let reply = try error(try await client.rpc(#"{"jsonrpc":"2.0","id":7,"method":"runs/submit","params":{}}"#))
            #expect(reply.code == -32601)
            #expect(reply.id == 7)
            #expect(reply.message.contains("runs/submit"))
        }
    }

    @Test func envelopeErrorsAreInvalidRequests() async throws {
        try await TestApp.make().test(.router) { client in
            let cases: [(String, JSONValue)] = [
                (#"{"id":"a","method":"initialize","params":{}}"#, "a"),  // no jsonrpc
                (#"{"jsonrpc":"2.0","id":"b","method":5}"#, "b"),
                (#"{"jsonrpc":"2.0","id":{"x":1},"method":"initialize"}"#, .null),
                (#"[{"jsonrpc":"2.0","id":"c","method":"initialize"}]"#, .null),
                (#"{"jsonrpc":"2.0","id":"d","result":1,"error":{"code":1,"message":"x"}}"#, "d"),
                (#""just a string""#, .null),
                (#"{"jsonrpc":"2.0","id":"e","method":"initialize","params":3}"#, "e"),
            ]
            for (body, id) in cases {
                let response = try await client.rpc(body)
                let reply = try error(response)
                #expect(reply.code == -32600, "\(body)")
                #expect(reply.id == id, "\(body)")
                #expect(response.status == .badRequest)
            }
        }
    }

    @Test func wrongParamTypesAreInvalidParams() async throws {
        let ingester = FakeIngester()
        try await TestApp.make(ingester: ingester).test(.router) { client in
            let cases: [(String, String)] = [
                (#"{"component":5,"input":{}}"#, "params.component"),
                (#"{"component":"/ingest","input":"x.pdf"}"#, "must be an object"),
                (#"{"component":"/ingest","input":{"index":"a"}}"#, "\"source\" is required"),
                (#"{"component":"/ingest","input":{"source":42}}"#, "got a number"),
                (#"{"component":"/ingest","input":{"source":{"url":"http://h/a.pdf","path":"/a.pdf"}}}"#, "exactly one of"),
                (#"{"component":"/ingest","input":{"source":{}}}"#, "found none"),
                (#"{"component":"/ingest","input":{"source":"ftp://h/a.pdf"}}"#, "unsupported scheme 'ftp://'"),
                (#"{"component":"/ingest","input":{"source":{"url":"file:///etc/passwd"}}}"#, "http:// or https://"),
                (#"{"component":"/ingest","input":{"source":{"base64":"aGVsbG8="}}}"#, "needs a \"filename\""),
                (#"{"component":"/ingest","input":{"source":{"base64":"%%%","filename":"a.txt"}}}"#, "not valid base64"),
                (#"{"component":"/ingest","input":{"source":"a.pdf","idx":"x"}}"#, "unknown input field(s) \"idx\""),
                (#"{"component":"/ingest","input":{"source":"a.pdf","options":{"max_tokens":0}}}"#, "max_tokens"),
                (#"{"component":"/ingest","input":{"source":"a.pdf","options":{"docling":[1]}}}"#, "options.docling"),
                (#"{"component":"/ingest","input":{"source":"a.pdf","owner":true}}"#, "\"owner\" must be a string"),
            ]
            for (params, fragment) in cases {
                let reply = try error(try await client.rpc(#"{"jsonrpc":"2.0","id":"p","method":"components/execute","params":\#(params)}"#))
                #expect(reply.code == -32602, "\(params)")
                #expect(reply.id == "p")
                #expect(reply.message.contains(fragment), "\(params): \(reply.message)")
            }
            let info = try error(try await client.rpc(#"{"jsonrpc":"2.0","id":"i","method":"components/info","params":{}}"#))
            #expect(info.code == -32602)
        }
        #expect(ingester.requests.isEmpty)
    }

    @Test func pipelineRefusalIsInvalidParams() async throws {
        let ingester = FakeIngester { _ in throw IngestError(.invalidInput, "'/etc/passwd' is outside the allowed roots (INGEST_ALLOWED_ROOTS=/data)") }
        try await TestApp.make(ingester: ingester).test(.router) { client in
            let reply = try error(try await client.rpc(#"{"jsonrpc":"2.0","id":"r","method":"components/execute","params":{"component":"/ingest","input":{"source":"/etc/passwd"}}}"#))
            #expect(reply.code == -32602)
            #expect(reply.message.contains("/etc/passwd") && reply.message.contains("allowed roots"))
        }
    }

    @Test func unexpectedErrorsDoNotLeakDetails() async throws {
        struct NIOLikeError: Error, CustomStringConvertible { var description: String { "NIOConnectionError(host: 10.0.0.5, secret-token)" } }
        let ingester = FakeIngester { _ in throw NIOLikeError() }
        try await TestApp.make(ingester: ingester).test(.router) { client in
            let reply = try error(try await client.rpc(#"{"jsonrpc":"2.0","id":"u","method":"components/execute","params":{"component":"/ingest","input":{"source":"/data/a.pdf"}}}"#))
            #expect(reply.code == -32603)
            #expect(!reply.message.contains("secret-token") && !reply.message.contains("NIO"))
            #expect(reply.message.contains("/data/a.pdf"))
        }
    }

    @Test func oversizedBodyWithContentLengthIsRefusedWithItsID() async throws {
        let ingester = FakeIngester()
        try await TestApp.make(ingester: ingester, { $0.maxBodyBytes = 1024 }).test(.router) { client in
            let big = String(repeating: "A", count: 4000)
            let body = #"{"jsonrpc":"2.0","id":"01a2-big","method":"components/execute","params":{"component":"/ingest","input":{"source":{"base64":"\#(big)","filename":"a.pdf"}}}}"#
            let response = try await client.rpc(body)
            #expect(response.status == .contentTooLarge)
            let reply = try error(response)
            #expect(reply.code == -32600)
            #expect(reply.id == "01a2-big")
            #expect(reply.message.contains("INGEST_MAX_BODY_BYTES") && reply.message.contains("1024"))
            // The worker still answers afterwards.
            let ok = try await client.rpc(#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"runtime_protocol_version":1}}"#)
            #expect(ok.status == .ok)
        }
        #expect(ingester.requests.isEmpty)
    }

    @Test func chunkedBodyIsCountedWhileStreaming() async throws {
        let chunks = (0..<100).map { _ in ByteBuffer(string: String(repeating: "x", count: 1000)) }
        let counted = CountingSequence(chunks: chunks)
        let body = RequestBody(asyncSequence: counted)
        await #expect(throws: BoundedBody.TooLarge.self) {
            _ = try await BoundedBody.collect(body, declaredLength: nil, limit: 10_000)
        }
        // Stopped right after the limit: at most one chunk past it was pulled.
        #expect(counted.pulled.load(ordering: .relaxed) <= 11)

        let small = try await BoundedBody.collect(RequestBody(buffer: ByteBuffer(string: "{}")), declaredLength: nil, limit: 10)
        #expect(small == Data("{}".utf8))
    }

    @Test func idIsSniffedFromTheStartOfARefusedBody() {
        #expect(BoundedBody.sniffID(Data(#"{"jsonrpc":"2.0","id":"01a21ed4-fd25","method":"x""#.utf8)) == .string("01a21ed4-fd25"))
        #expect(BoundedBody.sniffID(Data(#"{"jsonrpc":"2.0", "id" : 42, "method"#.utf8)) == .int(42))
        #expect(BoundedBody.sniffID(Data(#"{"jsonrpc":"2.0","method":"x""#.utf8)) == nil)
        #expect(BoundedBody.sniffID(Data(#"{"id":"trunc"#.utf8)) == nil)
    }
}

import Synchronization

/// An async sequence of buffers that counts how many were pulled.
final class CountingSequence: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let chunks: [ByteBuffer]
    let pulled = Atomic<Int>(0)
    init(chunks: [ByteBuffer]) { self.chunks = chunks }

    struct AsyncIterator: AsyncIteratorProtocol {
        let owner: CountingSequence
        var index = 0
        mutating func next() async -> ByteBuffer? {
            guard index < owner.chunks.count else { return nil }
            defer { index += 1 }
            owner.pulled.add(1, ordering: .relaxed)
            return owner.chunks[index]
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(owner: self) }
}
