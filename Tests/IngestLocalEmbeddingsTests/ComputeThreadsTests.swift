import Dispatch
import Foundation
import IngestLocalEmbeddings
import Synchronization
import Testing

/// The embedder's forward passes run on its own threads, never on Swift's cooperative pool
/// (issue #12): shown by the name of the thread that ran each forward pass, and by a cooperative
/// task that must make progress while every compute thread is blocked.
@Suite struct ComputeThreadsTests {
    @Test(arguments: [1, 2])
    func forwardPassesRunOnTheEmbedderThreads(threads: Int) async throws {
        let embedder = LocalEmbedder(configuration: LocalEmbeddingConfiguration(modelPath: try ModelFolder.require(), threads: threads, batchSize: 8))
        // One text (a single group; with two threads its columns are split) and a batch (groups).
        _ = try await embedder.embed(["a single text"])
        _ = try await embedder.embed((0..<8).map { "text number \($0) of a batch" })
        let names = try #require(embedder.encoder).forwardPassThreads
        #expect(!names.isEmpty)
        #expect(names.allSatisfy { $0.hasPrefix("ingest-embed-") }, "forward passes ran on \(names)")
        #expect(!names.contains(ComputeThreads.currentThreadName()))
        if threads == 2 { #expect(names == ["ingest-embed-0", "ingest-embed-1"]) }
    }

    @Test func runExecutesOnThreadZeroAndParallelCoversEveryPartOnce() async throws {
        let pool = ComputeThreads(count: 3)
        let (name, counts) = try await pool.run {
            let counts = Mutex([Int](repeating: 0, count: 100))
            pool.parallel(100) { part in counts.withLock { $0[part] += 1 } }
            return (ComputeThreads.currentThreadName(), counts.withLock { $0 })
        }
        #expect(name == "ingest-embed-0")
        #expect(counts == [Int](repeating: 1, count: 100))
    }

    /// A part that throws does not stop the others; `parallel` rethrows the error once all are done.
    @Test func parallelRethrowsAPartsErrorAfterEveryPartRan() async throws {
        struct PartFailed: Error, Equatable { let part: Int }
        let pool = ComputeThreads(count: 3)
        let (error, counts) = try await pool.run {
            let counts = Mutex([Int](repeating: 0, count: 50))
            var caught: PartFailed?
            do throws(PartFailed) {
                try pool.parallel(50) { (part) throws(PartFailed) in
                    counts.withLock { $0[part] += 1 }
                    if part == 17 { throw PartFailed(part: part) }
                }
            } catch {
                caught = error
            }
            return (caught, counts.withLock { $0 })
        }
        #expect(error == PartFailed(part: 17))
        #expect(counts == [Int](repeating: 1, count: 50))
    }

    /// Linux keeps 15 bytes of a thread name and refuses longer ones: the name is cut, not lost.
    @Test func aLongThreadNameIsCutTo15Bytes() async throws {
        let pool = ComputeThreads(count: 1, name: "a-rather-long-pool-name")
        let name = try await pool.run { ComputeThreads.currentThreadName() }
        #expect(name == "a-rather-long-p")
    }

    /// While a job holds the compute thread, tasks on the cooperative pool keep running: here each
    /// job can only finish once a cooperative task has run. Were `run` to execute work on the
    /// caller's (cooperative) thread, as the embedder did before, the blocked callers would leave no
    /// thread for that task (tried: with LIBDISPATCH_COOPERATIVE_POOL_STRICT=1 the run hangs), so
    /// each job gives up after 10 s and reports it: a liveness bound, not a speed one.
    @Test func blockedComputeThreadsLeaveTheCooperativePoolFree() async throws {
        let pool = ComputeThreads(count: 1)
        let release = DispatchSemaphore(value: 0)
        let callers = 2 * ProcessInfo.processInfo.activeProcessorCount + 2
        let released = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<callers {
                group.addTask { try await pool.run { release.wait(timeout: .now() + .seconds(10)) == .success } }
            }
            group.addTask {
                for _ in 0..<callers { release.signal() }
                return true
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(released.allSatisfy { $0 }, "a job blocked on a compute thread kept the cooperative pool from running the task that releases it")
    }
}
