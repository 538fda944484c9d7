import Foundation
import IngestKit

/// Which worker transport `ingest serve` runs (STEPFLOW_TRANSPORT, `--transport`).
package enum WorkerTransport: String, Sendable, CaseIterable {
    /// JSON-RPC over HTTP: Stepflow 0.9 to 0.11 (today's behaviour, the default).
    case http
    /// The gRPC pull transport: Stepflow 0.12 and later.
    case grpc

    /// STEPFLOW_TRANSPORT, `http` when unset.
    package static func fromEnvironment(_ env: Environment) throws(IngestError) -> WorkerTransport {
        guard let raw = env.string("STEPFLOW_TRANSPORT") else { return .http }
        return try parse(raw, what: "STEPFLOW_TRANSPORT")
    }

    /// `http` or `grpc` (any case); `what` names the setting in the error.
    package static func parse(_ raw: String, what: String) throws(IngestError) -> WorkerTransport {
        guard let transport = WorkerTransport(rawValue: raw.lowercased()) else {
            throw IngestError(.configuration, "\(what)=\(raw) is not valid: expected http (Stepflow 0.9-0.11) or grpc (Stepflow 0.12+); fix or unset it")
        }
        return transport
    }
}

/// A gRPC server address: `host:port` (as the Python SDK takes it), `http://host:port` (as the
/// Rust SDK does) or `https://host[:port]` (TLS: the system's roots, or STEPFLOW_TLS_CA_FILE).
package struct GRPCEndpoint: Sendable, Hashable, CustomStringConvertible {
    package var host: String
    package var port: Int
    package var tls: Bool

    package init(host: String, port: Int, tls: Bool) {
        self.host = host
        self.port = port
        self.tls = tls
    }

    package var description: String { "\(tls ? "https" : "http")://\(host.contains(":") ? "[\(host)]" : host):\(port)" }

    /// Parses `text`; `what` names the setting (or the task field) in the error.
    package static func parse(_ text: String, what: String) throws(IngestError) -> GRPCEndpoint {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        var rest = Substring(trimmed)
        var tls = false
        if let scheme = rest.range(of: "://") {
            switch rest[..<scheme.lowerBound].lowercased() {
            case "http", "grpc": tls = false
            case "https", "grpcs": tls = true
            default: throw invalid(text, what, "unknown scheme '\(rest[..<scheme.lowerBound])'")
            }
            rest = rest[scheme.upperBound...]
        }
        if let slash = rest.firstIndex(of: "/") {
            guard rest[slash...].allSatisfy({ $0 == "/" }) else { throw invalid(text, what, "a gRPC address has no path") }
            rest = rest[..<slash]
        }
        let host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw invalid(text, what, "unclosed '[' of an IPv6 address") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty { throw invalid(text, what, "unexpected '\(after)' after the address") }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
        }
        guard !host.isEmpty else { throw invalid(text, what, "no host") }
        let port: Int
        if let portText {
            guard let parsed = Int(portText), (1...65535).contains(parsed) else { throw invalid(text, what, "the port must be 1-65535") }
            port = parsed
        } else if tls {
            port = 443
        } else {
            throw invalid(text, what, "no port (e.g. 127.0.0.1:7840 or http://stepflow-server:7840)")
        }
        return GRPCEndpoint(host: String(host), port: port, tls: tls)
    }

    private static func invalid(_ text: String, _ what: String, _ why: String) -> IngestError {
        IngestError(.configuration, "\(what)=\(redactingCredentials(text)) is not a gRPC address: \(why); give host:port, http://host:port or https://host[:port]")
    }

    /// The address a task's `orchestrator_service_url` (or a `GetOrchestratorForRun` answer)
    /// is reached at, given the worker's TasksService address: when the worker talks TLS to its
    /// orchestrator, a plaintext address is upgraded to TLS (same host and port), never followed
    /// in plaintext. Upgraded rather than refused because the orchestrator, not the operator,
    /// writes that URL: Stepflow advertises the address it listens on (often `http://…` behind a
    /// TLS-terminating proxy or mesh), and refusing would fail every task of a TLS deployment;
    /// an orchestrator that really speaks plaintext then fails the TLS handshake (UNAVAILABLE,
    /// logged), which is what TLS is for.
    package func securing(_ advertised: GRPCEndpoint) -> GRPCEndpoint {
        guard tls, !advertised.tls else { return advertised }
        return GRPCEndpoint(host: advertised.host, port: advertised.port, tls: true)
    }
}

/// Files for TLS to the orchestrator (PEM). Unset: trust the system's roots, no client certificate.
package struct GRPCTLSFiles: Sendable, Equatable {
    /// CA certificates trusted instead of the system's roots (STEPFLOW_TLS_CA_FILE), for an
    /// orchestrator whose certificate a private CA signed.
    package var caFile: String?
    /// Client certificate chain for mutual TLS (STEPFLOW_TLS_CERT_FILE), with ``keyFile``.
    package var certFile: String?
    /// The client certificate's private key (STEPFLOW_TLS_KEY_FILE), with ``certFile``.
    package var keyFile: String?

    package init(caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil) {
        self.caFile = caFile
        self.certFile = certFile
        self.keyFile = keyFile
    }

    package var isEmpty: Bool { caFile == nil && certFile == nil && keyFile == nil }

    /// Reads STEPFLOW_TLS_CA_FILE, STEPFLOW_TLS_CERT_FILE and STEPFLOW_TLS_KEY_FILE: each must name
    /// a readable PEM file; the certificate and the key go together. Checked at startup so a
    /// wrong mount fails the pod (exit 2) instead of every connection later.
    package static func fromEnvironment(_ env: Environment) throws(IngestError) -> GRPCTLSFiles {
        let files = GRPCTLSFiles(
            caFile: try pemFile(env, "STEPFLOW_TLS_CA_FILE"),
            certFile: try pemFile(env, "STEPFLOW_TLS_CERT_FILE"),
            keyFile: try pemFile(env, "STEPFLOW_TLS_KEY_FILE")
        )
        switch (files.certFile, files.keyFile) {
        case (.some, nil):
            throw IngestError(.configuration, "STEPFLOW_TLS_CERT_FILE is set but STEPFLOW_TLS_KEY_FILE is not: mutual TLS needs the client certificate and its private key; set both or neither")
        case (nil, .some):
            throw IngestError(.configuration, "STEPFLOW_TLS_KEY_FILE is set but STEPFLOW_TLS_CERT_FILE is not: mutual TLS needs the client certificate and its private key; set both or neither")
        default:
            return files
        }
    }

    private static func pemFile(_ env: Environment, _ name: String) throws(IngestError) -> String? {
        guard let path = env.string(name) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw IngestError(.configuration, "\(name)=\(path) cannot be read: no such file or no permission; mount the PEM file there or unset \(name)")
        }
        guard data.range(of: Data("-----BEGIN ".utf8)) != nil else {
            throw IngestError(.configuration, "\(name)=\(path) is not a PEM file (no '-----BEGIN' line); give the PEM form (openssl x509/pkey -outform PEM)")
        }
        return path
    }
}

/// The settings of the gRPC pull worker, with the Stepflow SDKs' variable names.
package struct GRPCWorkerSettings: Sendable, Equatable {
    /// The orchestrator's TasksService (STEPFLOW_TASKS_URL, required).
    package var tasks: GRPCEndpoint
    /// The `queueName` of the orchestrator's grpc plugin (STEPFLOW_QUEUE_NAME, default `ingest`).
    package var queueName: String
    /// Tasks in flight at once (STEPFLOW_MAX_CONCURRENT, default 4).
    package var maxConcurrent: Int
    /// BlobService (STEPFLOW_BLOB_URL, default the tasks address).
    package var blobs: GRPCEndpoint
    /// Largest message accepted, and largest task input (INGEST_MAX_BODY_BYTES, default 64 MiB;
    /// grpc-swift's own default is 4 MiB).
    package var maxMessageBytes: Int
    /// Largest `TaskAssignment` the pull stream receives (STEPFLOW_MAX_ASSIGNMENT_BYTES, default
    /// 4 × INGEST_MAX_BODY_BYTES capped at Int32.max, never below it). Separate from
    /// ``maxMessageBytes`` so a task whose input is over that limit still arrives and is failed
    /// with INVALID_INPUT instead of breaking the stream (grpc-swift refuses larger messages
    /// before decoding them).
    package var maxAssignmentBytes: Int
    /// Delays between reconnects of the pull stream (for ever: an orchestrator outage never
    /// stops the worker).
    package var reconnect: RetryPolicy
    /// Claim, completion and redirect limits of each task.
    package var taskPolicy: TaskPolicy
    /// CA and client certificate for the TLS (`https://`) addresses.
    package var tlsFiles: GRPCTLSFiles

    package init(tasks: GRPCEndpoint, queueName: String = "ingest", maxConcurrent: Int = 4, blobs: GRPCEndpoint? = nil, maxMessageBytes: Int = 64 * 1024 * 1024, maxAssignmentBytes: Int? = nil, tlsFiles: GRPCTLSFiles = GRPCTLSFiles()) {
        self.tasks = tasks
        self.queueName = queueName
        self.maxConcurrent = maxConcurrent
        self.blobs = blobs ?? tasks
        self.maxMessageBytes = maxMessageBytes
        self.maxAssignmentBytes = maxAssignmentBytes ?? Self.defaultMaxAssignmentBytes(maxMessageBytes: maxMessageBytes)
        self.reconnect = .unbounded(baseDelay: .milliseconds(250), maxDelay: .seconds(10))
        self.taskPolicy = TaskPolicy(maxInputBytes: maxMessageBytes)
        self.tlsFiles = tlsFiles
    }

    /// 4 × `maxMessageBytes`, capped at Int32.max (the gRPC length prefix is 32 bits).
    package static func defaultMaxAssignmentBytes(maxMessageBytes: Int) -> Int {
        maxMessageBytes > Int(Int32.max) / 4 ? Int(Int32.max) : 4 * maxMessageBytes
    }

    /// Reads STEPFLOW_TASKS_URL, STEPFLOW_QUEUE_NAME, STEPFLOW_MAX_CONCURRENT, STEPFLOW_BLOB_URL,
    /// INGEST_MAX_BODY_BYTES, STEPFLOW_MAX_ASSIGNMENT_BYTES and the STEPFLOW_TLS_* files. Throws
    /// `IngestError(.configuration)` naming the variable.
    package static func fromEnvironment(_ env: Environment) throws(IngestError) -> GRPCWorkerSettings {
        guard let tasksText = env.string("STEPFLOW_TASKS_URL") else {
            throw IngestError(.configuration, "STEPFLOW_TASKS_URL is required with STEPFLOW_TRANSPORT=grpc: the orchestrator's gRPC address, e.g. 127.0.0.1:7840 or http://stepflow-server:7840")
        }
        let tasks = try GRPCEndpoint.parse(tasksText, what: "STEPFLOW_TASKS_URL")
        var blobs: GRPCEndpoint?
        if let blobText = env.string("STEPFLOW_BLOB_URL") {
            blobs = try GRPCEndpoint.parse(blobText, what: "STEPFLOW_BLOB_URL")
        }
        let queue = env.string("STEPFLOW_QUEUE_NAME") ?? "ingest"
        let maxConcurrent = try env.int("STEPFLOW_MAX_CONCURRENT", default: 4, range: 1...1024)
        let maxBytes = try env.int("INGEST_MAX_BODY_BYTES", default: 64 * 1024 * 1024, range: 1...Int(Int32.max))
        let maxAssignment = try env.int(
            "STEPFLOW_MAX_ASSIGNMENT_BYTES", default: defaultMaxAssignmentBytes(maxMessageBytes: maxBytes), range: 1...Int(Int32.max))
        // Below INGEST_MAX_BODY_BYTES it would break the stream on tasks the worker accepts.
        guard maxAssignment >= maxBytes else {
            throw IngestError(.configuration, "STEPFLOW_MAX_ASSIGNMENT_BYTES=\(maxAssignment) is below INGEST_MAX_BODY_BYTES=\(maxBytes): the pull stream must receive every task the worker accepts; raise it or unset it (default 4 x INGEST_MAX_BODY_BYTES)")
        }
        let tlsFiles = try GRPCTLSFiles.fromEnvironment(env)
        // The operator wrote these addresses, so a mismatch is a mistake to fix, not to guess at.
        if tasks.tls, let blobs, !blobs.tls {
            throw IngestError(.configuration, "STEPFLOW_BLOB_URL=\(blobs) is plaintext but STEPFLOW_TASKS_URL=\(tasks) uses TLS: blobs would travel unencrypted; give https:// for STEPFLOW_BLOB_URL or unset it (it defaults to the tasks address)")
        }
        if !tlsFiles.isEmpty, !tasks.tls, !(blobs?.tls ?? false) {
            throw IngestError(.configuration, "STEPFLOW_TLS_* files are set but STEPFLOW_TASKS_URL=\(tasks) is plaintext: they only apply to TLS; give https://host:port for STEPFLOW_TASKS_URL or unset the STEPFLOW_TLS_* variables")
        }
        return GRPCWorkerSettings(tasks: tasks, queueName: queue, maxConcurrent: maxConcurrent, blobs: blobs, maxMessageBytes: maxBytes, maxAssignmentBytes: maxAssignment, tlsFiles: tlsFiles)
    }
}

extension GRPCWorkerSettings {
    /// The gRPC settings when the gRPC transport is selected (`--transport`, else
    /// STEPFLOW_TRANSPORT), nil for the HTTP transport. For `ingest serve`.
    package static func selected(transportOption: String?, _ env: Environment) throws(IngestError) -> GRPCWorkerSettings? {
        let transport: WorkerTransport
        if let transportOption {
            transport = try WorkerTransport.parse(transportOption, what: "--transport")
        } else {
            transport = try WorkerTransport.fromEnvironment(env)
        }
        guard transport == .grpc else { return nil }
        let settings = try fromEnvironment(env)
        try settings.tlsFiles.checkLoadable()
        return settings
    }
}
