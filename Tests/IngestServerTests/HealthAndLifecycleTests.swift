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

    @Test func instanceIDsAreUniqueTokens() {
        let ids = (0..<50).map { _ in WorkerState.makeInstanceID(podName: "ingest-7f9c/pod 1") }
        #expect(Set(ids).count == 50)
        #expect(ids.allSatisfy { $0.wholeMatch(of: /ingest-7f9c-pod-1-[0-9a-f]{8}/) != nil })
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

@Suite struct ConfigurationTests {
    @Test func defaults() throws {
        let config = try ServerConfiguration.fromEnvironment(["POD_NAME": "w1"])
        #expect(config.host == "0.0.0.0" && config.port == 8080 && config.podName == "w1")
        #expect(config.maxBodyBytes == 64 * 1024 * 1024)
        #expect(config.shutdownGrace == .seconds(15))
        #expect(config.executeTimeout == .seconds(900))
        #expect(config.idleTimeout > .seconds(90))
    }

    @Test func overrides() throws {
        let config = try ServerConfiguration.fromEnvironment([
            "SERVER_HOST": "127.0.0.1", "SERVER_PORT": "18081", "POD_NAME": "w2", "INGEST_MAX_BODY_BYTES": "1048576",
            "INGEST_SHUTDOWN_GRACE_SECONDS": "0", "INGEST_EXECUTE_TIMEOUT_SECONDS": "1.5", "INGEST_CALLBACK_TIMEOUT_SECONDS": "30",
        ])
        #expect(config.host == "127.0.0.1" && config.port == 18081 && config.podName == "w2")
        #expect(config.maxBodyBytes == 1_048_576)
        #expect(config.shutdownGrace == .zero)
        #expect(config.executeTimeout == .milliseconds(1500))
        #expect(config.callbackTimeout == .seconds(30))
    }

    @Test func podNameFallsBackToTheHostName() throws {
        #expect(try ServerConfiguration.fromEnvironment([:]).podName.isEmpty == false)
        #expect(try ServerConfiguration.fromEnvironment(["HOSTNAME": "pod-abc"]).podName == "pod-abc")
    }

    @Test(arguments: [
        ("SERVER_PORT", "http"), ("SERVER_PORT", "70000"), ("INGEST_MAX_BODY_BYTES", "0"),
        ("INGEST_EXECUTE_TIMEOUT_SECONDS", "0"), ("INGEST_SHUTDOWN_GRACE_SECONDS", "-1"), ("INGEST_EXECUTE_TIMEOUT_SECONDS", "nan"),
    ])
    func invalidValuesNameTheVariable(name: String, value: String) {
        #expect {
            try ServerConfiguration.fromEnvironment([name: value])
        } throws: { error in
            guard let error = error as? IngestError else { return false }
            return error.reason == .configuration && error.message.contains(name) && error.message.contains(value)
        }
    }
}
