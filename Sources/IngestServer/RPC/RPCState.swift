import Synchronization

/// What only the HTTP transport keeps for the life of the process, beside the ``WorkerState``
/// both transports share: the callbacks waiting for the orchestrator's reply POSTs and the blob
/// API named by `initialize`.
package final class RPCState: Sendable {
    /// Callbacks awaiting the orchestrator's reply POSTs.
    package let callbacks = PendingCallbacks()
    private let initializeBlobAPI = Mutex<String?>(nil)

    package init() {}

    /// The REST blob API named by the `initialize` this replica received (Stepflow 0.10/0.11
    /// send `capabilities.blobApiUrl`; 0.9 sends none).
    package var blobAPIFromInitialize: String? {
        get { initializeBlobAPI.withLock { $0 } }
        set { initializeBlobAPI.withLock { $0 = newValue } }
    }
}
