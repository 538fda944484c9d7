import Foundation

/// The query parameters that make a URL a presigned one (S3, Google Cloud Storage, Azure SAS).
///
/// They change with every signature, so a document's identity without them stays the same when
/// the same object is fetched through a fresh link (its old chunks are replaced, not kept beside
/// the new ones); and they are credentials, so they must reach no index, log or report.
package enum SigningParameters {
    /// AWS Signature V4 and its Google Cloud Storage twin, and the V2 forms (lowercased).
    static let always: Set<String> = {
        let v4 = ["algorithm", "credential", "date", "expires", "signedheaders", "signature", "security-token"]
        return Set(v4.map { "x-amz-\($0)" } + v4.map { "x-goog-\($0)" } + ["awsaccesskeyid", "googleaccessid", "expires", "signature"])
    }()

    /// An Azure shared access signature's fields: dropped only when `sv` and `sig` are both
    /// present, as plain names such as `sp` or `se` mean other things on other servers.
    static let azureSAS: Set<String> = ["sv", "sig", "se", "st", "sp", "sr", "spr", "sip", "skoid", "sktid", "skt", "ske", "sks", "skv", "ss", "srt"]

    /// `query` (without `?`) less the signing parameters, the others kept as written and in order.
    package static func removed<S: StringProtocol>(from query: S) -> String {
        let fields = query.split(separator: "&", omittingEmptySubsequences: false)
        let names = fields.map(name(of:))
        let isSAS = names.contains("sv") && names.contains("sig")
        return zip(fields, names)
            .filter { !always.contains($0.1) && !(isSAS && azureSAS.contains($0.1)) }
            .map { String($0.0) }
            .joined(separator: "&")
    }

    /// A field's name, percent-decoded and lowercased (names compare case-insensitively).
    static func name<S: StringProtocol>(of field: S) -> String {
        let raw = String(field.prefix { $0 != "=" })
        return (raw.removingPercentEncoding ?? raw).lowercased()
    }

    /// Where a URL ends inside free text (a message or a log line).
    static func endsURLInText(_ character: Character) -> Bool {
        character.isWhitespace || "\"'<>`".contains(character)
    }
}
