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

    /// The defaults of `ingest serve`; tests override single values.
    package init(
        host: String = "0.0.0.0",
        port: Int = 8080,
        podName: String = ServerConfiguration.defaultPodName(),
        maxBodyBytes: Int = 64 * 1024 * 1024,
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
        self.maxJSONDepth = maxJSONDepth
        self.shutdownGrace = shutdownGrace
        self.executeTimeout = executeTimeout
        self.idleTimeout = idleTimeout
        self.healthCheckTimeout = healthCheckTimeout
        self.healthRefreshInterval = healthRefreshInterval
        self.callbackTimeout = callbackTimeout
    }

    /// Reads SERVER_HOST, SERVER_PORT, POD_NAME, INGEST_MAX_BODY_BYTES, INGEST_SHUTDOWN_GRACE_SECONDS,
    /// INGEST_EXECUTE_TIMEOUT_SECONDS and INGEST_CALLBACK_TIMEOUT_SECONDS; unset or empty means the default.
    /// Throws `IngestError(.configuration)` naming the variable when a value is not usable.
    package static func fromEnvironment(_ env: [String: String]) throws -> ServerConfiguration {
        var config = ServerConfiguration(podName: nonEmpty(env["POD_NAME"]) ?? nonEmpty(env["HOSTNAME"]) ?? defaultPodName())
        if let host = nonEmpty(env["SERVER_HOST"]) { config.host = host }
        if let port = try integer(env, "SERVER_PORT", range: 0...65535) { config.port = port }
        if let bytes = try integer(env, "INGEST_MAX_BODY_BYTES", range: 1...Int.max) { config.maxBodyBytes = bytes }
        if let grace = try seconds(env, "INGEST_SHUTDOWN_GRACE_SECONDS", allowZero: true) { config.shutdownGrace = grace }
        if let timeout = try seconds(env, "INGEST_EXECUTE_TIMEOUT_SECONDS", allowZero: false) { config.executeTimeout = timeout }
        if let timeout = try seconds(env, "INGEST_CALLBACK_TIMEOUT_SECONDS", allowZero: false) { config.callbackTimeout = timeout }
        return config
    }

    /// The host name, the pod name in Kubernetes; "ingest" if it cannot be read.
    package static func defaultPodName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "ingest" }
        let name = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "ingest" : name
    }

    private static func nonEmpty(_ value: String?) -> String? {
        guard let trimmed = value?.trimmingCharacters(in: .whitespaces), !trimmed.isEmpty else { return nil }
        return trimmed
    }

    private static func integer(_ env: [String: String], _ name: String, range: ClosedRange<Int>) throws -> Int? {
        guard let text = nonEmpty(env[name]) else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw IngestError(.configuration, "\(name)='\(text)' is not a whole number in \(range.lowerBound)...\(range.upperBound); fix or unset it.")
        }
        return value
    }

    private static func seconds(_ env: [String: String], _ name: String, allowZero: Bool) throws -> Duration? {
        guard let text = nonEmpty(env[name]) else { return nil }
        guard let value = Double(text), value.isFinite, value >= 0, allowZero || value > 0, value < 1e9 else {
            let bound = allowZero ? "zero or more" : "more than zero"
            throw IngestError(.configuration, "\(name)='\(text)' is not a number of seconds (\(bound)); fix or unset it.")
        }
        return .milliseconds(Int64((value * 1000).rounded()))
    }
}
