/// Thrown inside ``withDeadline(_:_:)`` when the deadline passes first.
struct ExecuteDeadlineExceeded: Error {}

/// Runs `operation`, cancelling it and throwing ``ExecuteDeadlineExceeded`` if it is still running
/// after `limit`.
func withDeadline<T: Sendable>(_ limit: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw ExecuteDeadlineExceeded()
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw CancellationError() }
        return first
    }
}
