import Foundation
import HTTPTypes
import HummingbirdTesting
import IngestCore
import IngestKit
import IngestServer
import IngestWorker
import Synchronization
import Testing

/// INGEST_MAX_INFLIGHT_BODY_BYTES: each POST reserves its body's bytes until its reply is ready,
/// so large base64 executes beyond the budget wait instead of all decoding and holding at once.
@Suite struct BodyBudgetTests {
    /// Counts executions in flight and keeps the peak; each lingers until a second one joins it
    /// or a short while passes, so two that may overlap do.
    final class Overlap: Sendable {
        private let state = Mutex((now: 0, peak: 0))
        var peak: Int { state.withLock { $0.peak } }

        func run() async throws -> Void {
            state.withLock { $0.now += 1; $0.peak = max($0.peak, $0.now) }
            defer { state.withLock { $0.now -= 1 } }
            let deadline = ContinuousClock.now + .milliseconds(500)
            while ContinuousClock.now < deadline, state.withLock({ $0.now }) < 2 {
                try await Task.sleep(for: .milliseconds(5))
            }
        }
    }

    /// A components/execute carrying `bytes` of inline content as base64.
    static func body(bytes: Int, id: String) -> String {
        let content = Data(repeating: 0x25, count: bytes).base64EncodedString()
        return #"{"jsonrpc":"2.0","id":"\#(id)","method":"components/execute","params":{"component":"/ingest","input":{"source":{"base64":"\#(content)","filename":"\#(id).pdf"}}}}"#
    }

    func peakOfTwoExecutes(budget: Int) async throws -> Int {
        let overlap = Overlap()
        let ingester = FakeIngester { request in
            try await overlap.run()
            return try await FakeIngester.indexing(request)
        }
        let app = TestApp.make(ingester: ingester) { config in
            config.maxBodyBytes = 1 << 20
            config.maxInflightBodyBytes = budget
        }
        try await app.test(.router) { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for id in ["a", "b"] {
                    group.addTask {
                        let reply = try await client.rpc(Self.body(bytes: 300_000, id: id)).json()
                        #expect(reply["result"]?["output"]?["status"] == "indexed", "\(reply)")
                    }
                }
                try await group.waitForAll()
            }
        }
        return overlap.peak
    }

    @Test func executesBeyondTheBudgetWaitForRoom() async throws {
        // Each body is ~400 KB; a 600 KB budget holds one at a time.
        #expect(try await peakOfTwoExecutes(budget: 600_000) == 1)
    }

    /// A blob execute (its ~400 KB content arriving in the reply POST) and a ~400 KB base64
    /// execute at once; the peak of executions in flight.
    func peakOfBlobAndInlineExecutes(budget: Int) async throws -> Int {
        let overlap = Overlap()
        let ingester = FakeIngester { request in
            try await overlap.run()
            return try await FakeIngester.indexing(request)
        }
        let state = WorkerState(podName: "w1")
        let rpc = RPCState()
        let app = TestApp.make(ingester: ingester, state: state, rpc: rpc) { config in
            config.maxBodyBytes = 1 << 20
            config.maxInflightBodyBytes = budget
        }
        let content = Data(repeating: 0x25, count: 300_000).base64EncodedString()
        try await app.test(.router) { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let stream = try await client.rpc(#"{"jsonrpc":"2.0","id":"blob","method":"components/execute","params":{"component":"/ingest","input":{"source":{"blob_id":"b1"}}}}"#)
                    #expect(try stream.sseEvents().last?["result"]?["output"]?["status"] == "indexed", "\(stream.text.prefix(300))")
                }
                group.addTask {
                    let callbackID = try await eventually { await rpc.callbacks.pendingIDs.first }
                    let reply = #"{"jsonrpc":"2.0","id":"\#(callbackID.description)","result":{"data":{"filename":"b.pdf","base64":"\#(content)"},"blob_type":"data"}}"#
                    let response = try await client.rpc(reply, headers: [.stepflowInstanceID: state.instanceID])
                    #expect(response.status == .accepted)
                    // Now the inline one, while the blob's execution may still run.
                    let inline = try await client.rpc(Self.body(bytes: 300_000, id: "inline")).json()
                    #expect(inline["result"]?["output"]?["status"] == "indexed", "\(inline)")
                }
                try await group.waitForAll()
            }
        }
        return overlap.peak
    }

    @Test func aBlobsContentCountsInTheBudgetUntilItsExecutionEnds() async throws {
        // The blob's ~400 KB is held by its execution (not only while its reply POST is read):
        // with a 600 KB budget the inline execute waits for it.
        #expect(try await peakOfBlobAndInlineExecutes(budget: 600_000) == 1)
        #expect(try await peakOfBlobAndInlineExecutes(budget: 1 << 20) == 2)
    }

    @Test func executesWithinTheBudgetRunTogether() async throws {
        // The same two with room for both: they overlap, so the bound above is the budget's doing.
        #expect(try await peakOfTwoExecutes(budget: 1 << 20) == 2)
    }

    final class Box: Sendable { let value = Mutex(0) }
    final class Gate: Sendable { let state = Mutex((aHolds: false, released: false)) }

    /// A components/execute naming the URL `http://docs.example/<name>.md`.
    static func urlExecute(_ name: String) -> String {
        #"{"jsonrpc":"2.0","id":"\#(name)","method":"components/execute","params":{"component":"/ingest","input":{"source":"http://docs.example/\#(name).md"}}}"#
    }

    /// A document reserved by the execution (as a URL download does) adds to its request's hold:
    /// a need of the whole budget runs within what is left instead of waiting for itself, and a
    /// wait past the execute deadline while another execution holds the budget is -32003
    /// `resource_unavailable`.
    @Test func anExecutionsDocumentSharesTheBudgetWithItsRequest() async throws {
        let held = Box()
        let ingester = FakeIngester { request in
            let hold = try #require(BudgetHold.current)
            try await hold.reserve(upTo: 10_000)  // the whole budget: cut to what the request left
            held.value.withLock { $0 = hold.held }
            return try await FakeIngester.indexing(request)
        }
        let app = TestApp.make(ingester: ingester) { config in
            config.maxInflightBodyBytes = 10_000
            config.executeTimeout = .seconds(30)
        }
        try await app.test(.router) { client in
            let reply = try await client.rpc(#"{"jsonrpc":"2.0","id":"u","method":"components/execute","params":{"component":"/ingest","input":{"source":"http://docs.example/a.md"}}}"#).json()
            #expect(reply["result"]?["output"]?["status"] == "indexed", "\(reply)")
        }
        #expect(held.value.withLock { $0 } == 10_000)
    }

    @Test func aDocumentWaitingPastTheDeadlineIsResourceUnavailable() async throws {
        // "a" takes most of the budget and keeps it (past its own deadline) until the test lets
        // go; "b" waits for room past its deadline.
        let gate = Gate()
        let ingester = FakeIngester { request in
            let first = request.input == .url("http://docs.example/a.md")
            try await BudgetHold.current?.reserve(upTo: 8_000)
            if first {
                gate.state.withLock { $0.aHolds = true }
                while !gate.state.withLock({ $0.released }) { try? await Task.sleep(for: .milliseconds(10)) }
            }
            return try await FakeIngester.indexing(request)
        }
        let app = TestApp.make(ingester: ingester) { config in
            config.maxInflightBodyBytes = 10_000
            config.executeTimeout = .milliseconds(300)
        }
        try await app.test(.router) { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { _ = try await client.rpc(Self.urlExecute("a")) }
                group.addTask {
                    while !gate.state.withLock({ $0.aHolds }) { try await Task.sleep(for: .milliseconds(5)) }
                    let reply = try await client.rpc(Self.urlExecute("b")).json()
                    gate.state.withLock { $0.released = true }
                    #expect(reply["error"]?["code"] == .int(JSONRPCError.executionFailedCode), "\(reply)")
                    #expect(reply["error"]?["data"]?["reason"] == "resource_unavailable", "\(reply)")
                    #expect(reply["error"]?["message"]?.stringValue?.contains("INGEST_MAX_INFLIGHT_BODY_BYTES") == true, "\(reply)")
                }
                try await group.waitForAll()
            }
        }
    }
}
