import Foundation
import IngestKit
import IngestLocalEmbeddings
import Testing

@Suite struct SafeTensorsFileTests {
    /// Writes a safetensors file: header length, JSON header, then `data`.
    private func write(header: String, data: [UInt8]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("st-\(UUID().uuidString).safetensors").path
        var bytes = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian, Array.init)
        bytes += Array(header.utf8) + data
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    private func bytes(_ floats: [Float]) -> [UInt8] {
        floats.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
    }

    @Test func readsF32AsAViewAndConvertsF16AndBF16() throws {
        // F32 [2,2] = 1 2 3 4; F16 [2] = 1.5, -2; BF16 [1] = 3.
        let f16: [UInt8] = [0x00, 0x3E, 0x00, 0xC0]
        let bf16: [UInt8] = [0x40, 0x40]
        let header = #"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"h":{"dtype":"F16","shape":[2],"data_offsets":[16,20]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[20,22]}}"#
        // Pad the header to a multiple of 8 with spaces, as writers do, so F32 data is aligned.
        let padded = header + String(repeating: " ", count: (8 - header.utf8.count % 8) % 8)
        let path = try write(header: padded, data: bytes([1, 2, 3, 4]) + f16 + bf16)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try SafeTensorsFile(path: path)
        #expect(Set(file.tensors.keys) == ["a", "h", "b"])
        #expect(Array(try file.floats("a", shape: [2, 2])) == [1, 2, 3, 4])
        #expect(Array(try file.floats("h", shape: [2])) == [1.5, -2])
        #expect(Array(try file.floats("b", shape: [1])) == [3])
        #expect(throws: IngestError.self) { try file.floats("a", shape: [4]) }
        #expect(throws: IngestError.self) { try file.floats("missing", shape: [1]) }
    }

    @Test(arguments: [
        #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}}"#,  // range past the end
        #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,   // size does not match the shape
        #"{"a":{"dtype":"X9","shape":[2],"data_offsets":[0,8]}}"#,    // unknown dtype
        #"["not an object"]"#,
    ])
    func rejectsMalformedHeaders(header: String) throws {
        let path = try write(header: header, data: bytes([1, 2]))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = #expect(throws: IngestError.self) { try SafeTensorsFile(path: path) }
        #expect(error?.reason == .configuration)
    }

    @Test func rejectsAHeaderLengthBeyondTheFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("st-\(UUID().uuidString)").path
        try Data(withUnsafeBytes(of: UInt64(1 << 40).littleEndian, Array.init) + [0x7B, 0x7D]).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: IngestError.self) { try SafeTensorsFile(path: path) }
        #expect(throws: IngestError.self) { try SafeTensorsFile(path: path + ".missing") }
    }
}
