import IngestService
import Logging
import ServiceLifecycle
import Testing

/// The drain gate both servers (`serve`, `serve-embeddings`) run as the last service of their group.
@Suite struct DrainGateTests {
    @Test func drainGateDrainsAtOnce() async throws {
        // A grace of 10 minutes: draining must show long before it ends (no wall-clock bound).
        let state = DrainFlag()
        let gate = DrainGate(drain: state, grace: .seconds(600), logger: quietLogger)
        let group = ServiceGroup(configuration: .init(services: [gate], logger: quietLogger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await Task.sleep(for: .milliseconds(50))
            #expect(!state.isDraining)
            await group.triggerGracefulShutdown()
            _ = try await eventually { state.isDraining ? true : nil }
            tasks.cancelAll()
        }
    }

    @Test func drainGateWaitsTheGrace() async throws {
        let state = DrainFlag()
        let gate = DrainGate(drain: state, grace: .milliseconds(300), logger: quietLogger)
        let group = ServiceGroup(configuration: .init(services: [gate], logger: quietLogger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await Task.sleep(for: .milliseconds(50))
            let started = ContinuousClock.now
            await group.triggerGracefulShutdown()
            try await tasks.next()
            #expect(state.isDraining)
            #expect(ContinuousClock.now - started >= .milliseconds(250))
        }
    }
}
