/// Why a request got no answer, classified from AsyncHTTPClient's and NIO's error types so
/// callers decide by case (retry or not, which setting to name) and people read a short cause
/// instead of NIO's nested error dumps.
package enum TransportFailure: String, Sendable, Equatable, CustomStringConvertible {
    case connectionRefused, noRoute, connectTimeout, timedOut, connectionClosed, hostNotFound
    /// The TLS handshake failed: an untrusted certificate, or a server that does not speak TLS.
    case tlsHandshake
    /// Not recognised; its text is only logged, never put in a message.
    case other

    package var description: String {
        switch self {
        case .connectionRefused: "connection refused"
        case .noRoute: "no route to host"
        case .connectTimeout: "connection timed out"
        case .timedOut: "the request timed out"
        case .connectionClosed: "the server closed the connection"
        case .hostNotFound: "host name does not resolve"
        case .tlsHandshake: "the TLS handshake failed"
        case .other: "the connection failed"
        }
    }
}
