import Foundation
import IngestKit
import Testing

/// `IngestError.Reason` is a closed enum whose raw values are the contract's `reason` strings:
/// they stay byte for byte, travel as bare strings, and an unknown one is refused on decoding.
@Suite struct ReasonTests {
    /// Every reason and its wire string (README, JSON-RPC `data.reason`, gRPC `data.reason`,
    /// report `error.reason`, metrics label). A new reason must be added here too.
    static let wire: [IngestError.Reason: String] = [
        .unreadable: "unreadable", .unsupportedFormat: "unsupported_format", .tooLarge: "too_large",
        .parseFailed: "parse_failed", .parseTimeout: "parse_timeout", .emptyDocument: "empty_document",
        .embedFailed: "embed_failed", .embedRejected: "embed_rejected", .indexRejected: "index_rejected",
        .authFailed: "auth_failed", .dimensionMismatch: "dimension_mismatch", .serviceUnavailable: "service_unavailable",
        .leaseTimeout: "lease_timeout", .leaseLost: "lease_lost", .resourceUnavailable: "resource_unavailable", .configuration: "configuration",
        .invalidInput: "invalid_input", .cancelled: "cancelled", .internalError: "internal",
    ]

    @Test func rawValuesAreTheContractStrings() {
        #expect(Set(IngestError.Reason.allCases) == Set(Self.wire.keys))
        for reason in IngestError.Reason.allCases {
            #expect(reason.rawValue == Self.wire[reason])
            #expect(reason.description == Self.wire[reason])
        }
    }

    @Test func encodesAndDecodesAsTheBareString() throws {
        for reason in IngestError.Reason.allCases {
            let data = try JSONEncoder().encode([reason])
            #expect(String(decoding: data, as: UTF8.self) == "[\"\(reason.rawValue)\"]")
            #expect(try JSONDecoder().decode([IngestError.Reason].self, from: data) == [reason])
        }
    }

    /// The decision: an unknown reason (a report of another version) is a decoding error that
    /// names it, not a silent `internal`.
    @Test func decodingAnUnknownReasonThrowsNamingIt() {
        do {
            _ = try JSONDecoder().decode([IngestError.Reason].self, from: Data(#"["quota_exceeded"]"#.utf8))
            Issue.record("an unknown reason decoded")
        } catch let DecodingError.dataCorrupted(context) {
            #expect(context.debugDescription.contains("'quota_exceeded'"))
            #expect(context.debugDescription.contains("parse_failed"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }
}
