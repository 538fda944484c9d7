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
/// once instead of after the TTL: a CLI killed mid-batch (same host and PID namespace, pid no
/// longer alive), or a document of this very process that was cancelled before it could release
/// (same process id, token no longer held). Without them a rerun after a crash would wait up to
/// INGEST_LEASE_TTL_SECONDS for every document that was in flight.
///
/// Pids compare only inside one PID namespace: containers that share a host name and boot id
/// (`hostNetwork` pods, `docker --network host`) each run ingest as PID 1, and without the
/// namespace they would take each other's live leases at once.
package struct LeaseOwner: Sendable, Equatable, Codable {
    /// Random per process, so a reused pid is never mistaken for the same process.
    package var process: String
    /// The host name plus, on Linux, the kernel boot id: pids are only comparable on one host.
    package var host: String
    package var pid: Int32
    /// One acquisition in `process`.
    package var token: Int
    /// The PID namespace of `pid` (`/proc/self/ns/pid`, e.g. `pid:[4026531836]`); nil when it
    /// could not be read, or in a lease written before it was stored.
    package var pidNamespace: String?

    package init(process: String, host: String, pid: Int32, token: Int, pidNamespace: String? = nil) {
        self.process = process
        self.host = host
        self.pid = pid
        self.token = token
        self.pidNamespace = pidNamespace
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
        return LeaseOwner(process: thisProcess, host: thisHost, pid: getpid(), token: token, pidNamespace: thisPIDNamespace)
    }

    /// Marks this acquisition as over (released, or given up): from now on a lease left behind
    /// with this owner is abandoned.
    package func finished() {
        guard process == Self.thisProcess else { return }
        _ = Self.held.withLock { $0.active.remove(token) }
    }

    /// Whether the process that wrote `holder` certainly no longer uses the lease: it is this
    /// process and the acquisition is over, or it ran on this host in our PID namespace and its
    /// pid is gone (or is ours, under another process id). A holder from another namespace, or
    /// one that named none, is left to its expiry.
    package func isAbandoned(holder: LeaseOwner) -> Bool {
        if holder.process == process {
            return holder.process == Self.thisProcess && !Self.held.withLock { $0.active.contains(holder.token) }
        }
        guard holder.host == host, !host.isEmpty else { return false }
        guard let namespace = pidNamespace, !namespace.isEmpty, holder.pidNamespace == namespace else { return false }
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

    /// This process's PID namespace, read once; nil where `/proc` has none (then no pid is
    /// trusted and a dead holder's lease waits for its expiry).
    package static let thisPIDNamespace: String? = {
        guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/pid"), !link.isEmpty else { return nil }
        return link
    }()

    private struct Held { var counter = 0; var active: Set<Int> = [] }
    private static let held = Mutex(Held())
}
