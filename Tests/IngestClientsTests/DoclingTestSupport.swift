import Foundation
import IngestChunking
import IngestDocling
import IngestKit
import Synchronization

/// Helpers shared by the Docling client tests.
enum DoclingTestSupport {
    /// A configuration that polls and retries in milliseconds, so tests run fast.
    static func configuration(
        apiKey: String? = nil,
        documentTimeout: Duration = .seconds(600),
        maxResubmits: Int = 2,
        maxInFlight: Int = 4,
        retryAttempts: Int = 3
    ) -> DoclingConfiguration {
        DoclingConfiguration(
            baseURL: "http://docling.test:5001/",
            apiKey: apiKey,
            documentTimeout: documentTimeout,
            pollInterval: .milliseconds(1),
            maxPollInterval: .milliseconds(2),
            maxResubmits: maxResubmits,
            maxInFlight: maxInFlight,
            retry: RetryPolicy(maxAttempts: retryAttempts, baseDelay: .milliseconds(1), maxDelay: .milliseconds(2), maxElapsed: .seconds(10))
        )
    }

    /// The poll answers recorded in a `*.poll.json` capture, in order.
    static func pollReplies(_ fixture: String) throws -> [FakeHTTPTransport.Reply] {
        let capture = try JSONValue.parse(try Fixtures.data(fixture), what: fixture)
        return (capture["distinct_states"]?.arrayValue ?? []).map { state in
            .json(state["body"]?.jsonString() ?? "{}", status: state["status_code"]?.intValue ?? 200)
        }
    }

    /// A task status body.
    static func status(_ status: String, taskID: String = "task-1", errorMessage: String? = nil) -> FakeHTTPTransport.Reply {
        let value: JSONValue = [
            "task_id": .string(taskID), "task_type": "convert", "task_status": .string(status),
            "task_position": nil, "task_meta": nil, "error_message": errorMessage.map(JSONValue.string) ?? .null, "failure": nil,
        ]
        return .json(value.jsonString())
    }

    /// A small HTML document as the pipeline would hand it over.
    static let html = SourceDocument(source: "/docs/handbook.html", filename: "handbook.html", bytes: Data("<html><h1>Hi</h1></html>".utf8))

    /// Whether the chunking module's DoclingDocument decoder is in place (it replaces a stub that
    /// throws); tests of the full `convert` wait for it.
    static let decoderReady: Bool = {
        guard let response = try? Fixtures.capturedResponse("docling/html__convert_file_async.result.response.json") else { return false }
        return (try? DoclingJSON.decodeDocument(from: response.body)) != nil
    }()
}

/// Records the durations a client asked to sleep, without sleeping.
final class SleepRecorder: Sendable {
    private let slept = Mutex<[Duration]>([])
    var durations: [Duration] { slept.withLock { $0 } }
    var sleep: @Sendable (Duration) async throws -> Void {
        { [self] duration in
            slept.withLock { $0.append(duration) }
            try Task.checkCancellation()
        }
    }
}
