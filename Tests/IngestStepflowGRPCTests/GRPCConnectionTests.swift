import Foundation
import GRPCCore
import IngestKit
import Synchronization
import Testing

@testable import IngestStepflowGRPC

private let tasks = GRPCEndpoint(host: "tasks", port: 7840, tls: false)
private let other = GRPCEndpoint(host: "other", port: 7841, tls: false)
private let blobs = GRPCEndpoint(host: "blobs", port: 7842, tls: false)

/// The eviction rule alone: no clients, no clock.
@Suite struct ClientUsesTests {
    @Test func evictsOnlyUnpinnedClientsWithNothingInFlightIdleForTheLimit() {
        var uses = ClientUses(pinned: [tasks], idleLimit: .seconds(300))
        for endpoint in [tasks, other, blobs] {
            uses.begin(endpoint, now: .seconds(0))
            uses.end(endpoint, now: .seconds(10))
        }
        #expect(uses.idleClients(now: .seconds(309)).isEmpty)
        #expect(Set(uses.idleClients(now: .seconds(310))) == [other, blobs])
        #expect(Set(uses.idleClients(now: .seconds(100_000))) == [other, blobs], "the tasks endpoint's client is never evicted")
    }

    @Test func aCallInFlightKeepsItsClientHoweverLongItLasts() {
        var uses = ClientUses(pinned: [], idleLimit: .seconds(300))
        uses.begin(other, now: .seconds(0))  // e.g. a long CompleteTask
        uses.begin(other, now: .seconds(1))
        uses.end(other, now: .seconds(2))
        #expect(uses.idleClients(now: .seconds(10_000)).isEmpty)
        uses.end(other, now: .seconds(5000))
        #expect(uses.idleClients(now: .seconds(5299)).isEmpty, "idle time counts from the last call's end")
        #expect(uses.idleClients(now: .seconds(5300)) == [other])
    }

    @Test func aForgottenClientStartsOver() {
        var uses = ClientUses(pinned: [], idleLimit: .seconds(300))
        uses.begin(other, now: .seconds(0))
        uses.end(other, now: .seconds(0))
        uses.forget(other)
        #expect(uses.records.isEmpty)
        uses.end(other, now: .seconds(1))  // a stray end does not resurrect it
        #expect(uses.records.isEmpty)
    }
}

/// ``GRPCConnections`` with a fake clock: clients are real but never dialled (no RPC is made).
@Suite struct GRPCConnectionsEvictionTests {
    @Test func idleClientsAreClosedAndAFreshOneIsMadeOnTheNextUse() async throws {
        let clock = Mutex<Duration>(.zero)
        let connections = GRPCConnections(pinned: [tasks], now: { clock.withLock { $0 } })
        try await connections.withClient(tasks) { _ in }
        try await connections.withClient(other) { _ in }
        #expect(connections.evictIdle(now: .seconds(299)).isEmpty)
        #expect(connections.evictIdle(now: .seconds(300)) == [other])
        #expect(connections.cachedEndpoints == [tasks])

        try await connections.withClient(other) { _ in }
        #expect(connections.cachedEndpoints == [tasks, other])
        connections.shutdown()
    }

    @Test func aClientInUseIsNotEvicted() async throws {
        let connections = GRPCConnections(pinned: [], now: { .zero })
        let evictedDuringTheCall = try await connections.withClient(other) { _ in
            connections.evictIdle(now: .seconds(100_000))
        }
        #expect(evictedDuringTheCall.isEmpty)
        #expect(connections.evictIdle(now: .seconds(300)) == [other])
        connections.shutdown()
    }

    @Test func theSweepRunsInsideRunOnEachTick() async throws {
        let ticks = FakeTicks()
        let clock = Mutex<Duration>(.zero)
        let connections = GRPCConnections(pinned: [tasks], idleLimit: .seconds(300), sweepInterval: .seconds(30), now: { clock.withLock { $0 } }, sleep: ticks.sleep)
        try await connections.withClient(tasks) { _ in }
        try await connections.withClient(other) { _ in }
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await connections.run() }
            await ticks.waitForSleeper(1)
            #expect(ticks.requested == [.seconds(30)])

            clock.withLock { $0 = .seconds(299) }
            ticks.tick()
            await ticks.waitForSleeper(2)  // the sweep after the tick is done
            #expect(connections.cachedEndpoints == [tasks, other])

            clock.withLock { $0 = .seconds(300) }
            ticks.tick()
            await ticks.waitForSleeper(3)
            #expect(connections.cachedEndpoints == [tasks])

            connections.shutdown()  // run() returns, cancelling the sweep's wait
        }
    }
}

/// A sleep that blocks until the test ticks (or the sleeper is cancelled); counts the sleepers.
final class FakeTicks: Sendable {
    private struct State {
        var sleepers = 0
        var requested: [Duration] = []
        var waiting: CheckedContinuation<Void, any Error>?
        var pendingTicks = 0
        var watchers: [(Int, CheckedContinuation<Void, Never>)] = []
    }

    private let state = Mutex(State())

    var requested: [Duration] { state.withLock { $0.requested } }

    @Sendable func sleep(_ duration: Duration) async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let ready: [CheckedContinuation<Void, Never>] = state.withLock { state in
                    state.sleepers += 1
                    state.requested.append(duration)
                    if state.pendingTicks > 0 {
                        state.pendingTicks -= 1
                        continuation.resume()
                    } else {
                        state.waiting = continuation
                    }
                    let count = state.sleepers
                    let ready = state.watchers.filter { $0.0 <= count }.map(\.1)
                    state.watchers.removeAll { $0.0 <= count }
                    return ready
                }
                for watcher in ready { watcher.resume() }
            }
        } onCancel: {
            state.withLock { state in
                let waiting = state.waiting
                state.waiting = nil
                return waiting
            }?.resume(throwing: CancellationError())
        }
    }

    /// Ends the current sleep (or the next one).
    func tick() {
        state.withLock { state -> CheckedContinuation<Void, any Error>? in
            if let waiting = state.waiting {
                state.waiting = nil
                return waiting
            }
            state.pendingTicks += 1
            return nil
        }?.resume()
    }

    /// Returns once `count` sleeps have begun.
    func waitForSleeper(_ count: Int) async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state in
                if state.sleepers >= count { return true }
                state.watchers.append((count, continuation))
                return false
            }
            if now { continuation.resume() }
        }
    }
}

@Suite struct NoDowngradeTests {
    @Test func aTaskAddressIsNeverLessSecureThanTheTasksAddress() throws {
        let tlsTasks = GRPCEndpoint(host: "stepflow", port: 7840, tls: true)
        #expect(tlsTasks.securing(GRPCEndpoint(host: "o2", port: 7841, tls: false)) == GRPCEndpoint(host: "o2", port: 7841, tls: true))
        #expect(tlsTasks.securing(GRPCEndpoint(host: "o2", port: 443, tls: true)) == GRPCEndpoint(host: "o2", port: 443, tls: true))
        #expect(tasks.securing(GRPCEndpoint(host: "o2", port: 7841, tls: false)) == GRPCEndpoint(host: "o2", port: 7841, tls: false), "plaintext stays plaintext")
        #expect(tasks.securing(GRPCEndpoint(host: "o2", port: 7841, tls: true)).tls, "a TLS address is kept even when the tasks address is plaintext")
    }

    @Test(arguments: ["http://o2:7841", "grpc://o2:7841", "o2:7841", "https://o2:7841"])
    func theOrchestratorServiceUpgradesPlaintextURLsUnderTLS(_ url: String) throws {
        let service = GRPCOrchestratorService(connections: GRPCConnections(), tasks: GRPCEndpoint(host: "stepflow", port: 7840, tls: true), calls: GRPCCallOptions(maxMessageBytes: 1))
        #expect(try service.endpoint(url) == GRPCEndpoint(host: "o2", port: 7841, tls: true))
    }

    @Test func aBadTaskURLIsInvalidArgument() {
        let service = GRPCOrchestratorService(connections: GRPCConnections(), tasks: tasks, calls: GRPCCallOptions(maxMessageBytes: 1))
        #expect { try service.endpoint("ftp://o2:1") } throws: { ($0 as? RPCError)?.code == .invalidArgument }
    }
}

@Suite struct GRPCTLSSettingsTests {
    /// A temp dir with a PEM-looking CA, certificate and key, and a file that is not PEM.
    struct Files {
        let dir: URL
        var ca: String { dir.appending(path: "ca.pem").path }
        var cert: String { dir.appending(path: "client.pem").path }
        var key: String { dir.appending(path: "client.key").path }
        var notPEM: String { dir.appending(path: "client.der").path }
        var missing: String { dir.appending(path: "missing.pem").path }

        init() throws {
            dir = FileManager.default.temporaryDirectory.appending(path: "grpc-tls-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try Data("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n".utf8).write(to: URL(filePath: ca))
            try Data("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n".utf8).write(to: URL(filePath: cert))
            try Data("-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n".utf8).write(to: URL(filePath: key))
            try Data([0x30, 0x82, 0x01]).write(to: URL(filePath: notPEM))
        }

        func remove() { try? FileManager.default.removeItem(at: dir) }
    }

    func settings(_ values: [String: String]) throws(IngestError) -> GRPCWorkerSettings {
        try GRPCWorkerSettings.fromEnvironment(Environment(["STEPFLOW_TASKS_URL": "https://stepflow:7840"].merging(values) { $1 }))
    }

    /// The configuration error `values` give, or nil.
    func error(_ values: [String: String]) -> String? {
        do {
            _ = try settings(values)
            return nil
        } catch {
            #expect(error.reason == .configuration)
            return error.message
        }
    }

    @Test func readsEachVariable() throws {
        let files = try Files()
        defer { files.remove() }
        #expect(try settings([:]).tlsFiles == GRPCTLSFiles())
        #expect(try settings(["STEPFLOW_TLS_CA_FILE": files.ca]).tlsFiles == GRPCTLSFiles(caFile: files.ca))
        #expect(try settings(["STEPFLOW_TLS_CERT_FILE": files.cert, "STEPFLOW_TLS_KEY_FILE": files.key]).tlsFiles == GRPCTLSFiles(certFile: files.cert, keyFile: files.key))
        let all = try settings(["STEPFLOW_TLS_CA_FILE": files.ca, "STEPFLOW_TLS_CERT_FILE": files.cert, "STEPFLOW_TLS_KEY_FILE": files.key])
        #expect(all.tlsFiles == GRPCTLSFiles(caFile: files.ca, certFile: files.cert, keyFile: files.key))
    }

    @Test func theCertificateAndTheKeyGoTogether() throws {
        let files = try Files()
        defer { files.remove() }
        #expect(error(["STEPFLOW_TLS_CERT_FILE": files.cert])?.contains("STEPFLOW_TLS_KEY_FILE is not") == true)
        #expect(error(["STEPFLOW_TLS_KEY_FILE": files.key])?.contains("STEPFLOW_TLS_CERT_FILE is not") == true)
    }

    @Test(arguments: ["STEPFLOW_TLS_CA_FILE", "STEPFLOW_TLS_CERT_FILE", "STEPFLOW_TLS_KEY_FILE"])
    func anUnreadableOrNonPEMFileNamesItsVariable(_ name: String) throws {
        let files = try Files()
        defer { files.remove() }
        let pair = ["STEPFLOW_TLS_CERT_FILE": files.cert, "STEPFLOW_TLS_KEY_FILE": files.key]
        let missing = error(pair.merging([name: files.missing]) { $1 })
        #expect(missing?.hasPrefix("\(name)=\(files.missing) cannot be read") == true, "\(missing ?? "no error")")
        let notPEM = error(pair.merging([name: files.notPEM]) { $1 })
        #expect(notPEM?.hasPrefix("\(name)=\(files.notPEM) is not a PEM file") == true, "\(notPEM ?? "no error")")
    }

    @Test func theOperatorsAddressesMustAgreeOnTLS() throws {
        let files = try Files()
        defer { files.remove() }
        #expect(error(["STEPFLOW_BLOB_URL": "http://blobs:7842"])?.contains("STEPFLOW_BLOB_URL=http://blobs:7842 is plaintext") == true)
        #expect(try settings(["STEPFLOW_BLOB_URL": "https://blobs:7842"]).blobs.tls)
        #expect(error(["STEPFLOW_TASKS_URL": "http://stepflow:7840", "STEPFLOW_TLS_CA_FILE": files.ca])?.contains("STEPFLOW_TASKS_URL=http://stepflow:7840 is plaintext") == true)
    }
}
