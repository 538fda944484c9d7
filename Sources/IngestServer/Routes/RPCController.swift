import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import IngestCore
import IngestKit
import IngestWorker
import Logging
import NIOCore
import Synchronization

/// `POST /`: every JSON-RPC message of the Stepflow orchestrator. Requests get a JSON
/// reply, or an SSE stream when the execution calls back (`blobs/get`); notifications and the
/// orchestrator's replies to our callbacks get 202.
package struct RPCController: Sendable {
    let component: IngestComponent
    let configuration: ServerConfiguration
    let state: WorkerState
    let rpc: RPCState
    let metrics: WorkerMetrics
    /// One permit per document byte (INGEST_MAX_INFLIGHT_BODY_BYTES): bounds the memory of
    /// bodies being read, parsed and decoded, and of the documents executions download or read
    /// as blobs; the component draws on the same budget.
    let budget: DocumentBudget
    var bodyBudget: AsyncLimiter { budget.limiter }

    /// A controller running `/ingest` executions on `ingester`.
    package init(ingester: any DocumentIngesting, configuration: ServerConfiguration, state: WorkerState, rpc: RPCState, metrics: WorkerMetrics) {
        let budget = configuration.documentBudget()
        self.component = IngestComponent(ingester: ingester, executeTimeout: configuration.executeTimeout, budget: budget)
        self.budget = budget
        self.configuration = configuration
        self.state = state
        self.rpc = rpc
        self.metrics = metrics
    }

    /// The header carrying the instance id on SSE responses; the orchestrator copies it into its
    /// reply POSTs and the balancer routes those by it.
    package static var instanceHeader: HTTPField.Name { HTTPField.Name("Stepflow-Instance-Id")! }

    /// Registers `POST /`.
    package func addRoutes(to router: Router<WorkerRequestContext>) {
        router.post("/") { request, context in
            try await self.handle(request, channel: context.channel, logger: context.logger)
        }
    }

    // MARK: - Envelope

    /// Reserves the body's bytes in ``budget`` before reading it (the declared length, or the
    /// body limit when chunked, trimmed to the body once read) and keeps them until the reply is
    /// ready, so concurrent executes wait for room instead of holding more than the budget. The
    /// execution's own document (URL download, blob) is added to the same hold. A body declared
    /// over the limit is refused unread and reserves nothing to speak of.
    func handle(_ request: Request, channel: (any Channel)?, logger: Logger) async throws -> Response {
        let declared = request.headers[.contentLength].flatMap { Int($0) }
        let weight = declared.map { $0 > configuration.maxBodyBytes ? 1 : $0 } ?? configuration.maxBodyBytes
        let hold = BudgetHold(budget: budget)
        defer { hold.releaseAll() }
        do {
            try await hold.reserve(upTo: weight)
        } catch {
            throw CancellationError()
        }
        return try await BudgetHold.$current.withValue(hold) {
            try await handleWithinBudget(request, declared: declared, hold: hold, channel: channel, logger: logger)
        }
    }

    func handleWithinBudget(_ request: Request, declared: Int?, hold: BudgetHold, channel: (any Channel)?, logger: Logger) async throws -> Response {
        let body: Data
        do {
            body = try await BoundedBody.collect(request.body, declaredLength: declared, limit: configuration.maxBodyBytes)
            hold.giveBack(hold.held - body.count)  // a chunked body reserved the whole limit
        } catch let tooLarge as BoundedBody.TooLarge {
            metrics.recordRPC(method: "oversized", outcome: "error")
            let size = tooLarge.declaredLength.map { "\($0) bytes" } ?? "more than \(tooLarge.limit) bytes (chunked)"
            logger.warning("request body refused: too large", metadata: ["declared_bytes": "\(tooLarge.declaredLength.map(String.init) ?? "chunked")", "limit_bytes": "\(tooLarge.limit)"])
            let error = JSONRPCError(
                code: JSONRPCError.invalidRequestCode,
                message: "Invalid request: the body is \(size), over the worker's limit of \(tooLarge.limit) bytes (INGEST_MAX_BODY_BYTES); pass large documents by path, URL or blob_id instead of base64",
                data: ["reason": .string(IngestError.Reason.tooLarge.rawValue), "limit_bytes": .int(tooLarge.limit)]
            )
            return Self.json(JSONRPCEncoder.error(id: BoundedBody.sniffID(tooLarge.prefix), error), status: .contentTooLarge)
        }

        // Decoding into JSONValue costs superlinear time in the depth, so deep bodies are refused
        // by a linear scan first (see ServerConfiguration.maxJSONDepth).
        if JSONNesting.exceeds(body, limit: configuration.maxJSONDepth) {
            metrics.recordRPC(method: "unparsable", outcome: "error")
            let detail = "the body nests arrays/objects deeper than \(configuration.maxJSONDepth) levels"
            return Self.json(JSONRPCEncoder.error(id: BoundedBody.sniffID(body.prefix(BoundedBody.sniffLength)), .parseError("\(detail); send one JSON-RPC 2.0 message as application/json")), status: .badRequest)
        }
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: body)
        } catch {
            metrics.recordRPC(method: "unparsable", outcome: "error")
            let detail = body.isEmpty ? "the body is empty" : "the body is not valid JSON"
            return Self.json(JSONRPCEncoder.error(id: nil, .parseError("\(detail); send one JSON-RPC 2.0 message as application/json")), status: .badRequest)
        }
        if case .array = value {
            metrics.recordRPC(method: "batch", outcome: "error")
            return Self.json(JSONRPCEncoder.error(id: nil, .invalidRequest("batches are not supported; send one message per request")), status: .badRequest)
        }

        let message: JSONRPCMessage
        do {
            message = try JSONRPCMessage.decode(value)
        } catch {
            metrics.recordRPC(method: "invalid", outcome: "error")
            return Self.json(JSONRPCEncoder.error(id: error.id, error.error), status: .badRequest)
        }

        switch message {
        case .notification(let method, _):
            metrics.recordRPC(method: Self.metricName(method), outcome: "ok")
            logger.debug("notification", metadata: ["method": "\(method)"])
            return Response(status: .accepted)
        case .response(let id, let result):
            return await routeReply(id: id, result: result, logger: logger)
        case .request(let id, let method, let params):
            return try await dispatch(id: id, method: method, params: params, channel: channel, logger: logger)
        }
    }

    /// Hands the orchestrator's reply to a `blobs/get` to the execution waiting for it.
    func routeReply(id: JSONRPCID, result: Result<JSONValue, JSONRPCError>, logger: Logger) async -> Response {
        if await rpc.callbacks.resolve(id: id, result: result) {
            metrics.recordRPC(method: "reply", outcome: "ok")
            return Response(status: .accepted)
        }
        metrics.recordRPC(method: "reply", outcome: "error")
        logger.warning("reply for no pending callback", metadata: ["rpc_id": "\(id)"])
        let error = JSONRPCError.invalidRequest("response with id '\(id)' has no pending request on instance \(state.instanceID) (late after a timeout, or routed to the wrong replica)")
        return Self.json(JSONRPCEncoder.error(id: id, error), status: .badRequest)
    }
}
