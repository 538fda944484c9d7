import Foundation
import HTTPTypes
import HummingbirdTesting
import IngestCore
import IngestKit
import IngestServer
import IngestWorker
import NIOCore
import Testing

/// Replays every request the real Stepflow 0.9.0 orchestrator sent in the captured sessions and
/// checks that our answers have the shape, status, content type and headers it accepts.
@Suite struct CaptureReplayTests {
    @Test func capturesAreLoaded() throws {
        let requests = try CapturedRequest.all()
        #expect(requests.count >= 70)
        #expect(requests.allSatisfy { $0.header("content-type") == "application/json" })
    }

    @Test func everyCapturedRequestGetsAnAcceptableAnswer() async throws {
        let requests = try CapturedRequest.all()
        let ingester = FakeIngester()
        let app = TestApp.make(ingester: ingester)
        try await app.test(.router) { client in
            for captured in requests {
                var headers: HTTPFields = [:]
                if let instance = captured.header("stepflow-instance-id") { headers[.stepflowInstanceID] = instance }
                let response = try await client.rpc(captured.body, headers: headers)
                let sent = try JSONDecoder().decode(JSONValue.self, from: Data(captured.body.utf8))
                try check(response, for: sent, captured: captured)
            }
        }
        // The two /ingest executions with valid input reached the pipeline, mapped as paths.
        let inputs = ingester.requests.map(\.input)
        #expect(inputs.contains(.path("/data/docs/handbook.pdf")))
        #expect(inputs.contains(.path("fail:/nonexistent.pdf")))
        #expect(ingester.requests.allSatisfy { $0.index == "handbook" })
    }

    private func check(_ response: TestResponse, for sent: JSONValue, captured: CapturedRequest) throws {
        let method = sent["method"]?.stringValue
        let id = sent["id"]
        if method != nil, id == nil {
            // Notification (`initialized`): exactly 202, or the server exits at startup.
            #expect(response.status == .accepted, "\(captured)")
            return
        }
        #expect(response.headers[.contentType] == "application/json", "\(captured)")
        #expect(response.headers[.contentLength] == String(response.body.readableBytes), "\(captured)")
        let reply = try response.json()
        #expect(reply["jsonrpc"] == "2.0", "\(captured)")
        #expect(reply["id"] == id, "\(captured)")
        #expect((reply["result"] == nil) != (reply["error"] == nil), "\(captured)")

        switch method {
        case "initialize":
            #expect(response.status == .ok)
            #expect(reply["result"]?["server_protocol_version"] == 1, "\(captured)")
            #expect(reply["result"]?["serverProtocolVersion"] == 1, "\(captured)")
        case "components/list":
            let components = reply["result"]?["components"]?.arrayValue ?? []
            #expect(components.map { $0["component"] } == ["/ingest"], "\(captured)")
            #expect(components.first?["input_schema"]?.objectValue != nil)
            #expect(components.first?["output_schema"]?.objectValue != nil)
        case "components/execute":
            let params = sent["params"]
            let component = params?["component"]?.stringValue ?? ""
            let input = params?["input"]
            if component != "/ingest" {
                #expect(reply["error"]?["code"] == .int(JSONRPCError.componentNotFoundCode), "\(captured)")
                #expect(reply["error"]?["message"]?.stringValue?.contains("'\(component)' not found") == true, "\(captured)")
            } else if input?["index"]?.stringValue == nil {
                #expect(reply["error"]?["code"] == .int(JSONRPCError.invalidParamsCode), "\(captured)")
                #expect(reply["error"]?["message"]?.stringValue?.contains("\"index\" must be a string") == true, "\(captured)")
            } else if input?["source"]?.stringValue?.hasPrefix("fail:") == true {
                #expect(reply["error"]?["code"] == .int(JSONRPCError.executionFailedCode), "\(captured)")
                let message = reply["error"]?["message"]?.stringValue ?? ""
                #expect(message.contains("fail:/nonexistent.pdf") && message.contains("parse_failed") && message.contains("not a PDF"), "\(captured)")
                #expect(reply["error"]?["data"]?["reason"] == "parse_failed")
            } else {
                let output = reply["result"]?["output"]
                #expect(output?["status"] == "indexed", "\(captured)")
                #expect(output?["source"] == input?["source"], "\(captured)")
                #expect(output?["chunks"] == 3 && output?["pages"] == 2 && output?["document_id"] == "doc-1")
                #expect(output?["timings"]?["convert"] == .double(1.5))
                #expect(output?["error"] == nil)
            }
        case nil:
            // The orchestrator's replies to the reference worker's callbacks: nothing waits here.
            #expect(response.status == .badRequest, "\(captured)")
            #expect(reply["error"]?["code"] == .int(JSONRPCError.invalidRequestCode), "\(captured)")
            #expect(reply["error"]?["message"]?.stringValue?.contains("no pending request") == true)
        default:
            Issue.record("unexpected method \(method ?? "") in \(captured)")
        }
    }
}
