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
package final class GRPCConnections: Sendable {
    typealias Client = GRPCClient<HTTP2ClientTransport.Posix>

    private let clients = Mutex<[GRPCEndpoint: Client]>([:])
    private let started: AsyncStream<Client>
    private let starter: AsyncStream<Client>.Continuation

    package init() {
        (started, starter) = AsyncStream.makeStream(of: Client.self)
    }

    /// The client for `endpoint`, created (and its connections started) on first use.
    func client(for endpoint: GRPCEndpoint) throws -> Client {
        try clients.withLock { clients in
            if let client = clients[endpoint] { return client }
            let transport = try HTTP2ClientTransport.Posix(
                target: .dns(host: endpoint.host, port: endpoint.port),
                transportSecurity: endpoint.tls ? .tls : .plaintext,
                config: .defaults { config in
                    // Reconnect quickly after an orchestrator restart; our loop adds its own back-off.
                    config.backoff = .init(initial: .milliseconds(250), max: .seconds(5), multiplier: 2, jitter: 0.2)
                }
            )
            let client = GRPCClient(transport: transport)
            clients[endpoint] = client
            starter.yield(client)
            return client
        }
    }

    /// Runs every client's connections until ``shutdown()``.
    package func run() async {
        await withDiscardingTaskGroup { group in
            for await client in started {
                group.addTask { try? await client.runConnections() }
            }
        }
    }

    /// Lets in-flight RPCs finish, then closes every connection; ``run()`` returns.
    package func shutdown() {
        starter.finish()
        for client in clients.withLock({ Array($0.values) }) {
            client.beginGracefulShutdown()
        }
    }
}

/// Per-call options: messages up to the configured size both ways, fail fast when the
/// orchestrator is unreachable (our loops decide when to retry), and a timeout per unary call.
struct GRPCCallOptions: Sendable {
    /// INGEST_MAX_BODY_BYTES: blobs, completions, heartbeats.
    let maxMessageBytes: Int
    /// STEPFLOW_MAX_ASSIGNMENT_BYTES: the `PullTasks` stream only.
    let maxAssignmentBytes: Int

    init(maxMessageBytes: Int, maxAssignmentBytes: Int? = nil) {
        self.maxMessageBytes = maxMessageBytes
        self.maxAssignmentBytes = maxAssignmentBytes ?? maxMessageBytes
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
        let client = Stepflow_V1_TasksService.Client(wrapping: try connections.client(for: endpoint))
        try await client.pullTasks(request: ClientRequest(message: request), options: calls.pullOptions) { response in
            if case .failure(let error) = response.accepted { throw error }
            var iterator = response.messages.makeAsyncIterator()
            try await body(AssignmentReader { try await iterator.next() })
        }
    }

    package func orchestratorURL(forRun runID: String) async throws -> String {
        let client = Stepflow_V1_TasksService.Client(wrapping: try connections.client(for: endpoint))
        var request = Stepflow_V1_GetOrchestratorForRunRequest()
        request.runID = runID
        return try await client.getOrchestratorForRun(request, options: calls.options(timeout: .seconds(10))).orchestratorServiceURL
    }
}

/// `OrchestratorService` over gRPC, at the address each task names.
package struct GRPCOrchestratorService: OrchestratorService {
    let connections: GRPCConnections
    let calls: GRPCCallOptions

    private func client(_ url: String) throws -> Stepflow_V1_OrchestratorService.Client<HTTP2ClientTransport.Posix> {
        let endpoint: GRPCEndpoint
        do {
            endpoint = try GRPCEndpoint.parse(url, what: "orchestrator_service_url")
        } catch {
            throw RPCError(code: .invalidArgument, message: error.message)
        }
        return Stepflow_V1_OrchestratorService.Client(wrapping: try connections.client(for: endpoint))
    }

    package func taskHeartbeat(_ request: Stepflow_V1_TaskHeartbeatRequest, at url: String) async throws -> Stepflow_V1_TaskHeartbeatResponse {
        // Shorter than the orchestrator's 5 s crash detection, so a stuck call is retried in time.
        try await client(url).taskHeartbeat(request, options: calls.options(timeout: .seconds(4)))
    }

    package func completeTask(_ request: Stepflow_V1_CompleteTaskRequest, at url: String) async throws {
        _ = try await client(url).completeTask(request, options: calls.options(timeout: .seconds(30)))
    }
}

/// `BlobService.GetBlob` over gRPC (STEPFLOW_BLOB_URL).
package struct GRPCBlobReader: BlobReader {
    let connections: GRPCConnections
    let endpoint: GRPCEndpoint
    let calls: GRPCCallOptions

    package func blob(id: String) async throws(IngestError) -> BlobContent {
        var request = Stepflow_V1_GetBlobRequest()
        request.blobID = id
        let response: Stepflow_V1_GetBlobResponse
        do {
            let client = Stepflow_V1_BlobService.Client(wrapping: try connections.client(for: endpoint))
            response = try await client.getBlob(request, options: calls.options(timeout: .seconds(60)))
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
