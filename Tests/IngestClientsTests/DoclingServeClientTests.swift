import Foundation
import IngestChunking
import IngestDocling
import IngestKit
import Synchronization
import Testing

@Suite("Docling Serve client (fake transport, captured responses)")
struct DoclingServeClientTests {
    static let submitPath = "/v1/convert/file/async"
    static let pollPath = "/v1/status/poll/"
    static let resultPath = "/v1/result/"

    /// A transport scripted with the captured HTML conversion: submit, two polls, result.
    func htmlConversion() throws -> FakeHTTPTransport {
        let http = FakeHTTPTransport()
        http.on("POST", Self.submitPath, .captured("docling/html__convert_file_async.response.json"))
        let polls = try DoclingTestSupport.pollReplies("docling/html__convert_file_async.poll.json")
        http.on("GET", Self.pollPath, replies: polls)
        http.on("GET", Self.resultPath, .captured("docling/html__convert_file_async.result.response.json"))
        return http
    }

    func client(_ http: FakeHTTPTransport, _ configuration: DoclingConfiguration = DoclingTestSupport.configuration(), sleep: (@Sendable (Duration) async throws -> Void)? = nil) -> DoclingServeClient {
        DoclingServeClient(configuration: configuration, transport: http, sleep: sleep ?? SleepRecorder().sleep)
    }

    func expectError(_ reason: IngestError.Reason, _ body: () async throws -> Void) async throws -> IngestError {
        do {
            try await body()
        } catch let error as IngestError {
            #expect(error.reason == reason, "\(error)")
            return error
        }
        Issue.record("expected \(reason), got success")
        return IngestError(.internalError, "no error")
    }

    @Test func successfulConversionSubmitsPollsAndFetches() async throws {
        let http = try htmlConversion()
        let conversion = try await client(http, DoclingTestSupport.configuration(apiKey: "secret-key")).convert(DoclingTestSupport.html, options: [:])
        #expect(conversion.status == .success)
        #expect(conversion.warnings.isEmpty)
        #expect(conversion.markdown?.hasPrefix("# Acme Widget Service") == true)
        let requests = http.requests
        #expect(requests.map(\.method) == ["POST", "GET", "GET", "GET"])
        #expect(requests[0].url == "http://docling.test:5001/v1/convert/file/async")
        #expect(requests[1].url == "http://docling.test:5001/v1/status/poll/eaf74a10-d92e-470d-b5d9-b07d43524e4d")
        #expect(requests[3].url == "http://docling.test:5001/v1/result/eaf74a10-d92e-470d-b5d9-b07d43524e4d")
        #expect(requests.allSatisfy { $0.header("X-Api-Key") == "secret-key" })
    }

    @Test(.enabled(if: DoclingTestSupport.decoderReady, "needs IngestChunking's DoclingJSON decoder"))
    func convertDecodesTheDoclingDocument() async throws {
        let converted = try await client(try htmlConversion()).convert(DoclingTestSupport.html, options: [:])
        #expect(converted.status == .success)
        #expect(converted.markdown?.isEmpty == false)
    }

    @Test func uploadTimeoutGrowsWithTheFileSize() async throws {
        let http = try htmlConversion()
        let big = SourceDocument(source: "/docs/big.html", filename: "big.html", bytes: Data(count: 10 << 20))
        _ = try await client(http).convert(big, options: [:])
        let timeouts = http.recorded.map(\.timeout)
        #expect(timeouts[0] == .seconds(70))  // 60 s + 10 MB at 1 MB/s
        #expect(timeouts[1] == .seconds(60))
    }

    @Test func corruptDocumentIsParseFailedWithDoclingsMessage() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.submitPath, DoclingTestSupport.status("pending"))
        http.on("GET", Self.pollPath, DoclingTestSupport.status("started"), DoclingTestSupport.status("success"))
        http.on("GET", Self.resultPath, .captured("docling/err__convert_file_sync_corrupt_docx.response.json"))
        let doc = SourceDocument(source: "/docs/broken.docx", filename: "broken.docx", bytes: Data("PK".utf8))
        let error = try await expectError(.parseFailed) { _ = try await client(http).convert(doc, options: [:]) }
        #expect(error.message.contains("MsWordDocumentBackend could not load document"))
        #expect(error.message.contains("/docs/broken.docx"))
        #expect(!error.isTransient)
    }

    @Test func unsupportedFormatIsSkipped() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.submitPath, DoclingTestSupport.status("success"))
        http.on("GET", Self.resultPath, .captured("docling/err__convert_file_sync_unsupported_bin.response.json"))
        let doc = SourceDocument(source: "/docs/blob.bin", filename: "blob.bin", bytes: Data([0, 1, 2]))
        let error = try await expectError(.unsupportedFormat) { _ = try await client(http).convert(doc, options: [:]) }
        #expect(error.message.contains("File format not allowed: blob.bin"))
    }

    @Test(arguments: ["limits__convert_file_over_max_file_size", "limits__convert_file_pdf_over_max_num_pages"])
    func serverLimitsAreTooLarge(fixture: String) async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.submitPath, DoclingTestSupport.status("success"))
        http.on("GET", Self.resultPath, .captured("docling/\(fixture).response.json"))
        let error = try await expectError(.tooLarge) { _ = try await client(http).convert(DoclingTestSupport.html, options: [:]) }
        #expect(error.message.contains("DOCLING_SERVE_MAX"))
    }

    @Test func doclingTimeoutCategoryIsParseTimeout() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.submitPath, DoclingTestSupport.status("success"))
        http.on("GET", Self.resultPath, .json(#"{"document":{"filename":"a.pdf","json_content":null},"status":"failure","errors":[{"error_message":"Document processing timed out","category":"timeout"}]}"#))
        _ = try await expectError(.parseTimeout) { _ = try await client(http).convert(DoclingTestSupport.html, options: [:]) }
    }

    @Test func partialSuccessCarriesDoclingsErrorsAsWarnings() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.submitPath, DoclingTestSupport.status("pending"))
        http.on("GET", Self.pollPath, DoclingTestSupport.status("partial_success"))
        http.on("GET", Self.resultPath, .json(#"""
            {"document":{"filename":"a.pdf","md_content":"text","json_content":{"schema_name":"DoclingDocument"}},
             "status":"partial_success","processing_time":1.5,
             "errors":[{"component_type":"pipeline","error_message":"Page 3 could not be parsed","category":"backend_failure","page_no":3}]}
            """#))
        let conversion = try await client(http).convert(DoclingTestSupport.html, options: [:])
        #expect(conversion.status == .partialSuccess)
        #expect(conversion.warnings == ["Page 3 could not be parsed (page 3) [backend_failure]"])
        #expect(conversion.markdown == "text")
    }

    @Test func successWithoutJSONContentIsParseFailed() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.submitPath, DoclingTestSupport.status("success"))
        http.on("GET", Self.resultPath, .json(#"{"document":{"filename":"a.html","json_content":null},"status":"success","errors":[]}"#))
        _ = try await expectError(.parseFailed) { _ = try await client(http).convert(DoclingTestSupport.html, options: [:]) }
    }

    @Test func failedTaskWithoutResultIsParseFailed() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.submitPath, DoclingTestSupport.status("pending"))
        http.on("GET", Self.pollPath, replies: try DoclingTestSupport.pollReplies("docling/nomodels__html__convert_file_async.poll.json"))
        http.on("GET", Self.resultPath, .captured("docling/nomodels__html__convert_file_async.result.response.json"))
        let error = try await expectError(.parseFailed) { _ = try await client(http).convert(DoclingTestSupport.html, options: [:]) }
        #expect(error.message.contains("Internal processing error."))
        #expect(error.message.contains("model weights"))
    }

    @Test func taskLostWhilePollingIsResubmitted() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.submitPath, DoclingTestSupport.status("pending", taskID: "first"), DoclingTestSupport.status("pending", taskID: "second"))
        http.on("GET", "/v1/status/poll/first", .captured("docling/err__status_poll_unknown_task.response.json"))
        http.on("GET", "/v1/status/poll/second", DoclingTestSupport.status("started", taskID: "second"), DoclingTestSupport.status("success", taskID: "second"))
        http.on("GET", "/v1/result/second", .captured("docling/html__convert_file_async.result.response.json"))
        let conversion = try await client(http).convert(DoclingTestSupport.html, options: [:])
        #expect(conversion.status == .success)
        #expect(http.requests("POST", Self.submitPath).count == 2)
    }

    @Test func resubmitsAreBounded() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.submitPath, DoclingTestSupport.status("pending"))
        http.on("GET", Self.pollPath, .captured("docling/err__status_poll_unknown_task.response.json"))
        let error = try await expectError(.parseFailed) {
            _ = try await client(http, DoclingTestSupport.configuration(maxResubmits: 2)).convert(DoclingTestSupport.html, options: [:])
        }
        #expect(error.message.contains("Task not found."))
        #expect(http.requests("POST", Self.submitPath).count == 3)
    }

    @Test func missingAPIKeyIsAuthFailed() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.submitPath, .captured("docling/auth__convert_file_no_api_key.response.json"))
        let error = try await expectError(.authFailed) { _ = try await client(http).convert(DoclingTestSupport.html, options: [:]) }
        #expect(error.message.contains("set DOCLING_SERVE_API_KEY"))
        #expect(!error.isTransient)
        #expect(http.requests.count == 1)
    }

    @Test func wrongAPIKeyIsAuthFailedWithoutTheKey() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.submitPath, .captured("docling/auth__convert_file_no_api_key.response.json"))
        let error = try await expectError(.authFailed) {
            _ = try await client(http, DoclingTestSupport.configuration(apiKey: "wrong-key-123")).convert(DoclingTestSupport.html, options: [:])
        }
        #expect(error.message.contains("DOCLING_SERVE_API_KEY"))
        #expect(!error.message.contains("wrong-key-123"))
    }

    @Test func validationErrorIsInternalWithTheDetail() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.submitPath, .captured("docling/err422__convert_file_no_files.response.json"))
        let error = try await expectError(.internalError) { _ = try await client(http).convert(DoclingTestSupport.html, options: [:]) }
        #expect(error.message.contains("body.files: Field required"))
    }

    @Test func serverErrorsAreRetriedWithBackOff() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.submitPath, .captured("docling/html__convert_file_async.response.json"))
        http.on("GET", Self.pollPath, replies: [.json(#"{"detail":"boom"}"#, status: 500), .status(502)] + (try DoclingTestSupport.pollReplies("docling/html__convert_file_async.poll.json")))
        http.on("GET", Self.resultPath, .captured("docling/html__convert_file_async.result.response.json"))
        let sleeps = SleepRecorder()
        let conversion = try await client(http, sleep: sleeps.sleep).convert(DoclingTestSupport.html, options: [:])
        #expect(conversion.status == .success)
        #expect(http.requests("GET", Self.pollPath).count == 4)
    }

    /// A 408 means what it means for every service (``HTTPStatusMeaning``): a timeout worth a
    /// retry, not a document Docling could not parse.
    @Test func requestTimeoutIsRetriedAsUnavailable() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.submitPath, .status(408))
        let error = try await expectError(.serviceUnavailable) {
            _ = try await client(http, DoclingTestSupport.configuration(retryAttempts: 3)).convert(DoclingTestSupport.html, options: [:])
        }
        #expect(error.isTransient)
        #expect(http.requests.count == 3)
    }

    @Test func persistentServerErrorsGiveUpAfterTheRetryBudget() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.submitPath, .status(503))
        let error = try await expectError(.serviceUnavailable) {
            _ = try await client(http, DoclingTestSupport.configuration(retryAttempts: 3)).convert(DoclingTestSupport.html, options: [:])
        }
        #expect(error.isTransient)
        #expect(http.requests.count == 3)
    }

    @Test func connectionRefusedNamesTheSetting() async throws {
        let http = FakeHTTPTransport()
        http.on(nil, "/", .connectionRefused("http://docling.test:5001/v1/convert/file/async"))
        let error = try await expectError(.serviceUnavailable) {
            _ = try await client(http, DoclingTestSupport.configuration(retryAttempts: 2)).convert(DoclingTestSupport.html, options: [:])
        }
        #expect(error.isTransient)
        #expect(error.message.contains("DOCLING_SERVE_URL"))
        #expect(http.requests.count == 2)
    }

    @Test func documentTimeoutStopsPolling() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", Self.submitPath, DoclingTestSupport.status("pending"))
        http.on("GET", Self.pollPath, DoclingTestSupport.status("started"))
        // Real (millisecond) sleeps: the state machine measures time with the real clock.
        let configuration = DoclingTestSupport.configuration(documentTimeout: .milliseconds(30))
        let error = try await expectError(.parseTimeout) {
            _ = try await DoclingServeClient(configuration: configuration, transport: http).convert(DoclingTestSupport.html, options: [:])
        }
        #expect(error.message.contains("DOCLING_TIMEOUT_SECONDS"))
        #expect(http.requests("GET", Self.resultPath).isEmpty)
    }

    @Test func conversionsInFlightAreBounded() async throws {
        let http = FakeHTTPTransport()
        let active = ConcurrencyProbe()
        http.on("POST", Self.submitPath) { _ in
            active.enter()
            try await Task.sleep(for: .milliseconds(5))
            return HTTPResponse(status: 200, body: Data(#"{"task_id":"t","task_status":"success"}"#.utf8))
        }
        http.on("GET", Self.resultPath) { _ in
            active.leave()
            return try Fixtures.capturedResponse("docling/html__convert_file_async.result.response.json")
        }
        let client = client(http, DoclingTestSupport.configuration(maxInFlight: 2))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<6 { group.addTask { _ = try await client.convert(DoclingTestSupport.html, options: [:]) } }
            try await group.waitForAll()
        }
        #expect(active.peak == 2)
    }

    @Test func multipartBodyCarriesRepeatedFieldsAndTheFile() throws {
        let configuration = DoclingTestSupport.configuration(apiKey: "k")
        let client = DoclingServeClient(configuration: configuration, transport: FakeHTTPTransport())
        // The options arrive merged (DOCLING_CONVERT_OPTIONS under the request's, by the pipeline).
        let form = client.formOptions([
            "to_formats": ["md"], "page_range": [1, 3], "images_scale": 2.5, "include_images": true,
            "do_table_structure": false, "do_ocr": true, "ocr_options": ["lang": ["en"]],
        ])
        let names = form.map(\.name)
        #expect(names == names.sorted())
        let request = client.submitRequest(DoclingTestSupport.html, form: form, boundary: "BOUNDARY")
        #expect(request.method == "POST")
        #expect(request.header("Content-Type") == "multipart/form-data; boundary=BOUNDARY")
        #expect(request.header("X-Api-Key") == "k")
        let body = String(decoding: try #require(request.body), as: UTF8.self)
        func field(_ name: String, _ value: String) -> String {
            "--BOUNDARY\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n"
        }
        #expect(body.contains(field("to_formats", "json") + field("to_formats", "md")))
        #expect(!body.contains(field("to_formats", "md") + field("to_formats", "md")))
        #expect(body.contains(field("page_range", "1") + field("page_range", "3")))
        #expect(body.contains(field("do_ocr", "true")))
        #expect(body.contains(field("do_table_structure", "false")))
        #expect(body.contains(field("include_images", "false")))  // forced
        #expect(body.contains(field("image_export_mode", "placeholder")))
        #expect(body.contains(field("images_scale", "2.5")))
        #expect(body.contains(field("document_timeout", "600")))
        #expect(body.contains(field("ocr_options", #"{"lang":["en"]}"#)))
        #expect(body.contains("--BOUNDARY\r\nContent-Disposition: form-data; name=\"files\"; filename=\"handbook.html\"\r\nContent-Type: text/html\r\n\r\n<html><h1>Hi</h1></html>\r\n--BOUNDARY--\r\n"))
        #expect(body.hasSuffix("--BOUNDARY--\r\n"))
    }

    @Test func fileNamesAreEscapedInTheHeader() throws {
        var multipart = MultipartFormData(boundary: "B")
        multipart.addFile("files", filename: "we\"ird\r\nname.md", contentType: "text/markdown", data: Data())
        let body = String(decoding: Data(multipart.finalize().joined()), as: UTF8.self)
        #expect(body.contains(#"filename="we%22ird%0D%0Aname.md""#))
    }

    /// The document is a part of the upload as it is: sent from the caller's bytes, never copied
    /// into a body of its own (a 90 MB file used to be copied three times on its way to Docling).
    @Test func theDocumentIsSentFromItsOwnBytes() throws {
        let document = Data(repeating: 0x61, count: 1 << 20)
        var multipart = MultipartFormData(boundary: "B")
        multipart.addField("to_formats", "json")
        multipart.addFile("files", filename: "a.md", contentType: "text/markdown", data: document)
        let parts = multipart.finalize()
        #expect(parts.count == 3)
        let file = try #require(parts.first { $0.count == document.count })
        #expect(file.withUnsafeBytes { $0.baseAddress } == document.withUnsafeBytes { $0.baseAddress })
        let body = Data(parts.joined())
        #expect(body.count == parts.reduce(0) { $0 + $1.count })
        #expect(body.suffix(9) == Data("\r\n--B--\r\n".utf8))
    }

    @Test func healthChecksHealthAndVersionWithTheKey() async throws {
        let http = FakeHTTPTransport()
        http.on("GET", "/health", .captured("docling/meta__health.response.json"))
        http.on("GET", "/version", .captured("docling/meta__version.response.json"))
        let client = client(http, DoclingTestSupport.configuration(apiKey: "k"))
        #expect(try await client.version() == "1.38.2")
        try await client.checkHealth()
        #expect(http.requests("GET", "/version").allSatisfy { $0.header("X-Api-Key") == "k" })
    }

    @Test func healthWithWrongKeyIsAuthFailed() async throws {
        let http = FakeHTTPTransport()
        http.on("GET", "/health", .captured("docling/meta__health.response.json"))
        http.on("GET", "/version", .captured("docling/auth__convert_file_no_api_key.response.json"))
        _ = try await expectError(.authFailed) { try await client(http).checkHealth() }
    }

    @Test func healthWhenDownIsServiceUnavailable() async throws {
        let http = FakeHTTPTransport()
        http.on(nil, "/", .connectionRefused())
        let error = try await expectError(.serviceUnavailable) { try await client(http).checkHealth() }
        #expect(error.message.contains("DOCLING_SERVE_URL"))
    }
}

/// Docling's result body is read once: status, errors and Markdown in one pass over the
/// envelope, the DoclingDocument from the `json_content` bytes.
@Suite struct DoclingResultReadingTests {
    @Test func onePassGivesWhatTheTwoPassesGave() throws {
        let body = try Fixtures.capturedResponse("docling/html__convert_file_async.result.response.json").body
        let result = try DoclingConvertResult.read(body)
        #expect(result.status == "success")
        #expect(result.errors.isEmpty)
        #expect(result.markdown?.hasPrefix("# Acme Widget Service") == true)
        #expect(result.hasDocument)
        // The same document the whole-body decoder reads.
        let document = try #require(try result.document(in: body))
        let reference = try DoclingJSON.decodeDocument(from: body)
        #expect(document.texts.count == reference.texts.count && document.texts.count > 0)
        #expect(document.texts.map(\.text) == reference.texts.map(\.text))
        #expect(document.name == reference.name && document.pageCount == reference.pageCount)
    }

    @Test func errorsAndNullContentAreRead() throws {
        let body = Data(#"{"document":{"filename":"x.pdf","md_content":null,"json_content":null},"status":"partial_success","errors":[{"component_type":"pipeline","error_message":"page 2 failed","category":"backend_failure","page_no":2}],"processing_time":1.5}"#.utf8)
        let result = try DoclingConvertResult.read(body)
        #expect(result.status == "partial_success")
        let error = try #require(result.errors.first)
        #expect(result.errors.count == 1)
        #expect(error.componentType == "pipeline" && error.errorMessage == "page 2 failed" && error.category == "backend_failure" && error.pageNo == 2)
        #expect(!result.hasDocument)
        #expect(try result.document(in: body) == nil)
        #expect(throws: DoclingDecodingError.self) { try DoclingConvertResult.read(Data("[1]".utf8)) }
    }
}
