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
        if Self.nestingExceeds(body, limit: configuration.maxJSONDepth) {
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

    // MARK: - Methods

    func dispatch(id: JSONRPCID, method: String, params: JSONValue?, channel: (any Channel)?, logger: Logger) async throws -> Response {
        var logger = logger
        logger[metadataKey: "rpc_id"] = "\(id)"
        logger[metadataKey: "method"] = "\(method)"
        switch method {
        case "initialize":
            metrics.recordRPC(method: method, outcome: "ok")
            let named = params?["capabilities"]?["blobApiUrl"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
            if let named { rpc.blobAPIFromInitialize = named }
            let blobAPI = configuration.blobAPI(fromInitialize: rpc.blobAPIFromInitialize)
            if named != nil, case .refused(let url) = blobAPI {
                logger.warning("initialize named a blob API whose origin is not allowed: blob_id sources will fail; set STEPFLOW_BLOB_API_URL to the orchestrator's blob API, or add its origin to STEPFLOW_BLOB_API_ALLOW", metadata: ["blob_api": "\(redactingCredentials(url))"])
            }
            logger.info("initialize", metadata: ["instance_id": "\(state.instanceID)", "blob_api": "\(Self.describe(blobAPI))"])
            // Both spellings: 0.9 reads snake_case, 0.10/0.11 camelCase.
            return reply(id, .success(["server_protocol_version": 1, "serverProtocolVersion": 1]), method: method)
        case "components/list":
            return reply(id, .success(["components": .array(ComponentCatalog.all)]), method: method)
        case "components/info", "components/infer_schema":
            return reply(id, componentLookup(method: method, params: params), method: method)
        case "components/execute":
            return try await execute(id: id, params: params, channel: channel, logger: logger)
        default:
            return reply(id, .failure(.methodNotFound(method)), method: "unknown")
        }
    }

    /// The blob route for the `initialize` log line.
    static func describe(_ choice: BlobAPIChoice) -> String {
        switch choice {
        case .rest(let url): redactingCredentials(url)
        case .refused(let url): "refused: \(redactingCredentials(url)) (origin not in STEPFLOW_BLOB_API_ALLOW)"
        case .callback: "none (blobs/get over SSE)"
        }
    }

    func componentLookup(method: String, params: JSONValue?) -> Result<JSONValue, JSONRPCError> {
        guard let name = params?["component"]?.stringValue else {
            return .failure(.invalidParams("\(method) needs params.component, a string such as \"/ingest\""))
        }
        guard let info = ComponentCatalog.info(name) else { return .failure(Self.componentNotFound(name)) }
        if method == "components/info" { return .success(["info": info]) }
        return .success(["output_schema": info["output_schema"] ?? .null])
    }

    static func componentNotFound(_ name: String) -> JSONRPCError {
        JSONRPCError(
            code: JSONRPCError.componentNotFoundCode,
            message: "Component '\(name)' not found; this worker serves \(ComponentCatalog.ingest) (flow step component: /langflow/ingest)",
            data: ["component": .string(name)]
        )
    }

    func execute(id: JSONRPCID, params: JSONValue?, channel: (any Channel)?, logger: Logger) async throws -> Response {
        guard case .object(let fields) = params ?? .null else {
            return reply(id, .failure(.invalidParams("components/execute needs params {component, input}")), method: "components/execute")
        }
        guard case .string(let component) = fields["component"] ?? .null else {
            return reply(id, .failure(.invalidParams("params.component must be a string such as \"/ingest\"")), method: "components/execute")
        }
        guard component == ComponentCatalog.ingest else {
            return reply(id, .failure(Self.componentNotFound(component)), method: "components/execute")
        }
        var logger = logger
        logger[metadataKey: "component"] = "\(component)"
        let observability = fields["observability"]
        for key in ["run_id", "flow_id", "step_id", "trace_id", "span_id"] {
            if let value = observability?[key]?.stringValue { logger[metadataKey: key] = "\(value)" }
        }

        let input: ComponentInput
        switch self.component.accept(fields["input"], logger: logger, metrics: metrics) {
        case .success(let accepted): input = accepted
        case .failure(let refusal): return reply(id, .failure(Self.error(for: refusal)), method: "components/execute")
        }

        // Cancel the document when the orchestrator's connection goes away.
        let closeSignal = if let channel { await ConnectionCloseWatcher.signal(of: channel) } else { ConnectionCloseSignal?.none }
        if input.blob != nil {
            return streamExecute(id: id, input: input, observability: observability, closeSignal: closeSignal, logger: logger)
        }
        let run = self.run
        let executeLogger = logger
        let result: ComponentResult
        do {
            result = try await cancellingOnClose(closeSignal) {
                try await run(input, NoBlobs(), executeLogger)
            }
        } catch {
            metrics.recordRPC(method: "components/execute", outcome: "cancelled")
            return Response(status: .noContent)
        }
        let outcome: String
        if case .success = result { outcome = "ok" } else { outcome = "error" }
        metrics.recordRPC(method: "components/execute", outcome: outcome)
        return Self.json(Self.executeReply(id, result), status: .ok)
    }

    /// One execution with the worker's metrics around it.
    var run: @Sendable (ComponentInput, any BlobReader, Logger) async throws -> ComponentResult {
        let component = self.component
        let metrics = self.metrics
        return { input, blobs, logger in try await component.execute(input, blobs: blobs, logger: logger, metrics: metrics) }
    }

    /// The SSE path: stream `blobs/get` to the orchestrator, wait for its reply POST (routed here
    /// by instance id), ingest, then send the final response event and end the stream.
    func streamExecute(id: JSONRPCID, input: ComponentInput, observability: JSONValue?, closeSignal: ConnectionCloseSignal?, logger: Logger) -> Response {
        let run = self.run
        let callbacks = rpc.callbacks
        let callbackTimeout = configuration.callbackTimeout
        let metrics = self.metrics
        let budget = self.budget
        let blobAPI = configuration.blobAPI(fromInitialize: rpc.blobAPIFromInitialize)
        let headers: HTTPFields = [
            .contentType: "text/event-stream",
            .cacheControl: "no-cache",
            Self.instanceHeader: state.instanceID,
        ]
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            let (events, sink) = AsyncStream.makeStream(of: JSONValue.self)
            let final: FinalReply? = try? await withThrowingTaskGroup(of: FinalReply.self) { group in
                group.addTask {
                    defer { sink.finish() }
                    // The request's reservation ended with its response head: this execution
                    // holds its document's bytes (a blob from the orchestrator's reply POST, a
                    // URL download) in a hold of its own until it ends.
                    let hold = BudgetHold(budget: budget)
                    defer { hold.releaseAll() }
                    // Stepflow 0.10/0.11 answer no `blobs/get` over SSE: their REST blob API, when
                    // configured (STEPFLOW_BLOB_API_URL, or initialize's blobApiUrl on an allowed
                    // origin); 0.9 the callback.
                    let blobs: any BlobReader = switch blobAPI {
                    case .rest(let url): RESTBlobReader(transport: BlobAPIClient.transport(for: budget), baseURL: url)
                    case .refused(let url): RefusedBlobReader(named: url)
                    case .callback: CallbackBlobReader(observability: observability, callbacks: callbacks, timeout: callbackTimeout, send: { sink.yield($0) }, logger: logger, hold: hold)
                    }
                    let result = try await BudgetHold.$current.withValue(hold) {
                        try await cancellingOnClose(closeSignal) {
                            try await run(input, blobs, logger)
                        }
                    }
                    let ok: Bool
                    if case .success = result { ok = true } else { ok = false }
                    return FinalReply(data: Self.executeReply(id, result), ok: ok)
                }
                for await event in events {
                    try await writer.write(ByteBuffer(bytes: JSONRPCEncoder.sseEvent(event)))
                }
                guard let final = try await group.next() else { throw CancellationError() }
                return final
            }
            guard let final else {
                metrics.recordRPC(method: "components/execute", outcome: "cancelled")
                return
            }
            metrics.recordRPC(method: "components/execute", outcome: final.ok ? "ok" : "error")
            try await writer.write(ByteBuffer(bytes: JSONRPCEncoder.sseEvent(data: final.data)))
            try await writer.finish(nil)
        })
    }

    /// The last SSE event of an execution, encoded, and whether it is a success.
    struct FinalReply: Sendable {
        var data: Data
        var ok: Bool
    }

    /// No blob source on a JSON reply: the parser sends blobs down the SSE path.
    struct NoBlobs: BlobReader {
        func blob(id: String) async throws -> BlobContent {
            throw IngestError(.internalError, "no callback channel on a JSON reply")
        }
    }

    /// Reads a blob with one `blobs/get` round trip: the request goes out as an SSE event, the
    /// reply arrives as a POST.
    struct CallbackBlobReader: BlobReader {
        var observability: JSONValue?
        var callbacks: PendingCallbacks
        var timeout: Duration
        var send: @Sendable (JSONValue) -> Void
        var logger: Logger
        /// Where the blob's size is reserved in the body budget once it has arrived.
        var hold: BudgetHold?

        func blob(id blobID: String) async throws -> BlobContent {
            let callID = JSONRPCID.string(UUID().uuidString.lowercased())
            var params: [String: JSONValue] = ["blob_id": .string(blobID)]
            if let observability { params["observability"] = observability }
            let request = JSONRPCEncoder.request(id: callID, method: "blobs/get", params: .object(params))
            logger.debug("blobs/get", metadata: ["blob_id": "\(blobID)", "callback_id": "\(callID)"])
            let reply: Result<JSONValue, JSONRPCError>
            do {
                reply = try await callbacks.call(id: callID, timeout: timeout) { send(request) }
            } catch is PendingCallbacks.CallbackTimeout {
                throw IngestError(
                    .serviceUnavailable,
                    "the orchestrator did not answer blobs/get for blob \(blobID) within \(timeout.components.seconds) s; check that replies reach this replica (Stepflow-Instance-Id routing)"
                )
            }
            switch reply {
            case .success(let result):
                guard let data = result["data"] else {
                    throw IngestError(.invalidInput, "the orchestrator's blobs/get reply for blob \(blobID) has no data")
                }
                try await hold?.reserve(upTo: data.approximateTextBytes)
                return .json(data)
            case .failure(let error):
                throw IngestError(.invalidInput, "blob \(blobID) could not be read from the orchestrator (\(error.code): \(error.message)); check the blob_id")
            }
        }
    }

    // MARK: - Execute replies

    /// The JSON-RPC error for a failed execution: invalid input is -32602 (the flow must change),
    /// an unexpected error in the worker -32603, every other reason -32003, the code the Stepflow
    /// SDK uses for a failed component. The orchestrator shows `component server error(<code>): <message>`.
    /// An input the component refused before running (``ComponentFailure/refusedInput``) is
    /// -32602 `Invalid params: input for /ingest: …`, as for a malformed `params`.
    package static func error(for failure: ComponentFailure) -> JSONRPCError {
        if failure.refusedInput {
            return .invalidParams("input for /ingest: \(failure.message)", reason: failure.reason)
        }
        let data: JSONValue = ["reason": .string(failure.reason.rawValue), "source": .string(failure.source)]
        // No `default`: a new reason must be given its code here on purpose.
        switch failure.reason {
        case .invalidInput:
            return JSONRPCError(code: JSONRPCError.invalidParamsCode, message: "Invalid input for /ingest (source '\(failure.source)'): \(failure.message)", data: data)
        case .internalError where failure.outcome == nil:
            return JSONRPCError(code: JSONRPCError.internalErrorCode, message: "Internal error while ingesting '\(failure.source)'; the worker log has the details", data: data)
        case .internalError, .unreadable, .unsupportedFormat, .tooLarge, .parseFailed, .parseTimeout, .emptyDocument, .embedFailed,
            .embedRejected, .indexRejected, .authFailed, .dimensionMismatch, .serviceUnavailable, .leaseTimeout, .resourceUnavailable,
            .configuration, .cancelled:
            return JSONRPCError(code: JSONRPCError.executionFailedCode, message: "Ingest failed for '\(failure.source)' [\(failure.reason.rawValue)]: \(failure.message)", data: data)
        }
    }

    /// The reply to `components/execute`: the outcome's JSON goes in as the component encoded it
    /// (`result.output`, or `error.data.outcome` for a failed document).
    static func executeReply(_ id: JSONRPCID, _ result: ComponentResult) -> Data {
        let slot = JSONRPCEncoder.Slot()
        switch result {
        case .success(let output):
            return JSONRPCEncoder.data(JSONRPCEncoder.result(id: id, ["output": slot.value]), filling: slot, with: output.json)
        case .failure(let failure):
            var error = Self.error(for: failure)
            guard let outcome = failure.outcome, case .object(var data) = error.data ?? .null else {
                return JSONRPCEncoder.error(id: id, error).jsonData()
            }
            data["outcome"] = slot.value
            error.data = .object(data)
            return JSONRPCEncoder.data(JSONRPCEncoder.error(id: id, error), filling: slot, with: outcome.json)
        }
    }

    // MARK: - Replies

    func reply(_ id: JSONRPCID, _ result: Result<JSONValue, JSONRPCError>, method: String) -> Response {
        let outcome: String
        if case .success = result { outcome = "ok" } else { outcome = "error" }
        metrics.recordRPC(method: Self.metricName(method), outcome: outcome)
        return Self.json(Self.message(id, result), status: .ok)
    }

    static func message(_ id: JSONRPCID, _ result: Result<JSONValue, JSONRPCError>) -> JSONValue {
        switch result {
        case .success(let value): JSONRPCEncoder.result(id: id, value)
        case .failure(let error): JSONRPCEncoder.error(id: id, error)
        }
    }

    static func json(_ message: JSONValue, status: HTTPResponse.Status) -> Response {
        json(message.jsonData(), status: status)
    }

    static func json(_ data: Data, status: HTTPResponse.Status) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json", .contentLength: String(data.count)],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    /// Whether `body` opens more than `limit` arrays/objects at once (brackets inside strings
    /// ignored). One pass over the bytes, stopping at the first level over the limit.
    static func nestingExceeds(_ body: Data, limit: Int) -> Bool {
        body.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) -> Bool in
            var depth = 0
            var inString = false
            var escaped = false
            for byte in bytes {
                if inString {
                    if escaped {
                        escaped = false
                    } else if byte == UInt8(ascii: "\\") {
                        escaped = true
                    } else if byte == UInt8(ascii: "\"") {
                        inString = false
                    }
                    continue
                }
                switch byte {
                case UInt8(ascii: "\""): inString = true
                case UInt8(ascii: "["), UInt8(ascii: "{"):
                    depth += 1
                    if depth > limit { return true }
                case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
                default: break
                }
            }
            return false
        }
    }

    /// Keeps the `method` label of the request counter to the known set.
    static func metricName(_ method: String) -> String {
        switch method {
        case "initialize", "initialized", "components/list", "components/info", "components/infer_schema", "components/execute": method
        default: "other"
        }
    }
}
