import Foundation
import IngestCore
import IngestKit
import IngestServer
import Testing

/// The `components/execute` reply is written around the outcome's bytes: the same bytes the
/// whole reply had as one `JSONValue` (keys sorted), with no marker spliced in.
@Suite struct ExecuteReplyTests {
    static let outcome = ComponentOutput(DocumentOutcome(
        source: "/d/\"q\"\n.pdf", documentID: "abc", filename: "a.pdf", status: .indexed, chunks: 3, pages: 2
    ))

    /// The reply as one JSON value, encoded whole (the route before, minus the splice).
    static func whole(_ message: JSONValue) -> String { String(decoding: message.jsonData(), as: UTF8.self) }

    static func parsed(_ output: ComponentOutput) throws -> JSONValue { try JSONValue.parse(output.json, what: "outcome") }

    @Test(arguments: [JSONRPCID.string("x-1"), .int(7)])
    func successBytesEqualTheWholeMessage(id: JSONRPCID) throws {
        let data = ExecuteReply.data(id, .success(Self.outcome))
        let expected = Self.whole(JSONRPCEncoder.result(id: id, ["output": try Self.parsed(Self.outcome)]))
        #expect(String(decoding: data, as: UTF8.self) == expected)
        #expect(String(decoding: data, as: UTF8.self).hasPrefix(#"{"id":"#))
    }

    @Test func failureCarriesTheOutcomeInErrorData() throws {
        let failure = ComponentFailure(reason: .embedFailed, source: "/d/a \"b\".pdf", message: "503\tagain", outcome: Self.outcome)
        let data = ExecuteReply.data(.string("x1"), .failure(failure))
        var error = JSONRPCError(executionFailure: failure)
        var members = error.data?.objectValue ?? [:]
        members["outcome"] = try Self.parsed(Self.outcome)
        error.data = .object(members)
        #expect(String(decoding: data, as: UTF8.self) == Self.whole(JSONRPCEncoder.error(id: .string("x1"), error)))
        let back = try JSONValue.parse(data, what: "reply")
        #expect(back["error"]?["code"]?.intValue == JSONRPCError.executionFailedCode)
        #expect(back["error"]?["data"]?["outcome"]?["chunks"]?.intValue == 3)
    }

    @Test func failureWithoutOutcomeIsThePlainError() {
        let failure = ComponentFailure(reason: .invalidInput, source: "/d/a.pdf", message: "outside the roots")
        let data = ExecuteReply.data(.int(3), .failure(failure))
        #expect(data == JSONRPCEncoder.error(id: .int(3), JSONRPCError(executionFailure: failure)).jsonData())
    }
}
