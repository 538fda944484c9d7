import Foundation
import IngestChunking
import Testing

/// `Gzip.decompress` caps its output (INGEST_MAX_DECOMPRESSED_BYTES): a kilobyte of gzip can
/// inflate to gigabytes.
@Suite struct GzipLimitTests {
    /// 1 MiB of zero bytes, gzip-compressed to 1,051 bytes.
    static let oneMebibyteOfZeros = Data(base64Encoded: "H4sIAAAAAAACA+3BMQEAAADCoPVPbQhfoA" + String(repeating: "A", count: 1354) + "PgMc6jinAAAQAA==")!

    @Test func inflatesUnderTheLimit() throws {
        #expect(try Gzip.decompress(Self.oneMebibyteOfZeros, limit: 1 << 20) == Data(count: 1 << 20))
    }

    @Test func stopsPastTheLimitNamingIt() {
        #expect {
            try Gzip.decompress(Self.oneMebibyteOfZeros, limit: 100_000)
        } throws: { error in
            "\(error)".contains("INGEST_MAX_DECOMPRESSED_BYTES") && "\(error)".contains("100000")
        }
    }

    @Test func theDecodersHonourTheConfiguredLimit() {
        // What `ingest chunk FILE.json.gz` does with the setting it read.
        #expect(throws: DoclingDecodingError.self) {
            try Gzip.$maxOutputBytes.withValue(4_096) { try DoclingJSON.decodeDocument(from: Self.oneMebibyteOfZeros) }
        }
    }
}
