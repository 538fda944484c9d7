import Hummingbird
import NIOCore
import Synchronization

/// Tells a request handler when its client's connection closed, so an execution whose
/// orchestrator went away is cancelled.
///
/// Hummingbird's `consumeWithCancellationOnInboundClose` does this by reading the connection
/// itself, which ends keep-alive for that connection (and cannot be used once the body was read).
/// The orchestrator pools connections, so instead a small channel handler watches for the end of
/// the inbound stream (`inputClosed`, or the channel going inactive) and signals it.
final class ConnectionCloseWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    /// Read from request handlers on other threads.
    let signal = ConnectionCloseSignal()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent { signal.close() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        signal.close()
        context.fireChannelInactive()
    }

    /// The signal of the connection `channel` belongs to; nil when the channel has no watcher (in
    /// tests that call the router without a socket).
    static func signal(of channel: any Channel) async -> ConnectionCloseSignal? {
        try? await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.handler(type: ConnectionCloseWatcher.self).signal
        }.get()
    }
}

/// Whether a connection's client side has closed; waiters are woken when it does.
final class ConnectionCloseSignal: Sendable {
    private struct State {
        var closed = false
        var waiters: [Int: AsyncStream<Void>.Continuation] = [:]
        var nextID = 0
    }
    private let state = Mutex(State())

    /// Marks the connection closed and wakes every waiter.
    func close() {
        let waiters = state.withLock { state -> [AsyncStream<Void>.Continuation] in
            guard !state.closed else { return [] }
            state.closed = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.finish() }
    }

    /// Returns when the connection closes, or when the calling task is cancelled.
    func waitForClose() async {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self)
        let id: Int? = state.withLock { state in
            guard !state.closed else { return nil }
            state.nextID += 1
            state.waiters[state.nextID] = continuation
            return state.nextID
        }
        guard let id else { return }
        for await _ in stream {}
        state.withLock { _ = $0.waiters.removeValue(forKey: id) }
    }
}

/// Runs `operation`; if the connection closes first, cancels it and throws `CancellationError`.
/// Without a signal (no socket) it just runs the operation.
func cancellingOnClose<T: Sendable>(_ signal: ConnectionCloseSignal?, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    guard let signal else { return try await operation() }
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            await signal.waitForClose()
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw CancellationError() }
        return value
    }
}

/// The request context of the worker: Hummingbird's basic context plus the connection, so
/// long executions can watch it.
package struct WorkerRequestContext: RequestContext {
    /// Hummingbird's per-request storage (logger, endpoint path, …).
    package var coreContext: CoreRequestContextStorage
    /// The connection the request came on.
    package let channel: any Channel

    /// Made by Hummingbird for each request.
    package init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}
