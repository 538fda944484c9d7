import Foundation
import IngestKit

/// Everything ``DoclingServeClient`` needs to talk to Docling Serve, with every timeout and limit
/// explicit. Built by the lead's configuration layer from environment variables (named per field).
package struct DoclingConfiguration: Sendable {
    /// Where Docling Serve listens (DOCLING_SERVE_URL, default http://localhost:5001).
    package var baseURL: String
    /// Sent as `X-Api-Key` when set (DOCLING_SERVE_API_KEY); Docling requires it on every
    /// endpoint but `/health` when its own DOCLING_SERVE_API_KEY is set. Never logged.
    package var apiKey: String?
    /// How long Docling may work on one document, counted from the first poll that shows the
    /// task `started` (DOCLING_TIMEOUT_SECONDS, default 600 s). Time spent queued is not counted.
    package var documentTimeout: Duration
    /// How long a task may stay `pending` (queued) before we give up: generous, because a busy
    /// server is not a broken document (default 4 × `documentTimeout`).
    package var pendingTimeout: Duration
    /// First sleep between status polls; it grows by ``pollGrowth`` up to ``maxPollInterval``
    /// (Docling's local engine ignores `?wait=`, so we pace the polling ourselves).
    package var pollInterval: Duration
    /// Longest sleep between status polls.
    package var maxPollInterval: Duration
    /// Factor the poll sleep grows by after each poll that shows no progress.
    package var pollGrowth: Double
    /// Deadline of one HTTP call (poll, result, health).
    package var requestTimeout: Duration
    /// Upload speed assumed when sizing the upload deadline: `requestTimeout` plus the file
    /// size at this rate, so a 200 MB file is not cut off at 60 s.
    package var minUploadBytesPerSecond: Int
    /// How often a task that vanished while polling ("Task not found.": Docling restarted, or
    /// another replica answered) is submitted again before the document fails (default 2).
    package var maxResubmits: Int
    /// Conversions in flight across every caller of one client (DOCLING_MAX_IN_FLIGHT,
    /// default 4): Docling slows down sharply when overloaded, so we queue on our side.
    package var maxInFlight: Int
    /// Retries of a single HTTP call on 5xx and connection errors.
    package var retry: RetryPolicy

    /// Defaults are the documented ones; `pendingTimeout` defaults to 4 × `documentTimeout`.
    package init(
        baseURL: String = "http://localhost:5001",
        apiKey: String? = nil,
        documentTimeout: Duration = .seconds(600),
        pendingTimeout: Duration? = nil,
        pollInterval: Duration = .milliseconds(100),
        maxPollInterval: Duration = .seconds(1),
        pollGrowth: Double = 1.5,
        requestTimeout: Duration = .seconds(60),
        minUploadBytesPerSecond: Int = 1 << 20,
        maxResubmits: Int = 2,
        maxInFlight: Int = 4,
        retry: RetryPolicy = RetryPolicy(maxAttempts: 5, baseDelay: .milliseconds(500), maxDelay: .seconds(10), maxElapsed: .seconds(120))
    ) {
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.documentTimeout = documentTimeout
        self.pendingTimeout = pendingTimeout ?? documentTimeout * 4
        self.pollInterval = pollInterval
        self.maxPollInterval = maxPollInterval
        self.pollGrowth = pollGrowth
        self.requestTimeout = requestTimeout
        self.minUploadBytesPerSecond = minUploadBytesPerSecond
        self.maxResubmits = maxResubmits
        self.maxInFlight = maxInFlight
        self.retry = retry
    }

    /// The upload deadline for a file of `bytes` bytes.
    package func uploadTimeout(bytes: Int) -> Duration {
        let rate = max(1, minUploadBytesPerSecond)
        return requestTimeout + .milliseconds(Int64(bytes) * 1000 / Int64(rate))
    }

    /// `baseURL` + `path`, without a doubled slash.
    package func url(_ path: String) -> String {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        return base + path
    }
}
