import Foundation
import IngestKit
import Testing

/// FIPS 180-2 / NIST test vectors, plus the properties the pipeline relies on (streaming equals
/// one-shot, files hash like their bytes).
@Suite("SHA-256")
struct SHA256Tests {
    @Test func emptyMessage() {
        #expect(SHA256.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func abc() {
        #expect(SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func twoBlockMessage448Bits() {
        #expect(SHA256.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test func longer896BitMessage() {
        let message = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
        #expect(SHA256.hex(message) == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
    }

    @Test func oneMillionA() {
        var hasher = SHA256()
        let thousand = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { hasher.update(thousand) }
        #expect(hasher.hexDigest() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func multiChunkUpdateEqualsOneShot() {
        var generator = SplitMix(seed: 42)
        let message = (0..<10_000).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        let oneShot = SHA256.hex(Data(message))
        // Every split pattern crosses block boundaries differently: 1, 3, 63, 64, 65, 1000 bytes.
        for step in [1, 3, 63, 64, 65, 1000] {
            var hasher = SHA256()
            var start = 0
            while start < message.count {
                let end = min(start + step, message.count)
                hasher.update(message[start..<end])
                start = end
            }
            #expect(hasher.hexDigest() == oneShot, "step \(step)")
        }
        // Padding boundaries: lengths around 55/56/64 bytes.
        for length in 54...66 {
            let bytes = Array(message.prefix(length))
            var split = SHA256()
            split.update(bytes.prefix(length / 2))
            split.update(bytes.dropFirst(length / 2))
            #expect(split.hexDigest() == SHA256.hex(Data(bytes)), "length \(length)")
        }
    }

    @Test func finalizeDoesNotConsumeTheHasher() {
        var hasher = SHA256()
        hasher.update("ab".utf8)
        _ = hasher.finalize()
        hasher.update("c".utf8)
        #expect(hasher.hexDigest() == SHA256.hex("abc"))
        #expect(hasher.finalize().count == 32)
    }
}

/// A tiny deterministic generator, so test data is the same on every run.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
