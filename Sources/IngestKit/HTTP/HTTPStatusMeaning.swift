/// What a non-success HTTP status means for a request, the same for every service we call
/// (Docling Serve, the embeddings API, OpenSearch): one table, so "is a 408 worth a retry?" has
/// one answer. Each client then words the ``IngestError`` for its own service, switching over
/// this type with no `default`, because the reasons differ by contract (an overloaded Docling is
/// `service_unavailable`, an overloaded embeddings API `embed_failed`).
package enum HTTPStatusMeaning: Sendable, Equatable, CaseIterable {
    /// 401, 403: our credentials (or the user's permissions) were refused.
    case credentialsRefused
    /// 404: the URL, or what it names (a model, an index, a task), does not exist.
    case notFound
    /// 413: the body is over the server's (or a proxy's) limit.
    case tooLarge
    /// 408, 429, 502, 503, 504: the service, or a proxy in front of it, is overloaded,
    /// restarting or timed out; worth trying again, after `Retry-After` when it names a delay.
    case unavailable
    /// Any other 5xx: the service failed at the request; it may work when tried again.
    case serverFailed
    /// Any other status: the service refused the request as sent.
    case refused

    package init(status: Int) {
        switch status {
        case 401, 403: self = .credentialsRefused
        case 404: self = .notFound
        case 413: self = .tooLarge
        case 408, 429, 502, 503, 504: self = .unavailable
        case 500...599: self = .serverFailed
        default: self = .refused
        }
    }

    /// Whether the same request may succeed later (our clients retry these under their
    /// ``RetryPolicy``).
    package var isTransient: Bool {
        switch self {
        case .unavailable, .serverFailed: true
        case .credentialsRefused, .notFound, .tooLarge, .refused: false
        }
    }
}

extension HTTPResponse {
    /// What the status means (``HTTPStatusMeaning``).
    package var meaning: HTTPStatusMeaning { HTTPStatusMeaning(status: status) }

    /// The delay the server asked for in `Retry-After`, if any.
    package var retryAfter: Duration? { RetryPolicy.parseRetryAfter(header("Retry-After")) }
}
