import Foundation
import IngestCore
import IngestKit
import IngestServer
import IngestWorker
import Synchronization
import Testing

/// Replays its responses in order (the last one again when they run out) and records the requests.
final class FakeHTTP: HTTPTransport {
    let responses: [HTTPResponse]
    let seen = Mutex<[String]>([])

    init(_ responses: HTTPResponse...) { self.responses = responses }

    func send(_ request: HTTPRequest, timeout: Duration) async throws -> HTTPResponse {
        let count = seen.withLock {
            $0.append("\(request.method) \(request.url) accept=\(request.header("accept") ?? "")")
            return $0.count
        }
        return responses[min(count, responses.count) - 1]
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

    /// Within an execution's budget hold: a raw blob over INGEST_MAX_FILE_BYTES is refused, and
    /// the reservation taken before the read is trimmed to the blob once it has arrived.
    @Test func aRawBlobOverTheFileLimitIsRefusedAndItsReservationTrimmed() async throws {
        let budget = DocumentBudget(limitBytes: 10_000_000, maxFileBytes: 8)
        let big = FakeHTTP(HTTPResponse(status: 200, headers: [("x-blob-type", "binary")], body: Data("# raw doc".utf8)))
        let hold = BudgetHold(budget: budget)
        let error = await #expect(throws: IngestError.self) {
            try await BudgetHold.$current.withValue(hold) { try await RESTBlobReader(transport: big, baseURL: base).blob(id: "ed77") }
        }
        #expect(error?.reason == .tooLarge)
        #expect(error?.message.contains("INGEST_MAX_FILE_BYTES (8)") == true, "\(String(describing: error))")

        let small = FakeHTTP(HTTPResponse(status: 200, headers: [("x-blob-type", "binary")], body: Data("# doc".utf8)))
        let ok = BudgetHold(budget: budget)
        _ = try await BudgetHold.$current.withValue(ok) { try await RESTBlobReader(transport: small, baseURL: base).blob(id: "ed78") }
        #expect(ok.held == 5)
        ok.releaseAll()
        hold.releaseAll()
        #expect(budget.limiter.inUse == 0)
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

    /// A failed answer's body comes from a server we do not control: only its status is reported.
    @Test func aFailedAnswersBodyIsNotCopiedIntoTheError() async {
        let http = FakeHTTP(HTTPResponse(status: 500, body: Data("<html>internal secret page</html>".utf8)))
        do {
            _ = try await RESTBlobReader(transport: http, baseURL: base).blob(id: "ab")
            Issue.record("expected an error")
        } catch {
            #expect(error.message.contains("HTTP 500") && !error.message.contains("secret"))
        }
    }

    /// Redirects are followed only within the configured origin: the blob API cannot send the
    /// worker's reads to another address.
    @Test func redirectsStayWithinTheBlobAPIsOrigin() async throws {
        let same = FakeHTTP(
            HTTPResponse(status: 307, headers: [("location", "/api/v1/blobs/moved/79ab")]),
            HTTPResponse(status: 200, headers: [("x-blob-type", "binary")], body: Data("# doc".utf8))
        )
        let content = try await RESTBlobReader(transport: same, baseURL: base).blob(id: "79ab")
        #expect(content == .raw(bytes: Data("# doc".utf8), filename: nil, contentType: nil))
        #expect(same.seen.withLock { $0 }.last == "GET http://127.0.0.1:7840/api/v1/blobs/moved/79ab accept=application/octet-stream")

        for location in ["http://127.0.0.1:19999/x/79ab", "https://127.0.0.1:7840/api/v1/blobs/79ab", "http://169.254.169.254/latest/meta-data"] {
            let other = FakeHTTP(HTTPResponse(status: 302, headers: [("location", location)]))
            do {
                _ = try await RESTBlobReader(transport: other, baseURL: base).blob(id: "79ab")
                Issue.record("followed a redirect to \(location)")
            } catch {
                #expect(error.message.contains("another origin"))
                #expect(other.seen.withLock { $0.count } == 1, "one request, to the configured origin only")
            }
        }

        let loop = FakeHTTP(HTTPResponse(status: 302, headers: [("location", "/api/v1/blobs/79ab")]))
        await #expect(throws: IngestError.self) { try await RESTBlobReader(transport: loop, baseURL: base).blob(id: "79ab") }
        #expect(loop.seen.withLock { $0.count } == RESTBlobReader<FakeHTTP>.maxRedirects + 1)
    }
}
