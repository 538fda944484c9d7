import Foundation
import IngestCore
import IngestKit
import IngestServer
import Synchronization
import Testing

@testable import IngestStepflowGRPC

/// Replays one response and records the request.
final class FakeHTTP: HTTPTransport {
    let response: HTTPResponse
    let seen = Mutex<[String]>([])

    init(_ response: HTTPResponse) { self.response = response }

    func send(_ request: HTTPRequest, timeout: Duration) async throws -> HTTPResponse {
        seen.withLock { $0.append("\(request.method) \(request.url) accept=\(request.header("accept") ?? "")") }
        return response
    }
}

/// Responses as the real stepflow-orchestrator 0.11.1 gave them (`Accept: application/octet-stream`).
@Suite struct RESTBlobReaderTests {
    let base = "http://127.0.0.1:7840/api/v1/blobs"

    @Test func aDataBlobIsItsJSONValue() async throws {
        let http = FakeHTTP(HTTPResponse(status: 200, headers: [("content-type", "application/octet-stream"), ("x-blob-type", "data")],
                                         body: Data(#"{"filename":"a.md","base64":"IyBoaQo="}"#.utf8)))
        let content = try await RESTBlobReader(transport: http, baseURL: base + "/").blob(id: "79ab")
        #expect(content == .json(["filename": "a.md", "base64": "IyBoaQo="]))
        #expect(http.seen.withLock { $0 } == ["GET \(base)/79ab accept=application/octet-stream"])
    }

    @Test func aBinaryBlobIsTheDocumentWithItsFileName() async throws {
        let http = FakeHTTP(HTTPResponse(status: 200, headers: [("x-blob-type", "binary"), ("content-disposition", #"attachment; filename="doc.md""#)],
                                         body: Data("# raw doc".utf8)))
        let content = try await RESTBlobReader(transport: http, baseURL: base).blob(id: "ed77")
        #expect(content == .raw(bytes: Data("# raw doc".utf8), filename: "doc.md", contentType: nil))
    }

    @Test func aMissingBlobIsInvalidInputNamingIt() async {
        let http = FakeHTTP(HTTPResponse(status: 404, body: Data(#"{"code":404,"message":"Blob '0000' not found"}"#.utf8)))
        do {
            _ = try await RESTBlobReader(transport: http, baseURL: base).blob(id: "0000")
            Issue.record("expected an error")
        } catch {
            #expect(error.reason == .invalidInput)
            #expect(error.message.contains("blob 0000 does not exist"))
        }
    }

    @Test func aServerErrorIsTransient() async {
        let http = FakeHTTP(HTTPResponse(status: 503, body: Data("busy".utf8)))
        do {
            _ = try await RESTBlobReader(transport: http, baseURL: base).blob(id: "ab")
            Issue.record("expected an error")
        } catch {
            #expect(error.reason == .serviceUnavailable && error.isTransient)
        }
    }
}
