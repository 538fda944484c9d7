#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import IngestKit

/// A `.safetensors` file mapped read-only into memory: an 8-byte little-endian header length, a
/// JSON header naming each tensor's dtype, shape and byte range, then the raw little-endian data.
///
/// Why mmap: the 90 MB of MiniLM weights are read straight from the page cache; F32 tensors are
/// handed out as views into the mapping, so the weights are never copied (and pages the model
/// never touches, e.g. the pooler, are never read). Other float dtypes are converted to F32 once.
///
/// `@unchecked Sendable`: the mapping is read-only and nothing is mutated after `init`, except
/// the list of converted buffers, which is guarded by a lock.
package final class SafeTensorsFile: @unchecked Sendable {
    /// One tensor's entry in the header.
    package struct TensorInfo: Sendable, Equatable {
        package var dtype: String
        package var shape: [Int]
        /// Byte range relative to the start of the data section.
        package var byteRange: Range<Int>
    }

    /// Largest JSON header we accept; the format's own reference implementation caps it at 100 MB.
    package static let maxHeaderBytes = 100 << 20

    /// The file, for error messages.
    package let path: String
    /// Every tensor by name (`__metadata__` left out).
    package let tensors: [String: TensorInfo]
    private let base: UnsafeRawPointer
    private let mappedLength: Int
    private let dataOffset: Int
    private let converted = NSLock()
    private var convertedBuffers: [UnsafeMutableBufferPointer<Float>] = []

    /// Maps `path` and parses its header; the tensor data is not read.
    /// - Throws: ``IngestError`` `configuration` when the file is missing, unreadable or not safetensors.
    package init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw IngestError(.configuration, "cannot open the model weights \(path) (\(String(cString: strerror(errno)))); check EMBEDDING_MODEL_PATH points at an all-MiniLM-L6-v2 folder (scripts/fetch-minilm downloads one)")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_size >= 8 else {
            throw IngestError(.configuration, "the model weights \(path) are empty or unreadable; download the model again (scripts/fetch-minilm)")
        }
        let length = Int(info.st_size)
        guard let mapping = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0), mapping != MAP_FAILED else {
            throw IngestError(.configuration, "cannot map the model weights \(path) into memory (\(String(cString: strerror(errno)))); check free address space and file permissions")
        }
        let base = UnsafeRawPointer(mapping)
        do {
            let (tensors, dataOffset) = try Self.parseHeader(base: base, length: length, path: path)
            self.tensors = tensors
            self.dataOffset = dataOffset
        } catch {
            munmap(mapping, length)
            throw error
        }
        self.base = base
        self.mappedLength = length
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: base), mappedLength)
        for buffer in convertedBuffers { buffer.deallocate() }
    }

    /// Tells the kernel this process no longer needs the mapped pages wholly inside `buffer` (a
    /// tensor copied elsewhere, like the packed linear weights), so they leave its resident set;
    /// reading them again would fault them back in from the file. A no-op for converted tensors.
    package func dropPages(of buffer: UnsafeBufferPointer<Float>) {
        guard let start = buffer.baseAddress.map(UnsafeRawPointer.init) else { return }
        let end = start + buffer.count * MemoryLayout<Float>.stride
        guard start >= base, end <= base + mappedLength else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let first = (Int(bitPattern: start) + page - 1) / page * page
        let last = Int(bitPattern: end) / page * page
        guard last > first, let pointer = UnsafeMutableRawPointer(bitPattern: first) else { return }
        _ = madvise(pointer, last - first, Int32(MADV_DONTNEED))
    }

    /// The tensor `name` as Float32, checked against `shape`. F32 data is a view into the mapping
    /// (valid as long as this object lives); F16 and BF16 are converted once and kept here.
    /// - Throws: ``IngestError`` `configuration` when the tensor is missing or has another shape or dtype.
    package func floats(_ name: String, shape: [Int]) throws -> UnsafeBufferPointer<Float> {
        guard let info = tensors[name] else {
            throw IngestError(.configuration, "the model weights \(path) lack the tensor \(name); is this a BERT model in the Hugging Face layout (all-MiniLM-L6-v2)?")
        }
        guard info.shape == shape else {
            throw IngestError(.configuration, "the tensor \(name) in \(path) has shape \(info.shape), config.json implies \(shape); the weights and config.json do not belong together")
        }
        let count = shape.reduce(1, *)
        let start = base + dataOffset + info.byteRange.lowerBound
        switch info.dtype {
        case "F32":
            if Int(bitPattern: start) % MemoryLayout<Float>.alignment == 0 {
                return UnsafeBufferPointer(start: start.assumingMemoryBound(to: Float.self), count: count)
            }
            // Misaligned data (allowed by the format, never written by torch): one copy.
            return keep(count) { out in
                for i in 0..<count { out[i] = start.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) }
            }
        case "F16":
            return keep(count) { out in
                for i in 0..<count { out[i] = Self.halfToFloat(start.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
            }
        case "BF16":
            return keep(count) { out in
                for i in 0..<count { out[i] = Float(bitPattern: UInt32(start.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16) }
            }
        default:
            throw IngestError(.configuration, "the tensor \(name) in \(path) is \(info.dtype); the local embedder reads F32, F16 and BF16 weights")
        }
    }

    /// Allocates `count` floats, fills them with `fill` and keeps them until this file is freed.
    private func keep(_ count: Int, _ fill: (UnsafeMutableBufferPointer<Float>) -> Void) -> UnsafeBufferPointer<Float> {
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
        fill(buffer)
        converted.withLock { convertedBuffers.append(buffer) }
        return UnsafeBufferPointer(buffer)
    }

    /// IEEE 754 half to single (subnormals, infinities and NaN included).
    private static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int((h >> 10) & 0x1F)
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0 {
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        }
        if exponent == 31 {
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        }
        return Float(bitPattern: sign | (UInt32(exponent + 112) << 23) | (mantissa << 13))
    }

    /// Element sizes of the dtypes the format defines, to validate byte ranges.
    private static let elementSizes: [String: Int] = [
        "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
        "U16": 2, "U32": 4, "U64": 8, "F8_E4M3": 1, "F8_E5M2": 1,
    ]

    /// Reads the header length and JSON header, validating every byte range against the file.
    static func parseHeader(base: UnsafeRawPointer, length: Int, path: String) throws -> ([String: TensorInfo], Int) {
        func invalid(_ why: String) -> IngestError {
            IngestError(.configuration, "\(path) is not a valid safetensors file (\(why)); download the model again (scripts/fetch-minilm)")
        }
        let headerLength = UInt64(littleEndian: base.loadUnaligned(as: UInt64.self))
        guard headerLength <= UInt64(min(maxHeaderBytes, length - 8)) else {
            throw invalid("header length \(headerLength) exceeds the file or \(maxHeaderBytes) bytes")
        }
        let dataOffset = 8 + Int(headerLength)
        let headerData = Data(bytes: base + 8, count: Int(headerLength))
        guard let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw invalid("the header is not a JSON object")
        }
        let dataLength = length - dataOffset
        var tensors: [String: TensorInfo] = [:]
        for (name, value) in header where name != "__metadata__" {
            guard let entry = value as? [String: Any],
                  let dtype = entry["dtype"] as? String,
                  let shape = (entry["shape"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                  let offsets = (entry["data_offsets"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                  offsets.count == 2
            else { throw invalid("the entry for \(name) lacks dtype, shape or data_offsets") }
            guard let size = elementSizes[dtype] else { throw invalid("\(name) has the unknown dtype \(dtype)") }
            guard shape.allSatisfy({ $0 >= 0 && $0 < 1 << 40 }), offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= dataLength else {
                throw invalid("\(name) has a negative shape or a byte range outside the file")
            }
            let (elements, overflow) = shape.reduce((1, false)) { acc, dim in
                let (product, o) = acc.0.multipliedReportingOverflow(by: dim)
                return (product, acc.1 || o)
            }
            let bytes = elements.multipliedReportingOverflow(by: size)
            guard !overflow, !bytes.overflow, bytes.partialValue == offsets[1] - offsets[0] else {
                throw invalid("\(name) has \(offsets[1] - offsets[0]) bytes for shape \(shape) of \(dtype)")
            }
            tensors[name] = TensorInfo(dtype: dtype, shape: shape, byteRange: offsets[0]..<offsets[1])
        }
        return (tensors, dataOffset)
    }
}
