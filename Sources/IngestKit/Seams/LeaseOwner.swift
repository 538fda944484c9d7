import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Who holds a per-source lease: this process (a random id drawn at start, the host and the pid)
/// and one acquisition in it (`token`).
///
/// Besides the expiry, the process fields let a holder that is certainly gone be taken over at
/// once instead of after the TTL: a CLI killed mid-batch (same host, pid no longer alive), or a
/// document of this very process that was cancelled before it could release (same process id,
/// token no longer held). Without them a rerun after a crash would wait up to
/// INGEST_LEASE_TTL_SECONDS for every document that was in flight.
package struct LeaseOwner: Sendable, Equatable, Codable {
    /// Random per process, so a reused pid is never mistaken for the same process.
    package var process: String
    /// The host name plus, on Linux, the kernel boot id: pids are only comparable on one host.
    package var host: String
    package var pid: Int32
    /// One acquisition in `process`.
    package var token: Int

    package init(process: String, host: String, pid: Int32, token: Int) {
        self.process = process
        self.host = host
        self.pid = pid
        self.token = token
    }

    /// `process#token`, stored as the lease's `owner`.
    package var id: String { "\(process)#\(token)" }

    /// The owner for a new acquisition by this process; it counts as held until ``finished()``.
    package static func next() -> LeaseOwner {
        let token = held.withLock { state in
            state.counter += 1
            state.active.insert(state.counter)
            return state.counter
        }
        return LeaseOwner(process: thisProcess, host: thisHost, pid: getpid(), token: token)
    }

    /// Marks this acquisition as over (released, or given up): from now on a lease left behind
    /// with this owner is abandoned.
    package func finished() {
        guard process == Self.thisProcess else { return }
        _ = Self.held.withLock { $0.active.remove(token) }
    }

    /// Whether the process that wrote `holder` certainly no longer uses the lease: it is this
    /// process and the acquisition is over, or it ran on this host and its pid is gone (or is
    /// ours, under another process id).
    package func isAbandoned(holder: LeaseOwner) -> Bool {
        if holder.process == process {
            return holder.process == Self.thisProcess && !Self.held.withLock { $0.active.contains(holder.token) }
        }
        guard holder.host == host, !host.isEmpty else { return false }
        if holder.pid == pid { return true }  // our pid, another process id: that process is gone
        return !Self.processIsAlive(holder.pid)
    }

    static func processIsAlive(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        if kill(pid, 0) == 0 { return true }
        return errno != ESRCH  // EPERM: alive, someone else's
    }

    package static let thisProcess: String = {
        (0..<4).map { _ in String(UInt32.random(in: 0...UInt32.max), radix: 16) }.joined()
    }()

    package static let thisHost: String = {
        let name = ProcessInfo.processInfo.hostName
        let boot = (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        return boot.isEmpty ? name : "\(name)/\(boot)"
    }()

    private struct Held { var counter = 0; var active: Set<Int> = [] }
    private static let held = Mutex(Held())
}
