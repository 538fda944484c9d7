import Foundation

/// An absolute `http://` or `https://` URL that names a host: the one rule for every URL we
/// accept (a service's base URL in configuration, a document's URL in a step input, each hop of a
/// download). Callers turn a nil into the error of their layer: `configuration` naming the
/// variable, `invalid_input` naming the field.
package struct HTTPURL: Sendable, Equatable {
    /// The URL as given.
    package var text: String
    /// `http` or `https`, lowercased.
    package var scheme: String
    /// The host, lowercased, without IPv6 brackets.
    package var host: String
    /// The port given in the URL, else the scheme's default.
    package var port: Int

    /// Nil unless `text` is an absolute http(s) URL with a non-empty host.
    package init?(_ text: String) {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host?.lowercased(), !host.isEmpty
        else { return nil }
        self.text = text
        self.scheme = scheme
        self.host = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        self.port = url.port ?? (scheme == "https" ? 443 : 80)
    }
}

/// Scheme, host and port: what decides where a request goes (and so what an allow-list names).
package struct HTTPOrigin: Hashable, Sendable, CustomStringConvertible {
    package var scheme: String
    package var host: String
    package var port: Int

    package init(_ url: HTTPURL) {
        scheme = url.scheme
        host = url.host
        port = url.port
    }

    /// An origin as an operator writes it (`http://stepflow-server:7840`, a trailing `/` allowed);
    /// nil for anything else, a path, query or credentials included, so a list entry cannot
    /// look narrower than what it allows.
    package init?(origin text: String) {
        let trimmed = text.hasSuffix("/") ? String(text.dropLast()) : text
        guard let url = HTTPURL(trimmed), let parsed = URL(string: trimmed),
              parsed.path.isEmpty, parsed.query == nil, parsed.fragment == nil, parsed.user == nil
        else { return nil }
        self.init(url)
    }

    /// `scheme://host:port`, the port always written (IPv6 hosts in brackets).
    package var description: String {
        "\(scheme)://\(host.contains(":") ? "[\(host)]" : host):\(port)"
    }
}

extension HTTPURL {
    /// Where requests to this URL go.
    package var origin: HTTPOrigin { HTTPOrigin(self) }
}
