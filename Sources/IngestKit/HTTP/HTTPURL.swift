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
