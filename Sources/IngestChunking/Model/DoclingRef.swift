/// A `{"$ref": "#/texts/12"}` pointer, parsed once at decode time so the tree walk never
/// touches strings again (the 1,000-page benchmark resolves ~10k of them).
package enum DoclingRef: Sendable, Hashable {
    case body
    case furniture
    case text(Int)
    case table(Int)
    case picture(Int)
    case group(Int)
    /// Anything else (`key_value_items`, `form_items`, a future array): kept so the walk can skip it.
    case other(String)

    /// Parses a JSON pointer such as `#/texts/12`; never fails, unknown shapes become `.other`.
    package init(pointer: String) {
        let parts = pointer.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 2, parts[0] == "#" {
            switch parts[1] {
            case "body": self = .body; return
            case "furniture": self = .furniture; return
            default: break
            }
        }
        if parts.count == 3, parts[0] == "#", let index = Int(parts[2]), index >= 0 {
            switch parts[1] {
            case "texts": self = .text(index); return
            case "tables": self = .table(index); return
            case "pictures": self = .picture(index); return
            case "groups": self = .group(index); return
            default: break
            }
        }
        self = .other(pointer)
    }

    /// The pointer as Docling writes it (`self_ref`), used as the chunk's `doc_items` entries.
    package var pointer: String {
        switch self {
        case .body: "#/body"
        case .furniture: "#/furniture"
        case .text(let i): "#/texts/\(i)"
        case .table(let i): "#/tables/\(i)"
        case .picture(let i): "#/pictures/\(i)"
        case .group(let i): "#/groups/\(i)"
        case .other(let s): s
        }
    }
}

extension DoclingRef: Decodable {
    private enum CodingKeys: String, CodingKey { case ref = "$ref" }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(pointer: try container.decode(String.self, forKey: .ref))
    }
}
