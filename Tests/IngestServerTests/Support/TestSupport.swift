import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IngestCore
import IngestKit
import IngestServer
import IngestService
import IngestWorker
import Logging
import NIOCore
import Synchronization

/// An in-memory `DocumentIngesting`: records every request and answers with `behaviour`.
final class FakeIngester: DocumentIngesting {
    typealias Behaviour = @Sendable (IngestRequest) async throws -> DocumentOutcome

    private let recorded = Mutex<[IngestRequest]>([])
    private let cancelled = Atomic<Int>(0)
    let behaviour: Behaviour
    let dependencies: [DependencyStatus]

    init(dependencies: [DependencyStatus] = FakeIngester.healthyDependencies, behaviour: @escaping Behaviour = FakeIngester.indexing) {
        self.behaviour = behaviour
        self.dependencies = dependencies
    }

    var requests: [IngestRequest] { recorded.withLock { $0 } }
    var cancellations: Int { cancelled.load(ordering: .relaxed) }

    func ingest(_ request: IngestRequest) async throws -> DocumentOutcome {
        recorded.withLock { $0.append(request) }
        do {
            return try await behaviour(request)
        } catch is CancellationError {
            cancelled.add(1, ordering: .relaxed)
            throw CancellationError()
        }
    }

    func checkDependencies() async -> [DependencyStatus] { dependencies }

    static let healthyDependencies = [
        DependencyStatus(name: "docling", url: "http://127.0.0.1:5001", ok: true, message: "ok"),
        DependencyStatus(name: "opensearch", url: "https://admin:secret@127.0.0.1:9200", ok: false, message: "connection refused"),
    ]

    /// Indexes anything, except sources starting with "fail:", which fail to parse.
    static let indexing: Behaviour = { request in
        let source = FakeIngester.sourceName(request)
        if source.hasPrefix("fail:") {
            return DocumentOutcome(source: source, status: .failed, error: .init(reason: .parseFailed, message: "Docling could not parse '\(source)': not a PDF"))
        }
        return DocumentOutcome(
            source: source, documentID: "doc-1", filename: request.filename ?? "handbook.pdf", status: .indexed, chunks: 3,
            index: request.index ?? "documents", pages: 2, warnings: [], timings: .init(convert: 1.5, chunk: 0.01, embed: 0.2, index: 0.05)
        )
    }

    static func sourceName(_ request: IngestRequest) -> String {
        switch request.input {
        case .path(let p): p
        case .url(let u): u
        case .inline(let name, _): name
        }
    }
}

enum TestApp {
    static func configuration(_ edit: (inout ServerConfiguration) -> Void = { _ in }) -> ServerConfiguration {
        var config = ServerConfiguration(host: "127.0.0.1", port: 0, podName: "w1")
        config.healthRefreshInterval = .milliseconds(50)
        config.healthCheckTimeout = .milliseconds(500)
        edit(&config)
        return config
    }

    static let logger: Logger = {
        var logger = Logger(label: "ingest-server-tests")
        logger.logLevel = .critical
        return logger
    }()

    static func make(
        ingester: FakeIngester = FakeIngester(),
        state: WorkerState = WorkerState(podName: "w1"),
        rpc: RPCState = RPCState(),
        _ edit: (inout ServerConfiguration) -> Void = { _ in }
    ) -> some ApplicationProtocol {
        buildApplication(configuration: configuration(edit), ingester: ingester, state: state, rpc: rpc, logger: logger)
    }
}

extension TestClientProtocol {
    /// POSTs a JSON-RPC body to `/` the way the orchestrator does.
    func rpc(_ body: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        var all: HTTPFields = [.contentType: "application/json", .accept: "application/json, text/event-stream"]
        all.append(contentsOf: headers)
        return try await execute(uri: "/", method: .post, headers: all, body: ByteBuffer(string: body))
    }
}

extension TestResponse {
    /// The body as a JSON value (fails the test with the body text when it is not JSON).
    func json() throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(body.readableBytesView))
    }

    var text: String { String(buffer: body) }

    /// The SSE events of the body, each decoded from its `data: ` line.
    func sseEvents() throws -> [JSONValue] {
        try text.components(separatedBy: "\n\n").filter { !$0.isEmpty }.map { event in
            guard event.hasPrefix("data: "), !event.dropFirst(6).contains("\n") else {
                throw SSEFormatError(event: event)
            }
            return try JSONDecoder().decode(JSONValue.self, from: Data(event.dropFirst(6).utf8))
        }
    }
}

struct SSEFormatError: Error { var event: String }

extension HTTPField.Name {
    static let stepflowInstanceID = HTTPField.Name("Stepflow-Instance-Id")!
}

/// Repeats `condition` until it returns a value or `timeout` passes.
func eventually<T: Sendable>(timeout: Duration = .seconds(60), _ condition: @Sendable () async -> T?) async throws -> T {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if let value = await condition() { return value }
        try await Task.sleep(for: .milliseconds(10))
    }
    throw TimedOut()
}

struct TimedOut: Error {}

extension ServerConfiguration {
    /// The configuration read from `values` alone, as the tests write environments.
    static func fromEnvironment(_ values: [String: String]) throws -> ServerConfiguration {
        try fromEnvironment(Environment(values))
    }
}
