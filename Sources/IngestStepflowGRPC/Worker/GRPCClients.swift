import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import IngestCore
import IngestKit
import Logging
import Synchronization

/// One gRPC client per orchestrator address, made on first use (a task may name an orchestrator
/// other than the one the worker pulls from). Their connections run inside ``run()``, a child of
/// the worker's task group; ``shutdown()`` ends them once the last task completed.
///
/// A client idle for ``ClientUses/idleLimit`` (no call in flight) is closed and forgotten by a
/// sweep every ``sweepInterval``, so orchestrators that moved or went away do not keep
/// connections (and their reconnect attempts) forever; the next call makes a fresh one. The
/// TasksService client (and BlobService's, when at the same address) is never evicted.
package final class GRPCConnections: Sendable {
    typealias Client = GRPCClient<HTTP2ClientTransport.Posix>

    private struct State {
        var clients: [GRPCEndpoint: Client] = [:]
        var uses: ClientUses
    }

    /// An orchestrator unused for 5 minutes has likely moved or gone; a new call reconnects.
    package static let defaultIdleLimit: Duration = .seconds(300)
    package static let defaultSweepInterval: Duration = .seconds(30)
    /// The transport's own reconnect back-off: quick after an orchestrator restart; our pull
    /// loop adds its own (``GRPCWorkerSettings/reconnect``) on top.
    static let transportBackoff = (initial: Duration.milliseconds(250), max: Duration.seconds(5), multiplier: 2.0, jitter: 0.2)

    private let state: Mutex<State>
    private let tlsFiles: GRPCTLSFiles
    private let sweepInterval: Duration
    /// Monotonic time since this value was made (a seam: tests pass their own).
    private let now: @Sendable () -> Duration
    /// Waits between sweeps; throws when cancelled (a seam: tests pass a blocking fake).
    private let sleep: @Sendable (Duration) async throws -> Void
    private let started: AsyncStream<Client>
    private let starter: AsyncStream<Client>.Continuation

    /// - Parameters:
    ///   - pinned: the addresses never evicted (the tasks endpoint).
    ///   - idleLimit: how long a client goes unused before it is closed.
    ///   - sweepInterval: how often idle clients are looked for.
    package init(
        pinned: Set<GRPCEndpoint> = [],
        tlsFiles: GRPCTLSFiles = GRPCTLSFiles(),
        idleLimit: Duration = GRPCConnections.defaultIdleLimit,
        sweepInterval: Duration = GRPCConnections.defaultSweepInterval,
        now: (@Sendable () -> Duration)? = nil,
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    ) {
        let origin = ContinuousClock.now
        self.now = now ?? { origin.duration(to: .now) }
        self.state = Mutex(State(uses: ClientUses(pinned: pinned, idleLimit: idleLimit)))
        self.tlsFiles = tlsFiles
        self.sweepInterval = sweepInterval
        self.sleep = sleep
        (started, starter) = AsyncStream.makeStream(of: Client.self)
    }

    /// Calls `body` with the client for `endpoint` (created, and its connections started, on
    /// first use), counted as in flight so the sweep does not close it meanwhile.
    func withClient<Result: Sendable>(_ endpoint: GRPCEndpoint, _ body: (Client) async throws -> Result) async throws -> Result {
        let client = try state.withLock { state in
            let client = try state.clients[endpoint] ?? makeClient(endpoint, into: &state)
            state.uses.begin(endpoint, now: now())
            return client
        }
        defer { state.withLock { $0.uses.end(endpoint, now: now()) } }
        return try await body(client)
    }

    private func makeClient(_ endpoint: GRPCEndpoint, into state: inout State) throws -> Client {
        let transport = try HTTP2ClientTransport.Posix(
            target: Self.target(endpoint),
            transportSecurity: endpoint.tls ? Self.tls(tlsFiles) : .plaintext,
            config: .defaults { config in
                let backoff = Self.transportBackoff
                config.backoff = .init(initial: backoff.initial, max: backoff.max, multiplier: backoff.multiplier, jitter: backoff.jitter)
            }
        )
        let client = GRPCClient(transport: transport)
        state.clients[endpoint] = client
        starter.yield(client)
        return client
    }

    /// A DNS name is resolved (and, with TLS, is the name the certificate must carry). With TLS an
    /// IP address is dialled as such: the DNS target would send it as the TLS server name, which
    /// TLS forbids (NIOSSL refuses the connection), so its certificate is checked against the
    /// trusted roots only.
    static func target(_ endpoint: GRPCEndpoint) -> any ResolvableTarget {
        let dns: ResolvableTargets.DNS = .dns(host: endpoint.host, port: endpoint.port)
        guard endpoint.tls else { return dns }
        if endpoint.host.contains(":") { return ResolvableTargets.IPv6.ipv6(host: endpoint.host, port: endpoint.port) }
        let octets = endpoint.host.split(separator: ".", omittingEmptySubsequences: false)
        if octets.count == 4, octets.allSatisfy({ UInt8($0) != nil }) { return ResolvableTargets.IPv4.ipv4(host: endpoint.host, port: endpoint.port) }
        return dns
    }

    /// TLS trusting STEPFLOW_TLS_CA_FILE (else the system's roots), presenting the client
    /// certificate when STEPFLOW_TLS_CERT_FILE/KEY_FILE are set (mutual TLS).
    static func tls(_ files: GRPCTLSFiles) -> HTTP2ClientTransport.Posix.TransportSecurity {
        .tls { config in
            if let ca = files.caFile {
                config.trustRoots = .certificates([.file(path: ca, format: .pem)])
            }
            if let cert = files.certFile, let key = files.keyFile {
                config.certificateChain = [.file(path: cert, format: .pem)]
                config.privateKey = .file(path: key, format: .pem)
            }
        }
    }

    /// Closes and forgets the clients idle for the limit at `now`; returns their addresses.
    @discardableResult
    func evictIdle(now: Duration) -> [GRPCEndpoint] {
        let evicted = state.withLock { state in
            state.uses.idleClients(now: now).compactMap { endpoint -> (GRPCEndpoint, Client)? in
                state.uses.forget(endpoint)
                return state.clients.removeValue(forKey: endpoint).map { (endpoint, $0) }
            }
        }
        for (_, client) in evicted { client.beginGracefulShutdown() }
        return evicted.map(\.0)
    }

    /// The addresses that have a client now (tests).
    var cachedEndpoints: Set<GRPCEndpoint> { state.withLock { Set($0.clients.keys) } }

    /// Runs every client's connections, and the idle sweep, until ``shutdown()``.
    package func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { [self] in
                while (try? await sleep(sweepInterval)) != nil, !Task.isCancelled {
                    evictIdle(now: now())
                }
            }
            for await client in started {
                group.addTask { try? await client.runConnections() }
            }
            group.cancelAll()
        }
    }

    /// Lets in-flight RPCs finish, then closes every connection; ``run()`` returns.
    package func shutdown() {
        starter.finish()
        for client in state.withLock({ Array($0.clients.values) }) {
            client.beginGracefulShutdown()
        }
    }
}

/// Calls in flight and last use per client address: the sweep's inputs, kept apart from the
/// clients and the clock so the eviction rule is a pure function.
struct ClientUses: Sendable, Equatable {
    struct Record: Sendable, Equatable {
        var inFlight = 0
        /// When the last call ended (or the first began), in monotonic time.
        var lastUse: Duration
    }

    /// Never evicted (the tasks endpoint: the pull stream lives there).
    let pinned: Set<GRPCEndpoint>
    let idleLimit: Duration
    private(set) var records: [GRPCEndpoint: Record] = [:]

    init(pinned: Set<GRPCEndpoint>, idleLimit: Duration, records: [GRPCEndpoint: Record] = [:]) {
        self.pinned = pinned
        self.idleLimit = idleLimit
        self.records = records
    }

    mutating func begin(_ endpoint: GRPCEndpoint, now: Duration) {
        records[endpoint, default: Record(lastUse: now)].inFlight += 1
    }

    mutating func end(_ endpoint: GRPCEndpoint, now: Duration) {
        guard var record = records[endpoint] else { return }
        record.inFlight = max(0, record.inFlight - 1)
        record.lastUse = now
        records[endpoint] = record
    }

    mutating func forget(_ endpoint: GRPCEndpoint) {
        records[endpoint] = nil
    }

    /// The clients to close at `now`: no call in flight, unused for `idleLimit` or longer, not pinned.
    func idleClients(now: Duration) -> [GRPCEndpoint] {
        records.compactMap { endpoint, record in
            !pinned.contains(endpoint) && record.inFlight == 0 && now - record.lastUse >= idleLimit ? endpoint : nil
        }
    }
}

extension GRPCTLSFiles {
    /// Loads the files as the connections will (certificates, key, and that the key is the
    /// certificate's), so a wrong file exits 2 at startup rather than failing every call.
    package func checkLoadable() throws(IngestError) {
        guard !isEmpty else { return }
        do {
            _ = try HTTP2ClientTransport.Posix(target: .dns(host: "localhost", port: 1), transportSecurity: GRPCConnections.tls(self))
        } catch {
            let named = [("STEPFLOW_TLS_CA_FILE", caFile), ("STEPFLOW_TLS_CERT_FILE", certFile), ("STEPFLOW_TLS_KEY_FILE", keyFile)]
                .compactMap { name, path in path.map { "\(name)=\($0)" } }.joined(separator: ", ")
            let cause = (error as? RuntimeError)?.cause.map { "\($0)" } ?? "\(error)"
            throw IngestError(.configuration, "the TLS files cannot be used (\(named)): \(cause); give PEM certificates and the private key that belongs to STEPFLOW_TLS_CERT_FILE")
        }
    }
}

/// How long each unary call may take, named here with its reason rather than written at the
/// call site. Not settings: each follows from the orchestrator's own timing or the message size.
struct GRPCCallTimeouts: Sendable, Equatable {
    /// `TaskHeartbeat`: shorter than the orchestrator's 5 s crash detection, so a stuck call is
    /// retried in time.
    var heartbeat: Duration = .seconds(4)
    /// `CompleteTask`: carries the output; the task runner retries it until its own patience ends.
    var complete: Duration = .seconds(30)
    /// `GetBlob`: carries a whole document (up to INGEST_MAX_BODY_BYTES).
    var blob: Duration = .seconds(60)
    /// `GetOrchestratorForRun`: a lookup.
    var orchestratorLookup: Duration = .seconds(10)
}

/// Per-call options: messages up to the configured size both ways, fail fast when the
/// orchestrator is unreachable (our loops decide when to retry), and a timeout per unary call.
struct GRPCCallOptions: Sendable {
    /// INGEST_MAX_BODY_BYTES: blobs, completions, heartbeats.
    let maxMessageBytes: Int
    /// STEPFLOW_MAX_ASSIGNMENT_BYTES: the `PullTasks` stream only.
    let maxAssignmentBytes: Int
    /// Per unary call.
    let timeouts: GRPCCallTimeouts

    init(maxMessageBytes: Int, maxAssignmentBytes: Int? = nil, timeouts: GRPCCallTimeouts = GRPCCallTimeouts()) {
        self.maxMessageBytes = maxMessageBytes
        self.maxAssignmentBytes = maxAssignmentBytes ?? maxMessageBytes
        self.timeouts = timeouts
    }

    func options(timeout: Duration?) -> CallOptions {
        Self.options(limit: maxMessageBytes, timeout: timeout)
    }

    /// For `PullTasks`: an assignment up to STEPFLOW_MAX_ASSIGNMENT_BYTES is decoded, so one whose
    /// input is over INGEST_MAX_BODY_BYTES reaches the task runner and fails alone.
    var pullOptions: CallOptions { Self.options(limit: maxAssignmentBytes, timeout: nil) }

    private static func options(limit: Int, timeout: Duration?) -> CallOptions {
        var options = CallOptions.defaults
        // grpc-swift-nio-transport 2.x bounds RECEIVED messages with maxRequestMessageBytes (its
        // stream decoder's payload limit) and does not read maxResponseMessageBytes: set both.
        options.maxRequestMessageBytes = limit
        options.maxResponseMessageBytes = limit
        options.waitForReady = false
        options.timeout = timeout
        return options
    }
}

/// `TasksService` over gRPC.
package struct GRPCTaskSource: TaskSource {
    let connections: GRPCConnections
    let endpoint: GRPCEndpoint
    let calls: GRPCCallOptions

    package func pullTasks(_ request: Stepflow_V1_PullTasksRequest, body: @escaping @Sendable (AssignmentReader) async throws -> Void) async throws {
        try await connections.withClient(endpoint) { client in
            try await client.serverStreaming(
                request: ClientRequest(message: request),
                descriptor: Stepflow_V1_TasksService.Method.PullTasks.descriptor,
                serializer: ProtobufSerializer<Stepflow_V1_PullTasksRequest>(),
                deserializer: ReceivedAssignmentDeserializer(),
                options: calls.pullOptions
            ) { response in
                if case .failure(let error) = response.accepted { throw error }
                var iterator = response.messages.makeAsyncIterator()
                try await body(AssignmentReader { try await iterator.next() })
            }
        }
    }

    package func orchestratorURL(forRun runID: String) async throws -> String {
        var request = Stepflow_V1_GetOrchestratorForRunRequest()
        request.runID = runID
        return try await connections.withClient(endpoint) { client in
            try await Stepflow_V1_TasksService.Client(wrapping: client).getOrchestratorForRun(request, options: calls.options(timeout: calls.timeouts.orchestratorLookup)).orchestratorServiceURL
        }
    }
}

/// Decodes a `TaskAssignment` and keeps the size it had on the wire, so the worker counts the
/// bytes it received instead of encoding the input again to measure it.
struct ReceivedAssignmentDeserializer: MessageDeserializer {
    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> ReceivedAssignment {
        let assignment = try ProtobufDeserializer<Stepflow_V1_TaskAssignment>().deserialize(serializedMessageBytes)
        return ReceivedAssignment(assignment, bytes: serializedMessageBytes.count)
    }
}

/// `OrchestratorService` over gRPC, at the address each task names.
package struct GRPCOrchestratorService: OrchestratorService {
    let connections: GRPCConnections
    /// The worker's TasksService address: its security applies to every task's address.
    let tasks: GRPCEndpoint
    let calls: GRPCCallOptions

    /// The address `url` is reached at: parsed, then never less secure than the tasks address.
    func endpoint(_ url: String) throws -> GRPCEndpoint {
        do {
            return tasks.securing(try GRPCEndpoint.parse(url, what: "orchestrator_service_url"))
        } catch {
            throw RPCError(code: .invalidArgument, message: error.message)
        }
    }

    package func taskHeartbeat(_ request: Stepflow_V1_TaskHeartbeatRequest, at url: String) async throws -> Stepflow_V1_TaskHeartbeatResponse {
        try await connections.withClient(try endpoint(url)) { client in
            try await Stepflow_V1_OrchestratorService.Client(wrapping: client).taskHeartbeat(request, options: calls.options(timeout: calls.timeouts.heartbeat))
        }
    }

    package func completeTask(_ request: Stepflow_V1_CompleteTaskRequest, at url: String) async throws {
        _ = try await connections.withClient(try endpoint(url)) { client in
            try await Stepflow_V1_OrchestratorService.Client(wrapping: client).completeTask(request, options: calls.options(timeout: calls.timeouts.complete))
        }
    }
}

/// `BlobService.GetBlob` over gRPC (STEPFLOW_BLOB_URL).
package struct GRPCBlobReader: BlobReader {
    let connections: GRPCConnections
    let endpoint: GRPCEndpoint
    let calls: GRPCCallOptions

    /// Inside an execution the blob's bytes are reserved in its ``BudgetHold`` before the call
    /// (the JSON cap, at most the whole budget: the size is known only on arrival), trimmed to the
    /// blob's size after; a raw blob over INGEST_MAX_FILE_BYTES is refused (`too_large`).
    package func blob(id: String) async throws(IngestError) -> BlobContent {
        let hold = BudgetHold.current
        let reserved = try await hold?.reserve(upTo: hold?.budget.maxJSONBlobBytes ?? 0) ?? 0
        let content = try await read(id: id)
        switch content {
        case .raw(let bytes, _, _):
            hold?.giveBack(reserved - bytes.count)
            if let hold { try BlobLimits.checkRaw(bytes: bytes.count, blobID: id, maxFileBytes: hold.budget.maxFileBytes) }
        case .json(let value):
            hold?.giveBack(reserved - value.approximateTextBytes)
        }
        return content
    }

    private func read(id: String) async throws(IngestError) -> BlobContent {
        var request = Stepflow_V1_GetBlobRequest()
        request.blobID = id
        let response: Stepflow_V1_GetBlobResponse
        do {
            response = try await connections.withClient(endpoint) { client in
                try await Stepflow_V1_BlobService.Client(wrapping: client).getBlob(request, options: calls.options(timeout: calls.timeouts.blob))
            }
        } catch let error as RPCError where error.code == .notFound {
            throw IngestError(.invalidInput, "blob \(id) does not exist in the orchestrator's blob store (\(endpoint)); store the document with /builtin/put_blob and pass the blob_id it returns")
        } catch let error as RPCError where error.code == .resourceExhausted {
            throw IngestError(.tooLarge, "blob \(id) is larger than INGEST_MAX_BODY_BYTES (\(calls.maxMessageBytes) bytes): \(error.message); raise the limit or pass a smaller document")
        } catch let error as RPCError {
            throw IngestError(.serviceUnavailable, "could not read blob \(id) from BlobService at \(endpoint): \(error.code): \(error.message); check STEPFLOW_BLOB_URL", transient: true)
        } catch {
            throw IngestError(.serviceUnavailable, "could not read blob \(id) from BlobService at \(endpoint): \(error); check STEPFLOW_BLOB_URL", transient: true)
        }
        switch response.content {
        case .jsonData(let value):
            return .json(ProtobufJSON.json(value))
        case .rawData(let bytes):
            return .raw(bytes: bytes, filename: response.hasFilename ? response.filename : nil, contentType: response.hasContentType ? response.contentType : nil)
        case nil:
            throw IngestError(.invalidInput, "blob \(id) is empty (neither JSON nor binary content); store the document again")
        }
    }
}
