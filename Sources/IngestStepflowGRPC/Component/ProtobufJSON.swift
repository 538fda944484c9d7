import Foundation
import IngestKit
import SwiftProtobuf

/// `google.protobuf.Value` <-> ``JSONValue``: task inputs arrive as protobuf values, outputs and
/// error data leave as them.
package enum ProtobufJSON {
    /// The JSON value of `value`. Protobuf numbers are doubles; whole numbers that fit become `.int`
    /// so `max_tokens: 512` reads as the integer it was written as.
    package static func json(_ value: Google_Protobuf_Value) -> JSONValue {
        switch value.kind {
        case .nullValue, .none: .null
        case .boolValue(let bool): .bool(bool)
        case .numberValue(let number):
            if number == number.rounded(), abs(number) < 9e15 { .int(Int(number)) } else { .double(number) }
        case .stringValue(let string): .string(string)
        case .listValue(let list): .array(list.values.map(json))
        case .structValue(let object): .object(object.fields.mapValues(json))
        }
    }

    /// The protobuf value of `json`.
    package static func value(_ json: JSONValue) -> Google_Protobuf_Value {
        var value = Google_Protobuf_Value()
        switch json {
        case .null: value.kind = .nullValue(.nullValue)
        case .bool(let bool): value.kind = .boolValue(bool)
        case .int(let int): value.kind = .numberValue(Double(int))
        case .double(let double): value.kind = .numberValue(double)
        case .string(let string): value.kind = .stringValue(string)
        case .array(let array):
            var list = Google_Protobuf_ListValue()
            list.values = array.map(self.value)
            value.kind = .listValue(list)
        case .object(let object):
            value.kind = .structValue(structValue(object))
        }
        return value
    }

    /// The protobuf struct of a JSON object.
    package static func structValue(_ object: [String: JSONValue]) -> Google_Protobuf_Struct {
        var result = Google_Protobuf_Struct()
        result.fields = object.mapValues(value)
        return result
    }
}
