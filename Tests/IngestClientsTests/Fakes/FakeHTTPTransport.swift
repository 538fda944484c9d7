import Foundation
import IngestKit
import Synchronization

/// An in-memory ``HTTPTransport`` for unit tests: replies come from routes (method + URL
/// substring) scripted by the test, and every request is recorded so tests can check what
/// was sent. Never opens a socket.
///
/// Each route holds a queue of replies consumed in order; its last reply repeats, so a route
/// scripted with one reply answers every matching request. Routes are matched in the order they
/// were added; the first one whose method and URL match wins. A request that matches no route
/// throws `IngestError(.internalError)` naming it, so a missing script fails the test loudly.
///
/// ```swift
/// let http = FakeHTTPTransport()
/// http.on("POST", "/v1/convert/file/async", .captured("docling/html__convert_file_async.response.json"))
/// http.on("GET", "/v1/status/poll/", .json(#"{"task_status":"started"}"#), .json(#"{"task_status":"success"}"#))
/// http.on("GET", "/health") { request in HTTPResponse(status: 200) }
/// ```
final class FakeHTTPTransport: HTTPTransport {
    /// One scripted answer.
    enum Reply: Sendable {
        case response(HTTPResponse)
        case error(IngestError)
        case handler(@Sendable (HTTPRequest) async throws -> HTTPResponse)

        /// A response with a JSON (or any text) body.
        static func json(_ body: String, status: Int = 200, headers: [(name: String, value: String)] = []) -> Reply {
            .response(HTTPResponse(status: status, headers: [(name: "content-type", value: "application/json")] + headers, body: Data(body.utf8)))
        }

        /// A status with an empty body.
        static func status(_ status: Int, headers: [(name: String, value: String)] = []) -> Reply {
            .response(HTTPResponse(status: status, headers: headers))
        }

        /// A captured `*.response.json` from Tests/IngestClientsTests/Fixtures (path relative to it).
        static func captured(_ fixture: String) -> Reply {
            do {
                return .response(try Fixtures.capturedResponse(fixture))
            } catch {
                return .error(IngestError(.internalError, "fixture \(fixture): \(error)"))
            }
        }

        /// The transport error a refused connection produces.
        static func connectionRefused(_ url: String = "http://localhost") -> Reply {
            .error(IngestError(.serviceUnavailable, "cannot reach \(url): connection refused", transient: true))
        }
    }

    /// One request as the fake saw it, with the timeout the client asked for.
    struct Recorded: Sendable {
        var request: HTTPRequest
        var timeout: Duration
    }

    private struct Route {
        var method: String?
        var urlContains: String
        var replies: [Reply]
    }

    private struct State {
        var routes: [Route] = []
        var recorded: [Recorded] = []
    }

    private let state = Mutex(State())

    init() {}

    /// Adds a route: requests with `method` (nil: any) whose URL contains `urlContains` get
    /// `replies` in order, the last one repeating.
    func on(_ method: String?, _ urlContains: String, _ replies: Reply...) {
        on(method, urlContains, replies: replies)
    }

    /// Adds a route with a list of replies (for replies built at run time, e.g. from a capture).
    func on(_ method: String?, _ urlContains: String, replies: [Reply]) {
        precondition(!replies.isEmpty, "a route needs at least one reply")
        state.withLock { $0.routes.append(Route(method: method, urlContains: urlContains, replies: replies)) }
    }

    /// Adds a route answered by `handler` (which may count calls, inspect bodies, sleep, throw).
    func on(_ method: String?, _ urlContains: String, handler: @escaping @Sendable (HTTPRequest) async throws -> HTTPResponse) {
        on(method, urlContains, .handler(handler))
    }

    /// Every request sent so far, in order.
    var requests: [HTTPRequest] { state.withLock { $0.recorded.map(\.request) } }

    /// Every request sent so far with its timeout.
    var recorded: [Recorded] { state.withLock { $0.recorded } }

    /// The requests whose method and URL match.
    func requests(_ method: String?, _ urlContains: String) -> [HTTPRequest] {
        requests.filter { (method == nil || $0.method == method) && $0.url.contains(urlContains) }
    }

    func send(_ request: HTTPRequest, timeout: Duration) async throws -> HTTPResponse {
        let reply: Reply? = state.withLock { state in
            state.recorded.append(Recorded(request: request, timeout: timeout))
            guard let index = state.routes.firstIndex(where: { route in
                (route.method == nil || route.method == request.method) && request.url.contains(route.urlContains)
            }) else { return nil }
            let replies = state.routes[index].replies
            if replies.count > 1 { state.routes[index].replies.removeFirst() }
            return replies.first
        }
        switch reply {
        case nil:
            throw IngestError(.internalError, "FakeHTTPTransport: no scripted reply for \(request.method) \(request.url)")
        case .response(let response)?:
            return response
        case .error(let error)?:
            throw error
        case .handler(let handler)?:
            return try await handler(request)
        }
    }
}

/// Access to the test fixtures copied into Tests/IngestClientsTests/Fixtures.
enum Fixtures {
    /// The bytes of `path` (relative to the Fixtures folder).
    static func data(_ path: String) throws -> Data {
        guard let base = Bundle.module.resourceURL?.appendingPathComponent("Fixtures") else {
            throw IngestError(.internalError, "test bundle has no resources")
        }
        return try Data(contentsOf: base.appendingPathComponent(path))
    }

    /// A captured response file (`{"status_code":…,"headers":{…},"body":…}`) as an ``HTTPResponse``.
    /// A JSON body is re-encoded as JSON text; a string body is sent as is.
    static func capturedResponse(_ path: String) throws -> HTTPResponse {
        let capture = try JSONValue.parse(try data(path), what: path)
        let status = capture["status_code"]?.intValue ?? 200
        let headers: [(name: String, value: String)] = (capture["headers"]?.objectValue ?? [:])
            .filter { $0.key.lowercased() != "content-length" }
            .compactMap { key, value in value.stringValue.map { (name: key, value: $0) } }
        let body: Data
        switch capture["body"] {
        case .string(let text)?: body = Data(text.utf8)
        case nil, .null?: body = Data()
        case let value?: body = value.jsonData()
        }
        return HTTPResponse(status: status, headers: headers, body: body)
    }
}

/// Counts handlers running at once (to check concurrency limits) from `@Sendable` closures.
final class ConcurrencyProbe: Sendable {
    private let state = Mutex((now: 0, peak: 0))
    func enter() { state.withLock { $0.now += 1; $0.peak = max($0.peak, $0.now) } }
    func leave() { state.withLock { $0.now -= 1 } }
    /// The most handlers seen running at once.
    var peak: Int { state.withLock { $0.peak } }
}
