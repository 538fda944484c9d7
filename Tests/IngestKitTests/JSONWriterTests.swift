import Foundation
import IngestKit
import Testing

@Suite struct JSONWriterTests {
    /// Compact, sorted keys, Floats short, control characters escaped, UTF-8 copied as is.
    @Test func valueIsCompactWithSortedKeysAndShortFloats() throws {
        var json = JSONWriter()
        try json.value([
            "text": "line one\nsays \"hi\"\t\u{01} ✓ a/b \\",
            "page": 2,
            "owner": nil,
            "v": [0.1, -0.25, 1e-5, 3, 0.123456789012],  // 3 is an integer literal: .int
            "nested": ["b": true, "a": [[], [:]]],
        ], path: "")
        #expect(String(decoding: json.bytes, as: UTF8.self)
            == #"{"nested":{"a":[[],{}],"b":true},"owner":null,"page":2,"text":"line one\nsays \"hi\"\t\u0001 ✓ a/b \\","v":[0.1,-0.25,1e-05,3,0.123456789012]}"#)
        // It reads back as the same value.
        let back = try JSONValue.parse(Data(json.bytes), what: "line")
        #expect(back["text"]?.stringValue == "line one\nsays \"hi\"\t\u{01} ✓ a/b \\")
    }

    @Test func nonFiniteNumberNamesItsPath() {
        var json = JSONWriter()
        let error = #expect(throws: JSONWriter.NonFiniteNumber.self) { try json.value(["a": ["b": .double(.nan)]], path: "") }
        #expect(error?.path == "a.b")
    }

    @Test func separatorsInArraysAndObjects() {
        var json = JSONWriter()
        json.raw("{")
        json.key("s"); json.strings(["", "x"])
        json.key("i"); json.ints([])
        json.key("f"); json.floats([1, 0.5])
        json.raw("}")
        #expect(String(decoding: json.bytes, as: UTF8.self) == #"{"s":["","x"],"i":[],"f":[1.0,0.5]}"#)
    }
}
