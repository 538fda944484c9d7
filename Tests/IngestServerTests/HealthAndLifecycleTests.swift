import Foundation
import HTTPTypes
import HummingbirdTesting
import IngestCore
import IngestKit
import IngestServer
import IngestService
import IngestWorker
import Logging
import ServiceLifecycle
import Testing

@Suite struct HealthAndLifecycleTests {
    @Test func healthReportsInstanceIDAndDependencies() async throws {
        let state = WorkerState(podName: "w3")
        try await TestApp.make(state: state).test(.router) { client in
            // The monitor runs as an application service; wait for its first check.
            _ = try await eventually { state.dependencies }
            let response = try await client.execute(uri: "/health", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/json")
            let health = try response.json()
            #expect(health["status"] == "healthy")
            let id = try #require(health["instanceId"]?.stringValue)
            #expect(id == state.instanceID)
            #expect(id.wholeMatch(of: /w3-[0-9a-f]{8}/) != nil)
            #expect(health["ready"] == false)
            let dependencies = try #require(health["dependencies"]?.arrayValue)
            #expect(dependencies.map { $0["name"] } == ["docling", "opensearch"])
            #expect(dependencies[1]["ok"] == false && dependencies[1]["message"] == "connection refused")
            // Credentials in dependency URLs are never shown.
            #expect(dependencies[1]["url"] == "https://***@127.0.0.1:9200")
        }
    }

    @Test func slowDependencyCheckNeverBlocksHealth() async throws {
        let ingester = FakeIngester()
        let state = WorkerState(podName: "w1")
        let slow = SlowChecks()
        let monitor = DependencyMonitor(ingester: slow, state: state, interval: .seconds(10), timeout: .milliseconds(100))
        let started = ContinuousClock.now
        await monitor.refresh()
        // The check would take 10 minutes; a generous bound shows it was cut off, not awaited.
        #expect(ContinuousClock.now - started < .seconds(120))
        #expect(state.dependencies?.timedOut == true)
        try await TestApp.make(ingester: ingester, state: state).test(.router) { client in
            let response = try await client.execute(uri: "/health", method: .get)
            #expect(response.status == .ok)
        }
    }

    @Test func drainingHealthIs503() async throws {
        let state = WorkerState(podName: "w1")
        try await TestApp.make(state: state).test(.router) { client in
            state.startDraining()
            let response = try await client.execute(uri: "/health", method: .get)
            #expect(response.status == .serviceUnavailable)
            let health = try response.json()
            #expect(health["status"] == "draining")
            #expect(health["instanceId"] == .string(state.instanceID))
            // Requests are still served while draining.
            let reply = try await client.rpc(#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"runtime_protocol_version":1}}"#)
            #expect(reply.status == .ok)
        }
    }

    @Test func metricsAreInPrometheusTextFormat() async throws {
        try await TestApp.make().test(.router) { client in
            _ = try await client.rpc(ExecuteTests.execute(#"{"source":"/data/m.pdf"}"#))
            _ = try await client.rpc(ExecuteTests.execute(#"{"source":"fail:/data/m.pdf"}"#))
            let response = try await client.execute(uri: "/metrics", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
            let text = response.text
            for fragment in [
                #"ingest_documents_total{status="indexed"}"#,
                #"ingest_documents_total{status="failed"}"#,
                "ingest_chunks_total",
                #"ingest_failures_total{reason="parse_failed"}"#,
                #"ingest_stage_duration_seconds_bucket{stage="convert""#,
                #"ingest_rpc_requests_total{method="components/execute",outcome="ok"}"#,
                "# TYPE ingest_documents_total counter",
                "hb_requests",
            ] {
                #expect(text.contains(fragment), "missing \(fragment)")
            }
        }
    }
}

/// Dependency checks that take far longer than any health timeout.
struct SlowChecks: DocumentIngesting {
    func ingest(_ request: IngestRequest) async throws -> DocumentOutcome { DocumentOutcome(source: "", status: .indexed) }
    func checkDependencies() async -> [DependencyStatus] {
        try? await Task.sleep(for: .seconds(600))
        return []
    }
}
