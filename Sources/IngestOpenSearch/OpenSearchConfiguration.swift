import Foundation
import IngestKit

/// Where the OpenSearch cluster is, how to authenticate, and the timeouts and limits of every
/// call we make to it. One value, built once from the environment, so no call site invents a
/// number of its own.
package struct OpenSearchConfiguration: Sendable, Equatable {
    /// OPENSEARCH_HOST: a bare host name (`localhost`, `opensearch`), or a full `http(s)://host[:port]`
    /// URL whose scheme and port win over ``useSSL`` and ``port``.
    package var host: String
    /// OPENSEARCH_PORT: used when ``host`` does not name a port.
    package var port: Int
    /// OPENSEARCH_USE_SSL: `https` for a bare host name (a URL's scheme wins).
    package var useSSL: Bool
    /// OPENSEARCH_USERNAME: HTTP Basic user; no Authorization header when nil.
    package var username: String?
    /// OPENSEARCH_PASSWORD: never logged, never put in a message.
    package var password: String?
    /// OPENSEARCH_CA_CERT: a PEM file of the CA(s) to trust, for clusters with a self-signed certificate.
    package var caCertPath: String?
    /// OPENSEARCH_VERIFY_CERTS: false skips certificate and host name checks (development only).
    package var verifyCerts: Bool
    /// OPENSEARCH_TIMEOUT_SECONDS: total deadline of one request; bulk bodies with vectors can be slow.
    package var requestTimeout: Duration
    /// OPENSEARCH_CONNECT_TIMEOUT_SECONDS: how long to wait for a TCP/TLS connection.
    package var connectTimeout: Duration
    /// OPENSEARCH_MAX_CONNECTIONS: connections kept per host by the shared HTTP client.
    package var maxConnections: Int
    /// OPENSEARCH_BULK_MAX_BYTES: upper bound of one `_bulk` body (a single larger chunk is sent alone).
    package var bulkMaxBytes: Int
    /// OPENSEARCH_BULK_MAX_DOCS: upper bound of the documents of one `_bulk` request.
    package var bulkMaxItems: Int
    /// OPENSEARCH_RETRY_ATTEMPTS (attempts in all): back-off for 429/502/503/504, connection
    /// errors and bulk items refused with 429/5xx.
    package var retry: RetryPolicy
    /// Sources per composite-aggregation page of ``OpenSearchIndex/sources(index:prefix:)``.
    package var sourcesPageSize: Int
    /// How many pages ``OpenSearchIndex/sources(index:prefix:)`` reads at most, so a huge index
    /// cannot make it run forever (1,000,000 sources by default).
    package var maxSourcePages: Int
    /// Most generations of one source read by ``OpenSearchIndex/storedSource(index:source:)``
    /// (normally one or two; more means an interrupted clean-up).
    package var maxGenerations: Int
    /// A pooled connection unused for this long is closed (not a setting: it only frees sockets).
    package var idleTimeout: Duration = .seconds(60)
    /// Rounds of look-then-write when creating the index or adding fields, while other replicas
    /// may do the same (each round re-reads the mapping).
    package var mappingRounds = 3

    package init(
        host: String = "localhost",
        port: Int = 9200,
        useSSL: Bool = false,
        username: String? = nil,
        password: String? = nil,
        caCertPath: String? = nil,
        verifyCerts: Bool = true,
        requestTimeout: Duration = .seconds(60),
        connectTimeout: Duration = .seconds(10),
        maxConnections: Int = 8,
        bulkMaxBytes: Int = 5 << 20,
        bulkMaxItems: Int = 500,
        retry: RetryPolicy = OpenSearchConfiguration.defaultRetry,
        sourcesPageSize: Int = 1_000,
        maxSourcePages: Int = 1_000,
        maxGenerations: Int = 100
    ) {
        self.host = host
        self.port = port
        self.useSSL = useSSL
        self.username = username
        self.password = password
        self.caCertPath = caCertPath
        self.verifyCerts = verifyCerts
        self.requestTimeout = requestTimeout
        self.connectTimeout = connectTimeout
        self.maxConnections = maxConnections
        self.bulkMaxBytes = bulkMaxBytes
        self.bulkMaxItems = bulkMaxItems
        self.retry = retry
        self.sourcesPageSize = sourcesPageSize
        self.maxSourcePages = maxSourcePages
        self.maxGenerations = maxGenerations
    }

    /// 8 attempts, 0.5 s doubling to at most 30 s, 5 minutes in all: rides out a node restart or
    /// a burst of indexing pressure without hanging a run for long.
    package static let defaultRetry = RetryPolicy(maxAttempts: 8, baseDelay: .milliseconds(500), maxDelay: .seconds(30), maxElapsed: .seconds(300))

    /// Reads the OPENSEARCH_* variables through the configuration reader (flags over environment;
    /// defaults above for unset or empty ones).
    /// - Throws: ``IngestError`` `configuration` naming the variable that holds an invalid value.
    package init(environment env: Environment) throws {
        let defaults = OpenSearchConfiguration()
        var retry = Self.defaultRetry
        retry.maxAttempts = try env.int("OPENSEARCH_RETRY_ATTEMPTS", default: retry.maxAttempts, range: 1...50)
        self.init(
            host: env.string("OPENSEARCH_HOST") ?? defaults.host,
            port: try env.int("OPENSEARCH_PORT", default: defaults.port, range: 1...65_535),
            useSSL: try env.bool("OPENSEARCH_USE_SSL", default: defaults.useSSL),
            username: env.string("OPENSEARCH_USERNAME"),
            // Not trimmed: a password may legitimately start or end with a space.
            password: env.raw("OPENSEARCH_PASSWORD", isSecret: true),
            caCertPath: env.string("OPENSEARCH_CA_CERT"),
            verifyCerts: try env.bool("OPENSEARCH_VERIFY_CERTS", default: defaults.verifyCerts),
            requestTimeout: try env.seconds("OPENSEARCH_TIMEOUT_SECONDS", default: .seconds(60), range: 0...86_400, excludingZero: true),
            connectTimeout: try env.seconds("OPENSEARCH_CONNECT_TIMEOUT_SECONDS", default: .seconds(10), range: 0...86_400, excludingZero: true),
            maxConnections: try env.int("OPENSEARCH_MAX_CONNECTIONS", default: defaults.maxConnections, range: 1...1_024),
            bulkMaxBytes: try env.int("OPENSEARCH_BULK_MAX_BYTES", default: defaults.bulkMaxBytes, range: 1_024...(100 << 20)),
            bulkMaxItems: try env.int("OPENSEARCH_BULK_MAX_DOCS", default: defaults.bulkMaxItems, range: 1...100_000),
            retry: retry
        )
        _ = try baseURL()
    }

    /// The base URL every request starts with (`http(s)://host:port[/path]`, no trailing slash).
    /// - Throws: ``IngestError`` `configuration` naming OPENSEARCH_HOST.
    package func baseURL() throws -> String {
        try Self.resolveBaseURL(host: host, port: port, useSSL: useSSL)
    }

    /// The value of the `Authorization` header, or nil without a user name.
    package var authorizationHeader: String? {
        guard let username else { return nil }
        let token = Data("\(username):\(password ?? "")".utf8).base64EncodedString()
        return "Basic \(token)"
    }

    /// Turns OPENSEARCH_HOST/PORT/USE_SSL into a base URL. Pure, so every spelling is tested.
    ///
    /// * bare host (`opensearch`, `10.0.0.5`, `::1`): `http(s)://host:port`, scheme from `useSSL`;
    /// * `host:port`: that port wins;
    /// * full URL (`https://search.example.com:443/prefix`): its scheme and port win; a URL
    ///   without a port gets `port`; a path prefix (reverse proxy) is kept.
    /// - Throws: ``IngestError`` `configuration` naming OPENSEARCH_HOST for an empty host, a
    ///   scheme other than http(s), credentials in the URL, a query or a bad port.
    package static func resolveBaseURL(host: String, port: Int, useSSL: Bool) throws -> String {
        let trimmed = host.trimmingCharacters(in: .whitespaces)
        func bad(_ why: String) -> IngestError {
            IngestError(.configuration, "OPENSEARCH_HOST=\(redactingCredentials(trimmed)) \(why); use a host name (e.g. opensearch) or a URL like https://opensearch:9200")
        }
        guard !trimmed.isEmpty else { throw bad("is empty") }
        guard (1...65_535).contains(port) else {
            throw IngestError(.configuration, "OPENSEARCH_PORT=\(port) is not a TCP port (1-65535)")
        }

        var scheme = useSSL ? "https" : "http"
        var rest = Substring(trimmed)
        if let range = trimmed.range(of: "://") {
            let given = trimmed[..<range.lowerBound].lowercased()
            guard given == "http" || given == "https" else { throw bad("has scheme \(given)://, not http:// or https://") }
            scheme = given
            rest = trimmed[range.upperBound...]
        }
        // Authority, then an optional path prefix.
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        var path = String(rest[slash...])
        guard !authority.contains("@") else {
            throw bad("carries credentials; put them in OPENSEARCH_USERNAME and OPENSEARCH_PASSWORD instead")
        }
        guard !path.contains("?"), !path.contains("#"), !authority.contains("?"), !authority.contains("#") else {
            throw bad("has a query or fragment")
        }
        while path.hasSuffix("/") { path.removeLast() }

        var hostPart: String
        var portPart = port
        func parsePort(_ text: Substring) throws -> Int {
            guard let number = Int(text), (1...65_535).contains(number) else { throw bad("has an invalid port \(text)") }
            return number
        }
        if authority.hasPrefix("[") {
            // [IPv6] or [IPv6]:port
            guard let close = authority.firstIndex(of: "]") else { throw bad("has an unclosed [") }
            hostPart = String(authority[...close])
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { portPart = try parsePort(after.dropFirst()) }
            else if !after.isEmpty { throw bad("has text after ]") }
        } else if authority.filter({ $0 == ":" }).count > 1 {
            // A bare IPv6 address: no port can be given this way.
            hostPart = "[\(authority)]"
        } else if let colon = authority.firstIndex(of: ":") {
            hostPart = String(authority[..<colon])
            portPart = try parsePort(authority[authority.index(after: colon)...])
        } else {
            hostPart = String(authority)
        }
        guard !hostPart.isEmpty, hostPart != "[]" else { throw bad("names no host") }
        guard !hostPart.contains(where: { $0.isWhitespace }) else { throw bad("contains white space") }
        hostPart = hostPart.lowercased()
        return "\(scheme)://\(hostPart):\(portPart)\(path)"
    }
}
