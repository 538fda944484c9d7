import Foundation
import IngestKit
import NIOCore

/// Downloads http(s) documents for the worker under the same guard Docling Serve applies:
/// no loopback, private, link-local or otherwise internal addresses (server-side request
/// forgery), unless the host is named in INGEST_URL_ALLOW_HOSTS.
///
/// Each hop (the URL, then every redirect) is resolved once, checked, and fetched from the
/// address that was checked: the connector never resolves the name again, so a name that
/// resolves to a public address for the check and to loopback a moment later (DNS rebinding)
/// cannot reach loopback. The body is counted as it streams and the download stops at
/// INGEST_MAX_FILE_BYTES; time is bounded by INGEST_URL_TIMEOUT_SECONDS.
package struct URLFetcher: Sendable {
    package var connector: any URLConnector
    package var maxRedirects: Int
    /// Resolves a host to its IP addresses (injectable for tests).
    package var resolve: @Sendable (String) -> [String]

    package init(connector: any URLConnector, maxRedirects: Int = 5, resolve: @escaping @Sendable (String) -> [String] = URLGuard.resolve) {
        self.connector = connector
        self.maxRedirects = maxRedirects
        self.resolve = resolve
    }

    package struct Fetched: Sendable {
        package var bytes: Data
        package var filename: String
        package var mimetype: String?
    }

    /// Fetches `url`, following up to ``maxRedirects`` redirects, each hop checked by ``URLGuard``.
    /// - Throws: ``IngestError`` `too_large` as soon as the body (or its declared length) passes
    ///   `maxBytes`; `invalid_input` for a refused address; `unreadable` for HTTP errors.
    ///
    /// Inside an execution (``BudgetHold/current``), `maxBytes` (at most the whole budget) is
    /// reserved before the first GET, since the length is known only at the head, and trimmed to
    /// the declared length there; the rest stays held until the execution ends. A document above
    /// the whole budget fails (`too_large`) at its declared length, before its body is read, or
    /// as its body passes the budget.
    package func fetch(_ url: String, maxBytes: Int, allowHosts: Set<String>, timeout: Duration) async throws -> Fetched {
        let hold = BudgetHold.current
        var reserved = 0
        var trimmed = false  // reserved is the declared length
        if let hold { reserved = try await hold.reserve(upTo: maxBytes) }
        var current = url
        for _ in 0...maxRedirects {
            let (target, address) = try URLGuard.check(current, allowHosts: allowHosts, resolve: resolve)
            var head: DownloadHead?
            var body = Data()
            try await connector.get(target, connectingTo: address, timeout: timeout) { part in
                switch part {
                case .head(let received):
                    head = received
                    guard (200..<300).contains(received.status) else { return false }  // no body needed
                    if let declared = received.header("content-length").flatMap(Int.init) {
                        guard declared <= maxBytes else { throw Self.tooLarge(url, size: "\(declared) bytes", maxBytes: maxBytes) }
                        if let hold {
                            guard declared <= reserved else { throw Self.overBudget(url, declared: declared, budget: hold.budget.limitBytes) }
                            hold.giveBack(reserved - declared)
                            reserved = declared
                            trimmed = true
                        }
                        body.reserveCapacity(declared)  // one buffer, no regrowth
                    }
                    return true
                case .body(let buffer):
                    guard body.count + buffer.readableBytes <= maxBytes else {
                        throw Self.tooLarge(url, size: "more than \(maxBytes) bytes", maxBytes: maxBytes)
                    }
                    // Never more than was reserved (only reachable when INGEST_MAX_FILE_BYTES is
                    // above the whole budget, or a body runs past its declared length).
                    if let hold, body.count + buffer.readableBytes > reserved {
                        guard trimmed else {
                            throw Self.overBudget(url, declared: body.count + buffer.readableBytes, budget: hold.budget.limitBytes)
                        }
                        throw IngestError(.unreadable, "\(redactingCredentials(url)) sent more than its declared Content-Length (\(reserved) bytes); the download was stopped")
                    }
                    body.append(contentsOf: buffer.readableBytesView)
                    return true
                }
            }
            guard let response = head else {
                throw IngestError(.unreadable, "\(redactingCredentials(current)) sent no response", transient: true)
            }
            switch response.status {
            case 200..<300:
                let type = response.header("content-type")?.split(separator: ";").first.map { String($0).trimmingCharacters(in: .whitespaces) }
                return Fetched(bytes: body, filename: Self.filename(for: current, contentType: type), mimetype: type)
            case 301, 302, 303, 307, 308:
                guard let location = response.header("location"), let next = URL(string: location, relativeTo: URL(string: current)) else {
                    throw IngestError(.unreadable, "\(redactingCredentials(current)) redirects without a usable Location")
                }
                current = next.absoluteString
            case 401, 403:
                throw IngestError(.unreadable, "\(redactingCredentials(current)) refused access (HTTP \(response.status))")
            case 404, 410:
                throw IngestError(.unreadable, "\(redactingCredentials(current)) not found (HTTP \(response.status))")
            default:
                throw IngestError(.unreadable, "\(redactingCredentials(current)) answered HTTP \(response.status)", transient: response.status >= 500)
            }
        }
        throw IngestError(.unreadable, "\(redactingCredentials(url)): more than \(maxRedirects) redirects")
    }

    private static func overBudget(_ url: String, declared: Int, budget: Int) -> IngestError {
        IngestError(.tooLarge, "\(redactingCredentials(url)) is at least \(declared) bytes, more than the worker's whole budget for documents in flight, INGEST_MAX_INFLIGHT_BODY_BYTES (\(budget)); it was not downloaded: raise the budget (with the memory limit) or pass a smaller document")
    }

    private static func tooLarge(_ url: String, size: String, maxBytes: Int) -> IngestError {
        IngestError(.tooLarge, "\(redactingCredentials(url)) is \(size), over INGEST_MAX_FILE_BYTES (\(maxBytes)); the download was stopped there")
    }

    /// The last path component, or `download` plus an extension from the content type.
    static func filename(for url: String, contentType: String?) -> String {
        let last = URL(string: url)?.lastPathComponent ?? ""
        if !last.isEmpty, last != "/", (last as NSString).pathExtension.isEmpty == false {
            return last.removingPercentEncoding ?? last
        }
        let ext = MimeTypes.byExtension.first { $0.value == contentType }?.key ?? "html"
        return (last.isEmpty || last == "/" ? "download" : last) + "." + ext
    }
}

/// The server-side request forgery guard for URL inputs.
package enum URLGuard {
    /// Checks `url` and returns it parsed, with the one address to connect to: the host's first
    /// address, every one of which must be public unless the host is in `allowHosts` (an IP
    /// literal is its own address). Resolves exactly once.
    /// - Throws: ``IngestError`` `invalid_input` for a URL that is not http(s) or an internal
    ///   address; `unreadable` for a host that does not resolve.
    @discardableResult
    package static func check(_ url: String, allowHosts: Set<String>, resolve: (String) -> [String]) throws -> (url: HTTPURL, address: String) {
        guard let parsed = HTTPURL(url) else {
            throw IngestError(.invalidInput, "\(redactingCredentials(url)) is not an http(s) URL")
        }
        let host = parsed.host
        let addresses = isIPLiteral(host) ? [host] : resolve(host)
        guard let first = addresses.first else {
            throw IngestError(.unreadable, "\(redactingCredentials(url)): host \(host) does not resolve")
        }
        if !allowHosts.contains(host), let blocked = addresses.first(where: isInternal) {
            throw IngestError(.invalidInput, "\(redactingCredentials(url)) refused: \(host) resolves to \(blocked), a loopback/private address (allow the host in INGEST_URL_ALLOW_HOSTS if this is intended)")
        }
        return (parsed, first)
    }

    static func isIPLiteral(_ host: String) -> Bool {
        let h = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, h, &v4) == 1 || inet_pton(AF_INET6, h, &v6) == 1
    }

    /// Loopback, private (RFC 1918, unique local), link-local, CGNAT, unspecified, multicast,
    /// and the IPv6 forms that carry an IPv4 address. The IPv4 inside IPv4-mapped `::ffff:0:0/96`,
    /// IPv4-compatible `::/96`, NAT64 `64:ff9b::/96` (bytes 12-15) and 6to4 `2002::/16` (bytes 2-5)
    /// is checked by the IPv4 rules; local-use NAT64 `64:ff9b:1::/48`, Teredo `2001::/32` (its
    /// IPv4 is obfuscated and the relay picks the path) and deprecated site-local `fec0::/10` are
    /// refused outright.
    package static func isInternal(_ address: String) -> Bool {
        var v4 = in_addr()
        if inet_pton(AF_INET, address, &v4) == 1 {
            let b = withUnsafeBytes(of: v4.s_addr) { Array($0) }
            switch (b[0], b[1]) {
            case (0, _), (10, _), (127, _): return true
            case (169, 254): return true
            case (172, 16...31): return true
            case (192, 168): return true
            case (100, 64...127): return true
            default: return b[0] >= 224
            }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, address, &v6) == 1 {
            let b = withUnsafeBytes(of: v6) { Array($0) }
            if b.allSatisfy({ $0 == 0 }) || (b[0..<15].allSatisfy { $0 == 0 } && b[15] == 1) { return true }
            if b[0] & 0xfe == 0xfc { return true }               // fc00::/7 unique local
            if b[0] == 0xfe && b[1] & 0xc0 == 0x80 { return true } // fe80::/10 link-local
            if b[0] == 0xfe && b[1] & 0xc0 == 0xc0 { return true } // fec0::/10 site-local
            if b[0] == 0xff { return true }                        // multicast
            if b[0..<6] == [0x00, 0x64, 0xff, 0x9b, 0x00, 0x01] { return true } // 64:ff9b:1::/48 local-use NAT64
            if b[0..<4] == [0x20, 0x01, 0x00, 0x00] { return true }             // 2001::/32 Teredo
            func v4(_ at: Int) -> Bool { isInternal("\(b[at]).\(b[at + 1]).\(b[at + 2]).\(b[at + 3])") }
            if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xff && b[11] == 0xff { return v4(12) } // ::ffff:0:0/96 mapped
            if b[0..<12].allSatisfy({ $0 == 0 }) { return v4(12) }                                     // ::/96 compatible
            if b[0..<12] == [0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0] { return v4(12) }        // 64:ff9b::/96 NAT64
            if b[0] == 0x20 && b[1] == 0x02 { return v4(2) }                                           // 2002::/16 6to4
            return false
        }
        return true
    }

    /// getaddrinfo, both families.
    package static func resolve(_ host: String) -> [String] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return [] }
        defer { freeaddrinfo(first) }
        var out: [String] = []
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let n = node {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(n.pointee.ai_addr, n.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
                let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
                out.append(String(decoding: bytes, as: UTF8.self))
            }
            node = n.pointee.ai_next
        }
        return out
    }
}
