import Foundation
import HTTPTypes
import HummingbirdTesting
import IngestCore
import IngestKit
import IngestServer
import IngestWorker
import Testing

/// `components/execute` for `/ingest` with a JSON reply: input mapping, output shape, deadline.
@Suite struct ExecuteTests {
    static func execute(_ input: String, id: String = "x1") -> String {
        #"{"jsonrpc":"2.0","id":"\#(id)","method":"components/execute","params":{"component":"/ingest","input":\#(input),"attempt":1,"observability":{"run_id":"r1","flow_id":"f1","step_id":"ingest"}}}"#
    }

    @Test func everyInputFieldReachesThePipeline() async throws {
        let ingester = FakeIngester()
        try await TestApp.make(ingester: ingester).test(.router) { client in
            let input = #"""
                {"source":{"base64":"JVBERi0xLjQ=","filename":"r.pdf","mimetype":"application/pdf"},"filename":"report.pdf","index":"docs",
                 "owner":"o1","owner_name":"Ann","owner_email":"ann@example.com","connector_type":"upload",
                 "options":{"max_tokens":256,"docling":{"do_ocr":false,"table_mode":"fast"}}}
                """#
            let response = try await client.rpc(Self.execute(input))
            #expect(response.status == .ok)
            #expect(try response.json()["result"]?["output"]?["status"] == "indexed")
        }
        let request = try #require(ingester.requests.first)
        #expect(request.input == .inline(filename: "r.pdf", bytes: Data("%PDF-1.4".utf8)))
        #expect(request.filename == "report.pdf")
        #expect(request.index == "docs")
        #expect(request.owner == "o1" && request.ownerName == "Ann" && request.ownerEmail == "ann@example.com")
        #expect(request.connectorType == "upload")
        #expect(request.mimetype == "application/pdf")
        #expect(request.maxTokens == 256)
        #expect(request.doclingOptions == ["do_ocr": false, "table_mode": "fast"])
    }

    @Test func sourceStringsMapToPathOrURL() throws {
        #expect(try ComponentInput.parse(["source": "https://example.com/a.pdf"]).request.input == .url("https://example.com/a.pdf"))
        #expect(try ComponentInput.parse(["source": "HTTP://example.com/a.pdf"]).request.input == .url("HTTP://example.com/a.pdf"))
        #expect(try ComponentInput.parse(["source": "docs/a b.pdf"]).request.input == .path("docs/a b.pdf"))
        #expect(try ComponentInput.parse(["source": ["path": "/data/x.docx"]]).request.input == .path("/data/x.docx"))
        #expect(try ComponentInput.parse(["source": ["url": "http://127.0.0.1:8000/x.html"]]).request.input == .url("http://127.0.0.1:8000/x.html"))
        #expect(try ComponentInput.parse(["source": ["blob_id": "abc123"]]).blob?.id == "abc123")
        #expect(try ComponentInput.parse(["source": ["base64": "aGk=", "filename": "a.md"]]).request.input == .inline(filename: "a.md", bytes: Data("hi".utf8)))
        // base64 named by the top-level filename.
        #expect(try ComponentInput.parse(["source": ["base64": "aGk="], "filename": "b.md"]).request.input == .inline(filename: "b.md", bytes: Data("hi".utf8)))
    }

    @Test func outputIsTheDocumentOutcome() async throws {
        let ingester = FakeIngester { request in
            DocumentOutcome(source: "/data/a.html", documentID: "d9", filename: "a.html", status: .unchanged, chunks: 4, index: "docs", pages: nil, warnings: [IngestWarning("w")], timings: .init())
        }
        try await TestApp.make(ingester: ingester).test(.router) { client in
            let reply = try await client.rpc(Self.execute(#"{"source":"/data/a.html"}"#)).json()
            let output = try #require(reply["result"]?["output"]?.objectValue)
            #expect(output["status"] == "unchanged")
            #expect(output["document_id"] == "d9" && output["filename"] == "a.html" && output["chunks"] == 4 && output["index"] == "docs")
            #expect(output["pages"] == nil)
            #expect(output["warnings"] == ["w"])
            #expect(output["timings"]?.objectValue?.keys.sorted() == ["chunk", "convert", "embed", "index"])
            #expect(output["error"] == nil)
        }
    }

    @Test func executeHasItsOwnDeadline() async throws {
        // The fake would take 10 minutes; the deadline is 200 ms. The bound below is generous so
        // the test shows "the deadline cut it short" without timing the machine.
        let ingester = FakeIngester { _ in
            try await Task.sleep(for: .seconds(600))
            return DocumentOutcome(source: "x", status: .indexed)
        }
        let started = ContinuousClock.now
        try await TestApp.make(ingester: ingester, { $0.executeTimeout = .milliseconds(200) }).test(.router) { client in
            let reply = try await client.rpc(Self.execute(#"{"source":"/data/slow.pdf"}"#)).json()
            #expect(reply["error"]?["code"] == .int(JSONRPCError.executionFailedCode))
            let message = reply["error"]?["message"]?.stringValue ?? ""
            #expect(message.contains("/data/slow.pdf") && message.contains("INGEST_EXECUTE_TIMEOUT_SECONDS"))
            #expect(reply["error"]?["data"]?["reason"] == "cancelled")
        }
        #expect(ContinuousClock.now - started < .seconds(120))
        #expect(ingester.cancellations == 1)
    }

    @Test func failedOutcomeNamesWhatWhereAndWhy() async throws {
        let ingester = FakeIngester { _ in
            DocumentOutcome(source: "https://example.com/a.pdf", status: .failed, error: .init(reason: .embedFailed, message: "the embeddings service answered 503 after 4 attempts; check EMBEDDINGS_URL"))
        }
        try await TestApp.make(ingester: ingester).test(.router) { client in
            let response = try await client.rpc(Self.execute(#"{"source":"https://example.com/a.pdf"}"#, id: "f1"))
            #expect(response.status == .ok)
            let reply = try response.json()
            #expect(reply["id"] == "f1")
            #expect(reply["error"]?["code"] == .int(-32003))
            #expect(reply["error"]?["message"] == "Ingest failed for 'https://example.com/a.pdf' [embed_failed]: the embeddings service answered 503 after 4 attempts; check EMBEDDINGS_URL")
            #expect(reply["error"]?["data"]?["reason"] == "embed_failed")
            #expect(reply["error"]?["data"]?["outcome"]?["status"] == "failed")
        }
    }

    /// The component's typed failure, mapped to this transport's codes.
    @Test func typedFailuresMapToJSONRPCCodes() {
        let outcome = ComponentOutput(DocumentOutcome(source: "/d/a.pdf", status: .failed, error: .init(reason: .internalError, message: "bug")))
        let cases: [(ComponentFailure, Int)] = [
            (ComponentFailure(reason: .invalidInput, source: "/d/a.pdf", message: "outside the roots"), JSONRPCError.invalidParamsCode),
            (ComponentFailure(reason: .internalError, source: "/d/a.pdf", message: "unexpected"), JSONRPCError.internalErrorCode),
            (ComponentFailure(reason: .internalError, source: "/d/a.pdf", message: "bug", outcome: outcome), JSONRPCError.executionFailedCode),
            (ComponentFailure(reason: .embedFailed, source: "/d/a.pdf", message: "503"), JSONRPCError.executionFailedCode),
            (ComponentFailure(reason: .cancelled, source: "/d/a.pdf", message: "deadline"), JSONRPCError.executionFailedCode),
            (ComponentFailure(reason: .resourceUnavailable, source: "/d/a.pdf", message: "no room"), JSONRPCError.executionFailedCode),
            (ComponentFailure(reason: .leaseLost, source: "/d/a.pdf", message: "taken over"), JSONRPCError.executionFailedCode),
            (ComponentFailure(reason: .leaseTimeout, source: "/d/a.pdf", message: "held"), JSONRPCError.executionFailedCode),
        ]
        for (failure, code) in cases {
            let error = JSONRPCError(executionFailure: failure)
            #expect(error.code == code, "\(failure.reason)")
            #expect(error.data?["reason"] == .string(failure.reason.rawValue))
        }
    }

    /// The component refuses input that breaks its rules; this transport only renders the
    /// refusal, with the bytes it sent when it checked input itself.
    @Test func aRefusedInputIsInvalidParamsAsBefore() {
        let refusal = ComponentFailure(reason: .invalidInput, source: "input", message: #""source" is required"#, refusedInput: true)
        let error = JSONRPCError(executionFailure: refusal)
        #expect(error.code == JSONRPCError.invalidParamsCode)
        #expect(error.message == #"Invalid params: input for /ingest: "source" is required"#)
        #expect(error.data == ["reason": "invalid_input"])
    }

    /// One rule for an index name: a bad worker `index` is the flow's mistake (-32602), not the
    /// worker's configuration (-32003). Likewise `max_tokens` outside 16…8192.
    @Test func badIndexOrBudgetIsInvalidParams() async throws {
        let ingester = FakeIngester()
        try await TestApp.make(ingester: ingester).test(.router) { client in
            for input in [#"{"source":"/data/a.pdf","index":"Bad Name"}"#, #"{"source":"/data/a.pdf","options":{"max_tokens":8}}"#] {
                let reply = try await client.rpc(Self.execute(input)).json()
                #expect(reply["error"]?["code"] == .int(JSONRPCError.invalidParamsCode), "\(reply.jsonString())")
                #expect(reply["error"]?["data"]?["reason"] == "invalid_input")
            }
        }
        #expect(ingester.requests.isEmpty)
    }

    /// The outcome goes on the wire as the component encoded it: its bytes stand verbatim in
    /// the reply.
    @Test func outputBytesAreTheComponentsEncoding() async throws {
        let outcome = DocumentOutcome(source: "/data/a.html", documentID: "d9", filename: "a.html", status: .indexed, chunks: 4, index: "docs", pages: 3, warnings: [IngestWarning("a/b \"q\"")], timings: .init(convert: 1.25))
        let ingester = FakeIngester { _ in outcome }
        try await TestApp.make(ingester: ingester).test(.router) { client in
            let response = try await client.rpc(Self.execute(#"{"source":"/data/a.html"}"#))
            let expected = #""result":{"output":"# + String(decoding: ComponentOutput(outcome).json, as: UTF8.self) + "}"
            #expect(response.text.contains(expected), "\(response.text)")
        }
    }

    @Test func listInfoAndInferSchema() async throws {
        try await TestApp.make().test(.router) { client in
            let list = try await client.rpc(#"{"jsonrpc":"2.0","id":"l","method":"components/list","params":{}}"#).json()
            let ingest = try #require(list["result"]?["components"]?.arrayValue?.first)
            #expect(ingest["component"] == "/ingest")
            #expect(ingest["input_schema"]?["required"] == ["source"])
            #expect(ingest["input_schema"]?["properties"]?.objectValue?.keys.contains("options") == true)
            #expect(ingest["output_schema"]?["properties"]?["status"]?["enum"] == ["indexed", "unchanged"])

            let info = try await client.rpc(#"{"jsonrpc":"2.0","id":"i","method":"components/info","params":{"component":"/ingest"}}"#).json()
            #expect(info["result"]?["info"] == ingest)
            let missing = try await client.rpc(#"{"jsonrpc":"2.0","id":"m","method":"components/info","params":{"component":"/nope"}}"#).json()
            #expect(missing["error"]?["code"] == -32001, "\(missing.jsonString())")
            let infer = try await client.rpc(#"{"jsonrpc":"2.0","id":"s","method":"components/infer_schema","params":{"component":"/ingest","input_schema":{}}}"#).json()
            #expect(infer["result"]?["output_schema"] == ingest["output_schema"])
        }
    }

    @Test func initializeIsOptionalAndAcceptsBothSpellings() async throws {
        try await TestApp.make().test(.router) { client in
            // Execute first: most replicas behind the balancer never see initialize.
            let first = try await client.rpc(Self.execute(#"{"source":"/data/a.pdf"}"#)).json()
            #expect(first["result"]?["output"] != nil)
            let modern = try await client.rpc(#"{"jsonrpc":"2.0","id":"n","method":"initialize","params":{"runtimeProtocolVersion":1,"capabilities":{}}}"#).json()
            #expect(modern["result"] == ["server_protocol_version": 1, "serverProtocolVersion": 1])
            let other = try await client.rpc(#"{"jsonrpc":"2.0","method":"notifications/whatever"}"#)
            #expect(other.status == .accepted)
        }
    }

    /// Stepflow 0.10/0.11 name their REST blob API in initialize; the replica that got it keeps it
    /// (the others read STEPFLOW_BLOB_API_URL), and 0.9's initialize names none.
    @Test func initializeKeepsTheBlobAPIOf010And011() async throws {
        let rpc = RPCState()
        try await TestApp.make(rpc: rpc).test(.router) { client in
            _ = try await client.rpc(#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocol_version":1}}"#)
            #expect(rpc.blobAPIFromInitialize == nil)
            _ = try await client.rpc(#"{"jsonrpc":"2.0","id":2,"method":"initialize","params":{"runtimeProtocolVersion":1,"capabilities":{"blobApiUrl":"http://127.0.0.1:7840/api/v1/blobs","blobThreshold":1048576}}}"#)
            #expect(rpc.blobAPIFromInitialize == "http://127.0.0.1:7840/api/v1/blobs")
        }
        let configured = try ServerConfiguration.fromEnvironment(["STEPFLOW_BLOB_API_URL": "http://stepflow:7840/api/v1/blobs"])
        #expect(configured.blobAPIURL == "http://stepflow:7840/api/v1/blobs")
        #expect(throws: IngestError.self) { try ServerConfiguration.fromEnvironment(["STEPFLOW_BLOB_API_URL": "ftp://x"]) }
    }

    /// The probe of the security review: an `initialize` naming a loopback blob API, then a blob
    /// execute. The execute fails as invalid input naming both settings, and the refused reader
    /// is the one used, so nothing is sent to the named address.
    @Test func aBlobExecuteAfterAnUnallowedInitializeFailsNamingTheSettings() async throws {
        let state = WorkerState(podName: "w1")
        try await TestApp.make(state: state).test(.router) { client in
            _ = try await client.rpc(#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"runtimeProtocolVersion":1,"capabilities":{"blobApiUrl":"http://127.0.0.1:19999/x"}}}"#)
            let events = try await client.rpc(Self.execute(#"{"source":{"blob_id":"abc"}}"#)).sseEvents()
            #expect(events.count == 1, "no blobs/get callback either: \(events)")
            let reply = try #require(events.last)
            #expect(reply["error"]?["code"] == .int(JSONRPCError.invalidParamsCode), "\(reply)")
            let message = reply["error"]?["message"]?.stringValue ?? ""
            #expect(message.contains("STEPFLOW_BLOB_API_ALLOW") && message.contains("STEPFLOW_BLOB_API_URL"), "\(message)")
        }
    }
}
