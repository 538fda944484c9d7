import IngestKit

/// Checks the embedder once, before the first document that needs embeddings is converted, so a
/// wrong OPENAI_BASE_URL (refused, a host that does not resolve, a URL that is not an embeddings
/// API) or a model whose vectors do not fit EMBEDDING_MODEL stops a run at once instead of after
/// every document was converted and retried for a minute. A rerun whose documents are all
/// unchanged never calls it, so it makes no embedding call and loads no model.
///
/// Concurrent documents share one probe: the first caller runs it, the others wait for its
/// verdict. A verdict that lets work go on is kept for the process; a refusal is not (a worker
/// tries again on its next request, when the service may be back).
package actor EmbedderProbe {
    /// One embedding call that returns the vector dimension (``Embedder/probeDimension()``).
    package typealias Probe = @Sendable () async throws -> Int

    private enum State {
        case idle
        case probing(waiters: [CheckedContinuation<Void, any Error>])
        case ready
    }

    private let probe: Probe
    private let model: String?
    private let requestedDimensions: Int?
    private let endpoint: String
    private let fix: String
    private var state = State.idle

    /// - Parameters:
    ///   - model: EMBEDDING_MODEL as the embedder records it; nil judges no dimension.
    ///   - requestedDimensions: EMBEDDING_DIMENSIONS, when set.
    ///   - endpoint: where the vectors come from, for messages (credentials already redacted).
    ///   - fix: what to set when the embedder cannot be reached (names the variable).
    package init(model: String?, requestedDimensions: Int?, endpoint: String, fix: String = "", probe: @escaping Probe) {
        self.probe = probe
        self.model = model
        self.requestedDimensions = requestedDimensions
        self.endpoint = endpoint
        self.fix = fix
    }

    /// Returns once the embedder is known to be usable, or is there but failing (5xx, 429: the
    /// documents keep their own retries). Throws the ``IngestError`` that must stop the run:
    /// unreachable, not an embeddings API, refused credentials, or the wrong dimension.
    package func ensureReady() async throws {
        while true {
            switch state {
            case .ready:
                return
            case .probing:
                do {
                    try await withCheckedThrowingContinuation { continuation in
                        if case .probing(var waiters) = state {
                            waiters.append(continuation)
                            state = .probing(waiters: waiters)
                        } else {
                            continuation.resume()  // finished meanwhile: loop and read the state
                        }
                    }
                    continue
                } catch is ProbeAbandoned {
                    continue  // the prober was cancelled: probe again ourselves
                }
            case .idle:
                state = .probing(waiters: [])
                let result: Result<Void, any Error>
                do {
                    let dimension = try await probe()
                    let mismatch = model.flatMap { Self.verdict(dimension: dimension, model: $0, requested: requestedDimensions, endpoint: endpoint) }
                    result = mismatch.map { .failure(Self.stopping($0)) } ?? .success(())
                } catch is CancellationError {
                    finish(.failure(ProbeAbandoned()), settled: false)
                    throw CancellationError()
                } catch let error as IngestError where error.reason == .cancelled {
                    finish(.failure(ProbeAbandoned()), settled: false)
                    throw error
                } catch let error as IngestError {
                    result = Self.mustStop(error) ? .failure(Self.stopping(error, fix: fix)) : .success(())
                } catch {
                    result = .success(())  // not ours to judge: the document's own call will say
                }
                finish(result, settled: (try? result.get()) != nil)
                try result.get()
                return
            }
        }
    }

    private func finish(_ result: Result<Void, any Error>, settled: Bool) {
        guard case .probing(let waiters) = state else { return }
        state = settled ? .ready : .idle
        for waiter in waiters { waiter.resume(with: result) }
    }

    /// Whether a probe failure must stop the run rather than leave each document to retry:
    /// the service cannot be reached or is not an embeddings API (both stay so for the whole
    /// run), or refused our credentials. A transient failure of a reachable service does not.
    static func mustStop(_ error: IngestError) -> Bool {
        switch error.reason {
        case .configuration, .authFailed, .dimensionMismatch:
            return true
        case .serviceUnavailable:
            // Nothing listens, the name does not resolve, no route, or TLS cannot be agreed: so
            // it stays for the whole run. A read timeout or a dropped connection may be load.
            let lasting: Set<TransportFailure> = [.connectionRefused, .hostNotFound, .noRoute, .connectTimeout, .tlsHandshake]
            return error.transportFailure.map(lasting.contains) ?? false
        case .unreadable, .unsupportedFormat, .tooLarge, .parseFailed, .parseTimeout, .emptyDocument, .embedFailed, .embedRejected,
            .indexRejected, .leaseTimeout, .leaseLost, .resourceUnavailable, .invalidInput, .cancelled, .internalError:
            return false
        }
    }

    /// `error` marked to stop a batch, its message ending with what to set.
    static func stopping(_ error: IngestError, fix: String = "") -> IngestError {
        var error = error
        error.stopsRun = true
        if !fix.isEmpty, error.reason == .serviceUnavailable { error.message += "; \(fix)" }
        return error
    }

    /// The configuration error when `dimension` does not fit the known model `model` names.
    static func verdict(dimension: Int, model: String, requested: Int?, endpoint: String) -> IngestError? {
        KnownEmbeddingModel.named(model)?.dimensionMismatch(vectorDimension: dimension, requested: requested, endpoint: endpoint)
    }
}

/// Wakes the waiters of a probe whose caller was cancelled, so one of them probes again.
private struct ProbeAbandoned: Error {}
