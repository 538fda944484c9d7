import Foundation
import HTTPTypes
import HummingbirdTesting
import IngestCore
import IngestKit
import IngestServer
import IngestWorker
import Testing

/// The SSE path end to end, in process: `source: {blob_id}` makes the worker stream a `blobs/get`
/// request; the orchestrator's reply arrives as a separate POST and is routed to the waiting
/// execution by its id; the final event is the execute response.
@Suite struct BlobCallbackTests {
    static let observability = #"{"trace_id":"01a21ed512eb7a91b8eba390f87fa6bd","span_id":"badf2f7800000004","run_id":"01a21ed5-12eb-7a91-b8eb-a38750edbb7c","flow_id":"89a8","step_id":"ingest"}"#

    static func execute(id: String, blobID: String) -> String {
        #"{"jsonrpc":"2.0","id":"\#(id)","method":"components/execute","params":{"component":"/ingest","input":{"source":{"blob_id":"\#(blobID)"},"index":"web","owner":"u1"},"attempt":1,"observability":\#(observability)}}"#
    }

    /// Runs an execute with a blob source, answering the worker's `blobs/get` with `reply`
    /// (a JSON `result` or `error` member), and returns the SSE response and the reply POST's response.
    static func run(
        state: WorkerState,
        rpc: RPCState = RPCState(),
        ingester: FakeIngester,
        reply: (@Sendable (String) -> String)?,
        configure: (inout ServerConfiguration) -> Void = { _ in }
    ) async throws -> (stream: TestResponse, replyStatus: HTTPTypes.HTTPResponse.Status?) {
        let app = TestApp.make(ingester: ingester, state: state, rpc: rpc, configure)
        return try await app.test(.router) { client in
            try await withThrowingTaskGroup(of: (TestResponse?, HTTPTypes.HTTPResponse.Status?).self) { group in
                group.addTask {
                    (try await client.rpc(execute(id: "01a21ed5-exec", blobID: "e2f37f3bdfaa")), nil)
                }
                if let reply {
                    group.addTask {
                        let callbackID = try await eventually { await rpc.callbacks.pendingIDs.first }
                        let response = try await client.rpc(
                            #"{"jsonrpc":"2.0","id":"\#(callbackID)",\#(reply(callbackID.description))}"#,
                            headers: [.stepflowInstanceID: state.instanceID]
                        )
                        return (nil, response.status)
                    }
                }
                var stream: TestResponse?
                var status: HTTPTypes.HTTPResponse.Status?
                for try await (response, replyStatus) in group {
                    stream = response ?? stream
                    status = replyStatus ?? status
                }
                return (try #require(stream), status)
            }
        }
    }

    @Test func blobIsFetchedOverSSEAndIngested() async throws {
        let state = WorkerState(podName: "w2")
        let rpc = RPCState()
        let ingester = FakeIngester()
        let (stream, replyStatus) = try await Self.run(state: state, rpc: rpc, ingester: ingester) { _ in
            #""result":{"data":{"filename":"a.txt","base64":"aGVsbG8gd29ybGQ="},"blob_type":"data"}"#
        }
        #expect(replyStatus == .accepted)
        #expect(stream.status == .ok)
        #expect(stream.headers[.contentType] == "text/event-stream")
        #expect(stream.headers[.stepflowInstanceID] == state.instanceID)
        #expect(state.instanceID.hasPrefix("w2-"))
        #expect(stream.text.hasSuffix("}\n\n") && !stream.text.contains("\r"))

        let events = try stream.sseEvents()
        #expect(events.count == 2)
        let get = events[0]
        #expect(get["jsonrpc"] == "2.0")
        #expect(get["method"] == "blobs/get")
        #expect(get["id"]?.stringValue?.isEmpty == false)
        #expect(get["params"]?["blob_id"] == "e2f37f3bdfaa")
        #expect(get["params"]?["observability"]?["run_id"] == "01a21ed5-12eb-7a91-b8eb-a38750edbb7c")

        let final = events[1]
        #expect(final["jsonrpc"] == "2.0")
        #expect(final["id"] == "01a21ed5-exec")
        #expect(final["result"]?["output"]?["status"] == "indexed")

        let request = try #require(ingester.requests.first)
        #expect(request.input == .inline(filename: "a.txt", bytes: Data("hello world".utf8)))
        #expect(request.index == "web" && request.owner == "u1" && request.filename == "a.txt")
        #expect(await rpc.callbacks.pendingIDs.isEmpty)
    }

    @Test func blobHoldingAPathOrURLIsIngestedFromThere() async throws {
        let state = WorkerState(podName: "w1")
        let ingester = FakeIngester()
        _ = try await Self.run(state: state, ingester: ingester) { _ in #""result":{"data":"https://example.com/a.html","blob_type":"data"}"# }
        #expect(ingester.requests.first?.input == .url("https://example.com/a.html"))
    }

    @Test func orchestratorBlobErrorFailsTheStepWithTheCause() async throws {
        let state = WorkerState(podName: "w1")
        let ingester = FakeIngester()
        let (stream, replyStatus) = try await Self.run(state: state, ingester: ingester) { _ in
            #""error":{"code":-32000,"message":"Failed to get blob","data":null}"#
        }
        #expect(replyStatus == .accepted)
        let final = try #require(stream.sseEvents().last)
        #expect(final["id"] == "01a21ed5-exec")
        #expect(final["error"]?["code"] == .int(JSONRPCError.invalidParamsCode))
        let message = final["error"]?["message"]?.stringValue ?? ""
        #expect(message.contains("blob e2f37f3bdfaa") && message.contains("Failed to get blob"))
        #expect(ingester.requests.isEmpty)
    }

    @Test func blobWithTheWrongShapeIsRefused() async throws {
        let state = WorkerState(podName: "w1")
        let (stream, _) = try await Self.run(state: state, ingester: FakeIngester()) { _ in
            #""result":{"data":{"source":"s1","index":"web","text":"hello world"},"blob_type":"data"}"#
        }
        let final = try #require(stream.sseEvents().last)
        #expect(final["error"]?["code"] == .int(JSONRPCError.invalidParamsCode))
        #expect(final["error"]?["message"]?.stringValue?.contains("unknown field(s)") == true)
    }

    @Test func lostReplyTimesOut() async throws {
        let state = WorkerState(podName: "w1")
        let rpc = RPCState()
        let (stream, _) = try await Self.run(state: state, rpc: rpc, ingester: FakeIngester(), reply: nil) { $0.callbackTimeout = .milliseconds(200) }
        let events = try stream.sseEvents()
        #expect(events.first?["method"] == "blobs/get")
        let final = try #require(events.last)
        #expect(final["id"] == "01a21ed5-exec")
        #expect(final["error"]?["code"] == .int(JSONRPCError.executionFailedCode))
        #expect(final["error"]?["message"]?.stringValue?.contains("did not answer blobs/get") == true)
        #expect(await rpc.callbacks.pendingIDs.isEmpty)
    }

    @Test func pendingCallbackIsRemovedWhenCancelled() async throws {
        let callbacks = PendingCallbacks()
        await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                _ = try await callbacks.call(id: .string("c1"), timeout: .seconds(60)) {}
            }
            _ = try? await eventually { await callbacks.pendingIDs.isEmpty ? nil : true }
            group.cancelAll()
        }
        #expect(await callbacks.pendingIDs.isEmpty)
        #expect(await callbacks.resolve(id: .string("c1"), result: .success(.null)) == false)
    }
}
