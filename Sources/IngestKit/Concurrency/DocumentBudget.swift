import Synchronization

/// The worker's one byte budget for document bytes in flight (INGEST_MAX_INFLIGHT_BODY_BYTES):
/// request bodies, URL downloads and blob reads all take their bytes from the same
/// ``AsyncLimiter`` before they read, so however many executions arrive, on either transport,
/// the documents they hold in memory stay within it (a 200-byte execute naming a 90 MB URL
/// counts 90 MB, not 200 bytes).
package struct DocumentBudget: Sendable {
    /// One permit per byte.
    package let limiter: AsyncLimiter
    /// INGEST_MAX_FILE_BYTES: what a download whose length is not known yet reserves, and the cap
    /// on a raw blob.
    package let maxFileBytes: Int

    package init(limitBytes: Int, maxFileBytes: Int) {
        self.limiter = AsyncLimiter(limit: limitBytes)
        self.maxFileBytes = maxFileBytes
    }

    /// The whole budget in bytes.
    package var limitBytes: Int { limiter.limit }

    /// The cap on a blob read whose kind is not known before it arrives: a JSON blob carries the
    /// document as base64 (4/3 of its size) plus a little JSON around it.
    package var maxJSONBlobBytes: Int {
        let (quotient, overflow) = maxFileBytes.multipliedReportingOverflow(by: 4)
        return overflow ? Int.max : quotient / 3 + 64 * 1024
    }
}

/// The bytes one execution holds in a ``DocumentBudget``: reserved as its document is about to
/// be read, all given back when the execution ends (``IngestComponent`` releases it), because the
/// pipeline holds the document's bytes until then (conversion, hashing, the outcome).
///
/// Readers deep in the pipeline find it through ``current``, which the component sets for the
/// execution (its child tasks inherit it); outside an execution (the CLI) there is none and
/// nothing is reserved. An HTTP execute's request makes the hold (its body's bytes first) and
/// the execution adds to it, so one execution never waits for bytes it holds itself.
package final class BudgetHold: Sendable {
    /// The hold of the execution running on this task, if any.
    @TaskLocal package static var current: BudgetHold?

    package let budget: DocumentBudget
    private struct State {
        var held = 0
        var cancelledWhileWaiting = false
    }
    private let state = Mutex(State())

    package init(budget: DocumentBudget) { self.budget = budget }

    /// Waits until `bytes` fit, then holds them. A need above what this hold could ever get
    /// (the whole budget less what it holds already) is cut to that, so that it runs alone
    /// rather than waiting for itself; the caller checks the cap it means to enforce.
    /// - Returns: the bytes reserved (0 when this hold has the whole budget already).
    /// - Throws: `IngestError` `cancelled` when the execution is cancelled (its deadline, its
    ///   caller) while waiting; ``cancelledWhileWaiting`` then says so.
    ///
    /// A hold never waits while it holds bytes: it gives back what it holds and waits for the
    /// sum. Otherwise two executions that each hold a little (a gRPC assignment's input, counted
    /// on receipt) and each need most of the budget (a blob of unknown size) would wait for each
    /// other until their deadlines. Bytes given back while waiting are still in memory, but they
    /// are at most the assignment's input, which the pull stream's limit already bounds.
    @discardableResult
    package func reserve(upTo bytes: Int) async throws(IngestError) -> Int {
        let holding = held
        let bytes = min(max(0, bytes), budget.limitBytes - holding)
        guard bytes > 0 else { return 0 }
        if holding > 0 { giveBack(holding) }
        do {
            let taken = try await budget.limiter.acquire(weight: holding + bytes)
            state.withLock { $0.held += taken }
            return taken - holding
        } catch {
            state.withLock { $0.cancelledWhileWaiting = true }
            throw IngestError(.cancelled, "the execution was cancelled while it waited for room in INGEST_MAX_INFLIGHT_BODY_BYTES")
        }
    }

    /// Gives back up to `bytes` of what is held, as soon as a reservation turns out larger than
    /// the document (a download that declared its length).
    package func giveBack(_ bytes: Int) {
        let permits = state.withLock { state in
            let permits = min(max(0, bytes), state.held)
            state.held -= permits
            return permits
        }
        if permits > 0 { budget.limiter.release(permits: permits) }
    }

    /// Bytes held now.
    package var held: Int { state.withLock { $0.held } }

    /// Whether a ``reserve(_:)`` of this execution was cancelled before it got its bytes: the
    /// execution timed out waiting for room, which is `resource_unavailable`, not a slow document.
    package var cancelledWhileWaiting: Bool { state.withLock { $0.cancelledWhileWaiting } }

    /// Gives everything back (the execution ended).
    package func releaseAll() {
        giveBack(Int.max)
    }
}
