extension JSONValue {
    /// About the bytes this value takes as JSON text (its strings and numbers), without encoding
    /// it: what a JSON blob holds in the document budget.
    package var approximateTextBytes: Int {
        switch self {
        case .null, .bool, .int, .double: 8
        case .string(let text): text.utf8.count + 2
        case .array(let items): items.reduce(2) { $0 + $1.approximateTextBytes + 1 }
        case .object(let fields): fields.reduce(2) { $0 + $1.key.utf8.count + 4 + $1.value.approximateTextBytes }
        }
    }
}
