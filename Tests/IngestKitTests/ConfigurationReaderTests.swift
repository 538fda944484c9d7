import Foundation
import IngestKit
import Logging
import Testing

/// The one configuration reader: environment variables, flags over them, an in-memory source for
/// tests, and strict messages naming the variable (or flag), the value and what is expected.
@Suite struct ConfigurationReaderTests {
    @Test func readsAnInMemorySource() throws {
        let env = Environment(["INGEST_MAX_TOKENS": " 512 ", "OPENSEARCH_INDEX": "docs", "EMPTY": ""])
        #expect(try env.int("INGEST_MAX_TOKENS", default: 256, range: 16...8192) == 512)
        #expect(env.string("OPENSEARCH_INDEX") == "docs")
        #expect(env.string("EMPTY") == nil)  // empty means unset
        #expect(env.string("MISSING", default: "d") == "d")
    }

    @Test func readsTheProcessEnvironment() throws {
        // PATH is set for every test process; the reader sees what the process sees.
        let path = ProcessInfo.processInfo.environment["PATH"]
        #expect(Environment().string("PATH") == path?.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    @Test func flagsOverrideTheEnvironment() throws {
        let env = Environment(
            ["INGEST_MAX_TOKENS": "512", "INGEST_CONCURRENCY": "8"],
            flags: [.init("INGEST_MAX_TOKENS", spelling: "--max-tokens", value: "128")]
        )
        #expect(try env.int("INGEST_MAX_TOKENS", default: 256, range: 16...8192) == 128)
        #expect(try env.int("INGEST_CONCURRENCY", default: 4, range: 1...256) == 8)  // no flag: the variable
    }

    @Test func aBadFlagIsNamedAsTheFlag() {
        let env = Environment(["INGEST_MAX_TOKENS": "512"], flags: [.init("INGEST_MAX_TOKENS", spelling: "--max-tokens", value: "5")])
        #expect {
            try env.int("INGEST_MAX_TOKENS", default: 256, range: 16...8192)
        } throws: { error in
            let message = (error as? IngestError)?.message ?? ""
            // A flag can only be fixed; "unset it" is for variables.
            return message.contains("--max-tokens=5") && message.contains("16 to 8192") && message.hasSuffix("; fix it")
        }
    }

    @Test(arguments: [
        ("INGEST_LOG_LEVEL", "loud"),
        ("EMBEDDING_DIMENSIONS", "big"),
        ("INGEST_MAX_TOKENS", "9000"),
        ("OPENSEARCH_USE_SSL", "maybe"),
        ("DOCLING_TIMEOUT_SECONDS", "soon"),
        ("INGEST_MAX_DECOMPRESSED_BYTES", "0"),
        ("INGEST_MAX_INFLIGHT_BODY_BYTES", "-1"),
    ])
    func aMalformedValueIsAnErrorNamingTheVariableAndValue(name: String, value: String) {
        let env = Environment([name: value])
        #expect {
            switch name {
            case "INGEST_LOG_LEVEL": _ = try env.logLevel(name, default: .info)
            case "OPENSEARCH_USE_SSL": _ = try env.bool(name, default: false)
            case "DOCLING_TIMEOUT_SECONDS": _ = try env.seconds(name, default: .seconds(600))
            case "EMBEDDING_DIMENSIONS": _ = try env.int(name, range: 1...16_000)
            case "INGEST_MAX_TOKENS": _ = try env.int(name, default: 256, range: 16...8192)
            default: _ = try env.int(name, default: 1, range: 1...(1 << 40))
            }
        } throws: { error in
            guard let error = error as? IngestError else { return false }
            return error.reason == .configuration && error.message.contains("\(name)=\(value)")
        }
    }

    @Test func logLevelsAreReadInAnyCase() throws {
        #expect(try Environment(["INGEST_LOG_LEVEL": "DEBUG"]).logLevel("INGEST_LOG_LEVEL", default: .info) == .debug)
        #expect(try Environment([:]).logLevel("INGEST_LOG_LEVEL", default: .warning) == .warning)
    }

    @Test func secretsAreReadVerbatim() {
        let env = Environment(["OPENSEARCH_PASSWORD": " pass word "])
        #expect(env.raw("OPENSEARCH_PASSWORD", isSecret: true) == " pass word ")
    }

    @Test func baseURLsMustBeHTTP() throws {
        #expect(try Environment([:]).httpURL("DOCLING_SERVE_URL", default: "http://localhost:5001") == "http://localhost:5001")
        #expect {
            try Environment(["DOCLING_SERVE_URL": "ftp://x"]).httpURL("DOCLING_SERVE_URL", default: "http://localhost:5001")
        } throws: { ($0 as? IngestError)?.message.contains("DOCLING_SERVE_URL=ftp://x") == true }
    }

    @Test func oneRuleForHTTPURLs() {
        #expect(HTTPURL("https://Example.com/a.pdf")?.host == "example.com")
        #expect(HTTPURL("http://[::1]:8080/x")?.host == "::1")
        #expect(HTTPURL("http://[::1]:8080/x")?.port == 8080)
        #expect(HTTPURL("https://example.com")?.port == 443)
        #expect(HTTPURL("file:///etc/passwd") == nil)
        #expect(HTTPURL("http://") == nil)
        #expect(HTTPURL("example.com/a.pdf") == nil)
    }
}

@Suite struct Base64Tests {
    @Test func decodesLikeFoundation() {
        for length in 0..<40 {
            let bytes = Data((0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) })
            let text = bytes.base64EncodedString()
            #expect(Base64.decode(text) == bytes, "length \(length)")
        }
    }

    @Test func skipsWhiteSpaceAnywhere() {
        let text = Data("hello, world".utf8).base64EncodedString(options: [.lineLength64Characters, .endLineWithCarriageReturn, .endLineWithLineFeed])
        #expect(Base64.decode(" \(text.prefix(5))\n\t\(text.dropFirst(5)) \r\n") == Data("hello, world".utf8))
    }

    @Test(arguments: ["abc", "ab=c", "a===", "ab==cd==", "ab*d", "abc=d", "é123", "=abc"])
    func refusesWhatIsNotBase64(_ text: String) {
        #expect(Base64.decode(text) == nil)
    }
}

@Suite struct WeightedLimiterTests {
    @Test func weightsShareOneBudget() async throws {
        let budget = AsyncLimiter(limit: 100)
        try await budget.withPermit(weight: 60) {
            #expect(budget.inUse == 60)
            try await budget.withPermit(weight: 40) { #expect(budget.inUse == 100) }
        }
        #expect(budget.inUse == 0)
    }

    @Test func aWeightOverTheLimitRunsAloneInsteadOfNever() async throws {
        let budget = AsyncLimiter(limit: 10)
        try await budget.withPermit(weight: 1_000) { #expect(budget.inUse == 10) }
        #expect(budget.inUse == 0)
    }

    @Test func aHeavyCallerWaitsUntilThereIsRoom() async throws {
        let budget = AsyncLimiter(limit: 100)
        let order = OrderLog()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await budget.withPermit(weight: 80) {
                    order.append("first")
                    try await Task.sleep(for: .milliseconds(50))
                    order.append("first done")
                }
            }
            while budget.inUse == 0 { await Task.yield() }
            group.addTask {
                try await budget.withPermit(weight: 50) { order.append("second") }
            }
            try await group.waitForAll()
        }
        #expect(order.entries == ["first", "first done", "second"])
    }
}

/// A thread-safe list of events, in the order they happened.
final class OrderLog: @unchecked Sendable {
    private let lock = NSLock()
    private var _entries: [String] = []
    var entries: [String] { lock.withLock { _entries } }
    func append(_ entry: String) { lock.withLock { _entries.append(entry) } }
}
