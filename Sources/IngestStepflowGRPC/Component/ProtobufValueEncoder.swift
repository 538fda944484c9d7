import Foundation
import SwiftProtobuf

/// Encodes an `Encodable` value straight to a `google.protobuf.Value`, with the value's own
/// coding keys: the gRPC worker shapes a document outcome once, where it used to go outcome →
/// JSON bytes → ``JSONValue`` → protobuf.
///
/// The values match what `JSONEncoder` writes and protobuf's JSON mapping reads back: numbers
/// are doubles, an optional that is nil is left out (synthesized `Codable` skips it), an
/// explicit nil is `null_value`. Non-finite numbers are refused, as `JSONEncoder` refuses them.
package struct ProtobufValueEncoder {
    package init() {}

    package func encode(_ value: some Encodable) throws -> Google_Protobuf_Value {
        let root = Node()
        try value.encode(to: ValueEncoder(node: root, codingPath: []))
        return root.value
    }

    /// For a value that encodes as an object (a `TaskError`'s `data`, for instance).
    package func encodeStruct(_ value: some Encodable) throws -> Google_Protobuf_Struct {
        let encoded = try encode(value)
        guard case .structValue(let object) = encoded.kind else {
            throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "expected an object"))
        }
        return object
    }
}

/// One value being built: a scalar, or a container filled by its children.
private final class Node {
    enum Content {
        case empty
        case scalar(Google_Protobuf_Value)
        case object([String: Node])
        case array([Node])
    }

    var content: Content = .empty

    var value: Google_Protobuf_Value {
        switch content {
        case .empty: Google_Protobuf_Value(structValue: Google_Protobuf_Struct())
        case .scalar(let value): value
        case .object(let fields):
            Google_Protobuf_Value(structValue: Google_Protobuf_Struct(fields: fields.mapValues(\.value)))
        case .array(let items):
            Google_Protobuf_Value(listValue: Google_Protobuf_ListValue(values: items.map(\.value)))
        }
    }

    func child(forKey key: String) -> Node {
        var fields: [String: Node] = [:]
        if case .object(let existing) = content { fields = existing }
        let node = fields[key] ?? Node()
        fields[key] = node
        content = .object(fields)
        return node
    }

    func appendChild() -> Node {
        var items: [Node] = []
        if case .array(let existing) = content { items = existing }
        let node = Node()
        items.append(node)
        content = .array(items)
        return node
    }

    func makeObject() { if case .object = content {} else { content = .object([:]) } }
    func makeArray() { if case .array = content {} else { content = .array([]) } }
}

private struct IndexKey: CodingKey {
    var intValue: Int?
    var stringValue: String { "\(intValue ?? 0)" }
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}

private struct ValueEncoder: Encoder {
    let node: Node
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        node.makeObject()
        return KeyedEncodingContainer(KeyedContainer<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        node.makeArray()
        return UnkeyedContainer(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleContainer(node: node, codingPath: codingPath)
    }
}

/// Scalars as protobuf values; anything else through its own `encode(to:)`.
private func store(_ value: some Encodable, in node: Node, codingPath: [any CodingKey]) throws {
    switch value {
    case let string as String: node.content = .scalar(Google_Protobuf_Value(stringValue: string))
    case let bool as Bool: node.content = .scalar(Google_Protobuf_Value(boolValue: bool))
    case let number as Double: node.content = .scalar(try finiteNumber(number, codingPath))
    case let number as Float: node.content = .scalar(try finiteNumber(Double(number), codingPath))
    case let number as Int: node.content = .scalar(Google_Protobuf_Value(numberValue: Double(number)))
    case let number as Int64: node.content = .scalar(Google_Protobuf_Value(numberValue: Double(number)))
    case let number as Int32: node.content = .scalar(Google_Protobuf_Value(numberValue: Double(number)))
    case let number as UInt: node.content = .scalar(Google_Protobuf_Value(numberValue: Double(number)))
    case let number as UInt64: node.content = .scalar(Google_Protobuf_Value(numberValue: Double(number)))
    case let number as UInt32: node.content = .scalar(Google_Protobuf_Value(numberValue: Double(number)))
    default: try value.encode(to: ValueEncoder(node: node, codingPath: codingPath))
    }
}

private func finiteNumber(_ value: Double, _ codingPath: [any CodingKey]) throws -> Google_Protobuf_Value {
    guard value.isFinite else {
        throw EncodingError.invalidValue(value, .init(codingPath: codingPath, debugDescription: "a non-finite number has no JSON form"))
    }
    return Google_Protobuf_Value(numberValue: value)
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: Node
    let codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws {
        node.child(forKey: key.stringValue).content = .scalar(Google_Protobuf_Value(nilLiteral: ()))
    }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try store(value, in: node.child(forKey: key.stringValue), codingPath: codingPath + [key])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let child = node.child(forKey: key.stringValue)
        child.makeObject()
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(node: child, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let child = node.child(forKey: key.stringValue)
        child.makeArray()
        return UnkeyedContainer(node: child, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder { ValueEncoder(node: node.child(forKey: "super"), codingPath: codingPath) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { ValueEncoder(node: node.child(forKey: key.stringValue), codingPath: codingPath + [key]) }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let node: Node
    let codingPath: [any CodingKey]
    var count: Int {
        if case .array(let items) = node.content { return items.count }
        return 0
    }

    mutating func encodeNil() throws { node.appendChild().content = .scalar(Google_Protobuf_Value(nilLiteral: ())) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let path = codingPath + [IndexKey(count)]
        try store(value, in: node.appendChild(), codingPath: path)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let path = codingPath + [IndexKey(count)]
        let child = node.appendChild()
        child.makeObject()
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(node: child, codingPath: path))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let path = codingPath + [IndexKey(count)]
        let child = node.appendChild()
        child.makeArray()
        return UnkeyedContainer(node: child, codingPath: path)
    }

    mutating func superEncoder() -> any Encoder { ValueEncoder(node: node.appendChild(), codingPath: codingPath) }
}

private struct SingleContainer: SingleValueEncodingContainer {
    let node: Node
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { node.content = .scalar(Google_Protobuf_Value(nilLiteral: ())) }
    mutating func encode<T: Encodable>(_ value: T) throws { try store(value, in: node, codingPath: codingPath) }
}
