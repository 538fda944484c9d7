import Foundation
import IngestKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Every limit and timeout of the worker in one place, read from the environment by `ingest serve`,
/// so no call site carries a magic number and tests can shrink them.
package struct ServerConfiguration: Sendable, Equatable {
    /// Interface to bind (SERVER_HOST). `0.0.0.0` in a pod so the balancer can reach it.
    package var host: String
    /// Port to bind (SERVER_PORT).
    package var port: Int
    /// Prefix of the instance id (POD_NAME, else the host name); the balancer routes callback
    /// replies by the id, so each replica needs a distinct one.
    package var podName: String
    /// Request bodies above this are refused before they are read (INGEST_MAX_BODY_BYTES).
    package var maxBodyBytes: Int
    /// Request-body bytes held at once across all requests (INGEST_MAX_INFLIGHT_BODY_BYTES,
    /// default 2 × ``maxBodyBytes``). Each POST reserves its declared length (``maxBodyBytes`` when
    /// chunked) before it is read and keeps it until its reply is ready, execution included; a
    /// request that does not fit waits. A body costs about three times its size while it is
    /// handled (the bytes, the parsed JSON, the decoded base64 document), so this bounds the
    /// worker's memory for bodies near 3 × this value, however many executes arrive. The same
    /// budget (``documentBudget()``) covers every execution's document on both transports: a URL
    /// download or blob read reserves its bytes before reading and holds them until it ends.
    package var maxInflightBodyBytes: Int
    /// INGEST_MAX_FILE_BYTES, read with the pipeline's settings (`ServeCommand` copies it here):
    /// what a URL download of unknown length reserves in the budget, and the cap on a raw blob.
    package var maxFileBytes: Int = 100 << 20
    /// The worker's one budget for document bytes in flight (request bodies, URL downloads,
    /// blob reads); make it once per worker and share it.
    package func documentBudget() -> DocumentBudget {
        DocumentBudget(limitBytes: maxInflightBodyBytes, maxFileBytes: maxFileBytes)
    }

    /// Request bodies nested deeper than this many arrays/objects are refused (-32700) by a linear
    /// scan before they are decoded: decoding costs superlinear time in the depth (a 2.5 KB body
    /// 510 levels deep took ~2 s of CPU), and a message needs about 5 levels (envelope, params,
    /// input, options, Docling options).
    package var maxJSONDepth: Int
    /// After SIGTERM, how long `/health` says "draining" while requests are still served, so the
    /// balancer's 10 s poll stops routing here before the server stops accepting (INGEST_SHUTDOWN_GRACE_SECONDS).
    package var shutdownGrace: Duration
    /// Deadline of one `components/execute`: the orchestrator has none, so a stuck step would hang
    /// its run forever (INGEST_EXECUTE_TIMEOUT_SECONDS).
    package var executeTimeout: Duration
    /// Idle keep-alive connections are closed after this. It must exceed the orchestrator's 90 s
    /// pool timeout, or a reused connection fails the step and is not retried.
    package var idleTimeout: Duration
    /// Bound on one dependency check, so `/health` details never go stale for long.
    package var healthCheckTimeout: Duration
    /// How often the dependency details of `/health` are refreshed in the background.
    package var healthRefreshInterval: Duration
    /// How long a callback (`blobs/get`) waits for the orchestrator's reply POST: a lost reply
    /// would otherwise hang the step (INGEST_CALLBACK_TIMEOUT_SECONDS).
    package var callbackTimeout: Duration
    /// STEPFLOW_BLOB_API_URL: the REST blob API of Stepflow 0.10/0.11 (`…/api/v1/blobs`). Behind the
    /// balancer only one replica receives `initialize` and its `capabilities.blobApiUrl`, so the
    /// address is also a setting; when unset, the one from `initialize` is used, if this replica got it.
    package var blobAPIURL: String?
    /// STEPFLOW_BLOB_API_ALLOW: the origins (`http://host:port`, comma-separated) whose blob API
    /// an `initialize` may name. Empty by default: `initialize` is unauthenticated, so without
    /// this list anyone who reaches the worker could point its blob reads at any address.
    package var blobAPIAllow: Set<HTTPOrigin> = []

    /// The defaults of `ingest serve`; tests override single values.
    package init(
        host: String = "0.0.0.0",
        port: Int = 8080,
        podName: String = ServerConfiguration.defaultPodName(),
        maxBodyBytes: Int = 64 * 1024 * 1024,
        maxInflightBodyBytes: Int? = nil,
        maxJSONDepth: Int = 64,
        shutdownGrace: Duration = .seconds(15),
        executeTimeout: Duration = .seconds(900),
        idleTimeout: Duration = .seconds(300),
        healthCheckTimeout: Duration = .seconds(5),
        healthRefreshInterval: Duration = .seconds(10),
        callbackTimeout: Duration = .seconds(120)
    ) {
        self.host = host
        self.port = port
        self.podName = podName
        self.maxBodyBytes = maxBodyBytes
        self.maxInflightBodyBytes = maxInflightBodyBytes ?? (maxBodyBytes > Int.max / 2 ? Int.max : maxBodyBytes * 2)
        self.maxJSONDepth = maxJSONDepth
        self.shutdownGrace = shutdownGrace
        self.executeTimeout = executeTimeout
        self.idleTimeout = idleTimeout
        self.healthCheckTimeout = healthCheckTimeout
        self.healthRefreshInterval = healthRefreshInterval
        self.callbackTimeout = callbackTimeout
    }

    /// Reads SERVER_HOST, SERVER_PORT, POD_NAME, INGEST_MAX_BODY_BYTES, INGEST_MAX_INFLIGHT_BODY_BYTES, INGEST_SHUTDOWN_GRACE_SECONDS,
    /// INGEST_EXECUTE_TIMEOUT_SECONDS and INGEST_CALLBACK_TIMEOUT_SECONDS; unset or empty means the default.
    /// Throws `IngestError(.configuration)` naming the variable when a value is not usable.
    package static func fromEnvironment(_ env: Environment) throws -> ServerConfiguration {
        let longest = 999_999_999.0
        var config = ServerConfiguration(podName: env.string("POD_NAME") ?? env.string("HOSTNAME") ?? defaultPodName())
        if let host = env.string("SERVER_HOST") { config.host = host }
        if let port = try env.int("SERVER_PORT", range: 0...65535) { config.port = port }
        if let bytes = try env.int("INGEST_MAX_BODY_BYTES", range: 1...Int.max) { config.maxBodyBytes = bytes }
        config.maxInflightBodyBytes = try env.int("INGEST_MAX_INFLIGHT_BODY_BYTES", range: 1...Int.max)
            ?? (config.maxBodyBytes > Int.max / 2 ? Int.max : config.maxBodyBytes * 2)
        if let grace = try env.seconds("INGEST_SHUTDOWN_GRACE_SECONDS", range: 0...longest) { config.shutdownGrace = grace }
        if let timeout = try env.seconds("INGEST_EXECUTE_TIMEOUT_SECONDS", range: 0...longest, excludingZero: true) { config.executeTimeout = timeout }
        if let timeout = try env.seconds("INGEST_CALLBACK_TIMEOUT_SECONDS", range: 0...longest, excludingZero: true) { config.callbackTimeout = timeout }
        if env.string("STEPFLOW_BLOB_API_URL") != nil { config.blobAPIURL = try env.httpURL("STEPFLOW_BLOB_API_URL", default: "") }
        for entry in env.list("STEPFLOW_BLOB_API_ALLOW", separator: ",") {
            guard let origin = HTTPOrigin(origin: entry) else {
                throw IngestError(.configuration, "STEPFLOW_BLOB_API_ALLOW: \"\(redactingCredentials(entry))\" is not an origin; list scheme, host and port only, e.g. http://stepflow-server:7840")
            }
            config.blobAPIAllow.insert(origin)
        }
        return config
    }

    /// Where this worker reads `blob_id` sources from, given the blob API the orchestrator's
    /// `initialize` named (if this replica received one).
    package func blobAPI(fromInitialize named: String?) -> BlobAPIChoice {
        if let blobAPIURL { return .rest(blobAPIURL) }
        guard let named else { return .callback }
        guard let url = HTTPURL(named), blobAPIAllow.contains(url.origin) else { return .refused(named) }
        return .rest(named)
    }

    /// The host name, the pod name in Kubernetes; "ingest" if it cannot be read.
    package static func defaultPodName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "ingest" }
        let name = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "ingest" : name
    }
}

/// How a worker reads blobs: decided by configuration, never by an unauthenticated message alone.
package enum BlobAPIChoice: Sendable, Equatable {
    /// Stepflow 0.10/0.11's REST blob API at this base URL (STEPFLOW_BLOB_API_URL, or an allowed
    /// origin named by `initialize`).
    case rest(String)
    /// `initialize` named this blob API, whose origin is not in STEPFLOW_BLOB_API_ALLOW: blob
    /// sources fail as invalid input, and nothing is sent there.
    case refused(String)
    /// No blob API known: `blobs/get` over the SSE callback (Stepflow 0.9).
    case callback
}
