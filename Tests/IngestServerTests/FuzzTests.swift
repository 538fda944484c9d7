import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IngestKit
import IngestServer
import IngestWorker
import NIOCore
import Testing

/// Thousands of generated hostile bodies against `POST /` (issue #7): random JSON trees, wrong types
/// for every field of every method, huge strings, deep nesting (up to 100k levels), invalid UTF-8,
/// truncated and bit-flipped bodies, unknown methods, stray responses, bodies over the limit. Each
/// must get a JSON-RPC reply (a result only for a well-formed request) or 202 for a notification,
/// echo the id when the request had a usable one, and the worker must go on serving.
/// Seeded: a failure prints its seed and case number; `INGEST_FUZZ_SEED` / `INGEST_FUZZ_CASES` replay or widen.
@Suite struct FuzzTests {
    static let limit = 256 * 1024
    static let seed: UInt64 = ProcessInfo.processInfo.environment["INGEST_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0x1D6E_57F0_22C0_FFEE
    static let cases = ProcessInfo.processInfo.environment["INGEST_FUZZ_CASES"].flatMap { Int($0) } ?? 4000

    @Test func generatedBodiesAlwaysGetAJSONRPCAnswer() async throws {
        let app = TestApp.make { config in
            config.maxBodyBytes = Self.limit
            config.callbackTimeout = .milliseconds(20)
        }
        let kinds = try await app.test(.router) { client in
            var rng = SplitMix64(seed: Self.seed)
            var kinds: [String: Int] = [:]
            for number in 0..<Self.cases {
                let fuzz = FuzzCase.make(&rng)
                kinds[fuzz.kind, default: 0] += 1
                let response = try await client.execute(
                    uri: "/", method: .post,
                    headers: [.contentType: "application/json", .accept: "application/json, text/event-stream"],
                    body: ByteBuffer(bytes: fuzz.body)
                )
                let problems = Self.problems(response, fuzz)
                #expect(problems.isEmpty, "seed \(Self.seed) case \(number) [\(fuzz.kind)] \(fuzz.preview): \(problems.joined(separator: "; "))")
                if !problems.isEmpty { break }
            }
            // Still serving, and a well-formed request still works.
            #expect(try await client.execute(uri: "/health", method: .get).status == .ok)
            let reply = try await client.rpc(#"{"jsonrpc":"2.0","id":"after","method":"initialize","params":{}}"#).json()
            #expect(reply["result"]?["server_protocol_version"] == 1)
            return kinds
        }
        // Every generator ran.
        #expect(Set(kinds.keys) == Set(FuzzCase.Kind.allCases.map(\.rawValue)), "\(kinds)")
    }

    @Test(arguments: [10_000, 100_000])
    func deepNestingIsAParseErrorNotACrash(depth: Int) async throws {
        try await TestApp.make { $0.maxBodyBytes = 1 << 20 }.test(.router) { client in
            for body in [
                String(repeating: "[", count: depth) + String(repeating: "]", count: depth),
                #"{"jsonrpc":"2.0","id":"deep","method":"components/execute","params":{"component":"/ingest","input":{"source":"#
                    + String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth) + "}}}",
                String(repeating: "[", count: depth),  // unterminated too
            ] {
                let response = try await client.rpc(body)
                #expect(response.status == .badRequest)
                let reply = try response.json()
                #expect(reply["error"]?["code"] == -32700)
                #expect(reply["error"]?["message"]?.stringValue?.contains("deeper than 64 levels") == true, "\(reply)")
            }
        }
    }

    @Test func deepestAcceptedNestingIsServed() async throws {
        try await TestApp.make().test(.router) { client in
            // 64 levels in all: the envelope, then 63 arrays as params.
            let params = String(repeating: "[", count: 63) + String(repeating: "]", count: 63)
            let reply = try await client.rpc(#"{"jsonrpc":"2.0","id":1,"method":"nope","params":\#(params)}"#).json()
            #expect(reply["error"]?["code"] == -32601)
            // The envelope, params, input, options, then 60 objects.
            let docling = String(repeating: #"{"a":"#, count: 60) + "1" + String(repeating: "}", count: 60)
            let body = #"{"jsonrpc":"2.0","id":2,"method":"components/execute","params":{"component":"/ingest","input":{"source":"a.pdf","options":{"docling":\#(docling)}}}}"#
            let executed = try await client.rpc(body).json()
            #expect(executed["result"]?["output"]?["status"] == "indexed", "\(executed)")
        }
    }

    /// What is wrong with `response` as an answer to `fuzz`; empty when nothing.
    static func problems(_ response: TestResponse, _ fuzz: FuzzCase) -> [String] {
        let status = response.status.code
        var problems: [String] = []
        if fuzz.oversized, status != 413 { problems.append("oversized body answered \(status), not 413") }
        if status == 202 {
            if fuzz.expectID != nil { problems.append("a request (id \(fuzz.expectID!)) answered 202") }
            return problems
        }
        guard [200, 400, 413].contains(status) else { return problems + ["status \(status)"] }
        let messages: [JSONValue]
        if response.headers[.contentType] == "text/event-stream" {
            guard let events = try? response.sseEvents(), !events.isEmpty else { return problems + ["bad SSE body: \(response.text.prefix(300))"] }
            messages = [events.last!]
        } else {
            guard response.headers[.contentType] == "application/json" else { return problems + ["content type \(response.headers[.contentType] ?? "none")"] }
            guard let message = try? response.json() else { return problems + ["body is not JSON: \(response.text.prefix(300))"] }
            messages = [message]
        }
        for message in messages {
            if message["jsonrpc"] != "2.0" { problems.append("no jsonrpc 2.0") }
            let error = message["error"], result = message["result"]
            if (error == nil) == (result == nil) { problems.append("needs exactly one of result and error") }
            if let error {
                if error["code"]?.intValue == nil { problems.append("error without an integer code") }
                if error["message"]?.stringValue?.isEmpty != false { problems.append("error without a message") }
            }
            if result != nil, status != 200 || !fuzz.wellFormed { problems.append("a result for a malformed request") }
            if status != 200, error == nil { problems.append("HTTP \(status) without an error") }
            // A refused oversized body is not parsed: its id is found only near the start.
            if let id = fuzz.expectID, message["id"] != id, !(status == 413 && message["id"] == .null) { problems.append("id \(message["id"] ?? .null) instead of \(id)") }
        }
        return problems
    }
}

/// One generated request body and what the answer must satisfy.
struct FuzzCase {
    enum Kind: String, CaseIterable {
        case randomTree, envelope, wrongTypes, validExecute, mutatedBytes, invalidUTF8, truncated, hugeString, oversized, deepNesting, strayResponse, randomBytes
    }

    var kind: String
    var body: Data
    /// The id the reply must carry: set when the body is a request whose id the worker can read.
    var expectID: JSONValue?
    /// A JSON-RPC request the worker may answer with a result.
    var wellFormed = false
    /// Over the body limit: must be 413.
    var oversized = false

    var preview: String { String(decoding: body.prefix(160), as: UTF8.self) + (body.count > 160 ? "… (\(body.count) bytes)" : "") }

    static let methods = ["initialize", "initialized", "components/list", "components/info", "components/infer_schema", "components/execute", "blobs/get", "runs/submit", "", "components/", "INITIALIZE"]
    static let inputFields = ["source", "filename", "index", "owner", "owner_name", "owner_email", "connector_type", "mimetype", "options"]

    static func make(_ rng: inout SplitMix64) -> FuzzCase {
        let kind = Kind.allCases.randomElement(using: &rng)!
        switch kind {
        case .randomTree:
            return FuzzCase(kind: kind.rawValue, body: Gen.json(&rng, depth: 5).jsonData())
        case .envelope:
            var object: [String: JSONValue] = [:]
            let goodVersion = rng.chance(0.8)
            if goodVersion { object["jsonrpc"] = "2.0" } else if rng.chance(0.5) { object["jsonrpc"] = Gen.json(&rng, depth: 1) }
            let id = rng.chance(0.85) ? Gen.id(&rng) : Gen.json(&rng, depth: 2)
            if rng.chance(0.9) { object["id"] = id }
            let method: JSONValue = rng.chance(0.85) ? .string(methods.randomElement(using: &rng)!) : Gen.json(&rng, depth: 1)
            object["method"] = method
            if rng.chance(0.8) { object["params"] = Gen.json(&rng, depth: 4) }
            let validID = object["id"].flatMap { JSONRPCID($0) }
            let isRequest = goodVersion && validID != nil && method.stringValue.map { !$0.isEmpty } == true
                && (object["params"].map { $0.isNull || $0.objectValue != nil || $0.arrayValue != nil } ?? true)
            return FuzzCase(kind: kind.rawValue, body: JSONValue.object(object).jsonData(), expectID: isRequest ? validID?.json : nil, wellFormed: isRequest)
        case .wrongTypes:
            let id = Gen.id(&rng)
            var params = Gen.validExecuteParams(&rng).objectValue!
            switch rng.below(4) {
            case 0: params["component"] = Gen.wrongType(&rng, not: .string(""))
            case 1: params["input"] = Gen.wrongType(&rng, not: .object([:]))
            case 2: params["observability"] = Gen.json(&rng, depth: 3)
            default:
                var input = params["input"]!.objectValue!
                for _ in 0...rng.below(3) {
                    let field = inputFields.randomElement(using: &rng)!
                    switch field {
                    case "source": input[field] = rng.chance(0.5) ? Gen.wrongType(&rng, not: .string("")) : Gen.wrongSource(&rng)
                    case "options": input[field] = rng.chance(0.3) ? Gen.wrongType(&rng, not: .object([:])) : Gen.wrongOptions(&rng)
                    default: input[field] = Gen.wrongType(&rng, not: .string(""))
                    }
                }
                params["input"] = .object(input)
            }
            let method = ["components/execute", "components/info", "components/infer_schema"].randomElement(using: &rng)!
            return request(kind, id: id, method: method, params: .object(params))
        case .validExecute:
            return request(kind, id: Gen.id(&rng), method: "components/execute", params: Gen.validExecuteParams(&rng))
        case .mutatedBytes:
            var body = Gen.validBody(&rng)
            for _ in 0...rng.below(8) where !body.isEmpty {
                let at = rng.below(body.count)
                switch rng.below(3) {
                case 0: body[at] = UInt8(truncatingIfNeeded: rng.next())
                case 1: body.remove(at: at)
                default: body.insert(Array(#"{}[]",:\"0-eE."#.utf8).randomElement(using: &rng)!, at: at)
                }
            }
            return judged(kind, body)
        case .invalidUTF8:
            var body = Gen.validBody(&rng)
            let bad: [[UInt8]] = [[0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0x80], [0xFE, 0xFF], [0x00]]
            // Inside a string value most of the time (after an opening quote).
            let quotes = body.indices.filter { body[$0] == UInt8(ascii: "\"") }
            let at = rng.chance(0.8) && !quotes.isEmpty ? quotes.randomElement(using: &rng)! + 1 : rng.below(body.count + 1)
            body.insert(contentsOf: bad.randomElement(using: &rng)!, at: at)
            return judged(kind, body)
        case .truncated:
            let body = Gen.validBody(&rng)
            return judged(kind, body.prefix(rng.below(body.count)))
        case .hugeString:
            var params = Gen.validExecuteParams(&rng).objectValue!
            var input = params["input"]!.objectValue!
            let huge = Gen.hugeString(&rng, count: 100_000 + rng.below(120_000))
            let field = ["filename", "index", "owner", "connector_type", "source"].randomElement(using: &rng)!
            input[field] = .string(huge)
            params["input"] = .object(input)
            if rng.chance(0.3) { return request(kind, id: .string(huge.prefix(50_000).description), method: "components/execute", params: .object(params)) }
            if rng.chance(0.2) { return request(kind, id: Gen.id(&rng), method: huge, params: .object(params)) }
            return request(kind, id: Gen.id(&rng), method: "components/execute", params: .object(params))
        case .oversized:
            var params = Gen.validExecuteParams(&rng).objectValue!
            params["input"] = ["source": ["base64": .string(String(repeating: "QUJD", count: (FuzzTests.limit / 4) + 1 + rng.below(20_000))), "filename": "big.pdf"]]
            var fuzz = request(kind, id: Gen.id(&rng), method: "components/execute", params: .object(params))
            fuzz.oversized = true
            fuzz.wellFormed = false
            return fuzz
        case .deepNesting:
            let depth = [10, 59, 60, 61, 200, 513, 5_000, 20_000].randomElement(using: &rng)!
            let (open, close) = rng.chance(0.5) ? ("[", "]") : (#"{"k":"#, "}")
            let nested = String(repeating: open, count: depth) + (open == "[" ? "" : "0") + String(repeating: close, count: depth)
            if rng.chance(0.5) { return FuzzCase(kind: kind.rawValue, body: Data(nested.utf8)) }
            let id = Gen.id(&rng)
            let body = #"{"id":\#(id.jsonString()),"jsonrpc":"2.0","method":"components/execute","params":{"component":"/ingest","input":{"source":"a.pdf","options":{"docling":\#(nested)}}}}"#
            // Parsed only when the whole body is at most 64 deep; the id is found either way.
            let total = depth + 4
            return FuzzCase(kind: kind.rawValue, body: Data(body.utf8), expectID: id, wellFormed: total <= 64)
        case .strayResponse:
            var object: [String: JSONValue] = ["jsonrpc": "2.0", "id": Gen.id(&rng)]
            switch rng.below(4) {
            case 0: object["result"] = Gen.json(&rng, depth: 3)
            case 1: object["error"] = ["code": .int(Int(truncatingIfNeeded: rng.next())), "message": .string(Gen.string(&rng))]
            case 2: object["error"] = Gen.json(&rng, depth: 2)
            default:
                object["result"] = Gen.json(&rng, depth: 1)
                object["error"] = Gen.json(&rng, depth: 1)
            }
            return FuzzCase(kind: kind.rawValue, body: JSONValue.object(object).jsonData())
        case .randomBytes:
            return FuzzCase(kind: kind.rawValue, body: Data((0..<rng.below(2000)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }))
        }
    }

    /// A byte-mangled body may still be a valid request (a flipped byte inside a string): then
    /// it is held to the rules of one.
    static func judged(_ kind: Kind, _ body: Data) -> FuzzCase {
        var fuzz = FuzzCase(kind: kind.rawValue, body: body)
        if let value = try? JSONDecoder().decode(JSONValue.self, from: body), value["jsonrpc"] == "2.0",
           let id = value["id"].flatMap({ JSONRPCID($0) }), value["method"]?.stringValue?.isEmpty == false {
            fuzz.expectID = id.json
            fuzz.wellFormed = true
        }
        return fuzz
    }

    static func request(_ kind: Kind, id: JSONValue, method: String, params: JSONValue) -> FuzzCase {
        let body: JSONValue = ["jsonrpc": "2.0", "id": id, "method": .string(method), "params": params]
        return FuzzCase(kind: kind.rawValue, body: body.jsonData(), expectID: id, wellFormed: !method.isEmpty)
    }
}

/// Value generators.
enum Gen {
    static func id(_ rng: inout SplitMix64) -> JSONValue {
        switch rng.below(4) {
        case 0: .int(Int(truncatingIfNeeded: rng.next()))
        case 1: .int(rng.below(1000))
        case 2: .string(String(rng.next(), radix: 16) + "-" + String(rng.next(), radix: 16))
        default: .string(string(&rng))
        }
    }

    static func string(_ rng: inout SplitMix64) -> String {
        let pool: [Character] = Array("aZ09 _-./:\\\"'{}[]\n\t\r\u{0}\u{1F}\u{7F}é漢字🙂\u{200B}\u{FEFF}%$#@!")
        return String((0..<rng.below(24)).map { _ in pool.randomElement(using: &rng)! })
    }

    static func hugeString(_ rng: inout SplitMix64, count: Int) -> String {
        let unit = ["A", "é", "🙂", "\"", "\\", "\n"].randomElement(using: &rng)!
        return String(repeating: unit, count: count / max(1, unit.utf8.count * 2))
    }

    static func scalar(_ rng: inout SplitMix64) -> JSONValue {
        switch rng.below(9) {
        case 0: .null
        case 1: .bool(rng.chance(0.5))
        case 2: .int(Int(truncatingIfNeeded: rng.next()))
        case 3: .int([0, -1, 1, Int.max, Int.min].randomElement(using: &rng)!)
        case 4: .double([0.5, -0.0, 1e300, -1e-300, 3.0, 1.7976931348623157e308].randomElement(using: &rng)!)
        case 5: .double(Double(bitPattern: rng.next() & 0x7FEF_FFFF_FFFF_FFFF))
        default: .string(string(&rng))
        }
    }

    static func json(_ rng: inout SplitMix64, depth: Int) -> JSONValue {
        guard depth > 0, rng.chance(0.45) else { return scalar(&rng) }
        if rng.chance(0.5) {
            return .array((0..<rng.below(5)).map { _ in json(&rng, depth: depth - 1) })
        }
        var object: [String: JSONValue] = [:]
        for _ in 0..<rng.below(5) {
            let key = rng.chance(0.5) ? (FuzzCase.inputFields + ["component", "input", "url", "path", "base64", "blob_id", "max_tokens", "docling"]).randomElement(using: &rng)! : string(&rng)
            object[key] = json(&rng, depth: depth - 1)
        }
        return .object(object)
    }

    /// Any JSON value except one of the same type as `example` (null stays possible: "absent").
    static func wrongType(_ rng: inout SplitMix64, not example: JSONValue) -> JSONValue {
        while true {
            let value = json(&rng, depth: 2)
            if value.kindDescription != example.kindDescription { return value }
        }
    }

    static func wrongSource(_ rng: inout SplitMix64) -> JSONValue {
        var object: [String: JSONValue] = [:]
        for key in ["url", "path", "base64", "blob_id", "filename", "mimetype", "bogus"] where rng.chance(0.35) {
            object[key] = rng.chance(0.5) ? wrongType(&rng, not: .string("")) : .string(["", "ftp://h/x", "http://127.0.0.1/x", "../../etc/passwd", "%%%", "blob with spaces", "x.pdf"].randomElement(using: &rng)!)
        }
        return .object(object)
    }

    static func wrongOptions(_ rng: inout SplitMix64) -> JSONValue {
        var object: [String: JSONValue] = [:]
        if rng.chance(0.6) { object["max_tokens"] = rng.chance(0.5) ? wrongType(&rng, not: .int(0)) : .int([0, -5, Int.max, Int.min, 1].randomElement(using: &rng)!) }
        if rng.chance(0.6) { object["docling"] = rng.chance(0.5) ? wrongType(&rng, not: .object([:])) : json(&rng, depth: 3) }
        if rng.chance(0.2) { object[string(&rng)] = scalar(&rng) }
        return .object(object)
    }

    /// A `components/execute` params object the worker accepts.
    static func validExecuteParams(_ rng: inout SplitMix64) -> JSONValue {
        let source: JSONValue = switch rng.below(5) {
        case 0: .string("/data/\(string(&rng).filter(\.isLetter))a.pdf")
        case 1: ["path": "/data/b.docx"]
        case 2: ["base64": "aGVsbG8=", "filename": "hello.md"]
        case 3: ["blob_id": "0123abcd"]
        default: .string("fail:broken.pdf")
        }
        var input: [String: JSONValue] = ["source": source]
        if rng.chance(0.5) { input["index"] = "docs" }
        if rng.chance(0.3) { input["owner"] = .string(string(&rng)) }
        if rng.chance(0.3) { input["options"] = ["max_tokens": 128, "docling": ["do_ocr": false]] }
        var params: [String: JSONValue] = ["component": "/ingest", "input": .object(input)]
        if rng.chance(0.3) { params["observability"] = ["run_id": .string(string(&rng)), "step_id": "s1"] }
        return .object(params)
    }

    /// A well-formed request body of any method, to mutate.
    static func validBody(_ rng: inout SplitMix64) -> Data {
        let params: JSONValue = switch rng.below(3) {
        case 0: ["component": "/ingest"]
        case 1: .object([:])
        default: validExecuteParams(&rng)
        }
        let method = ["initialize", "components/list", "components/info", "components/execute"].randomElement(using: &rng)!
        return JSONValue.object(["jsonrpc": "2.0", "id": id(&rng), "method": .string(method), "params": params]).jsonData()
    }
}

/// A small, fast, seedable generator (SplitMix64), so every run replays the same cases.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func below(_ bound: Int) -> Int { bound <= 0 ? 0 : Int(next() % UInt64(bound)) }
    mutating func chance(_ p: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < p }
}
