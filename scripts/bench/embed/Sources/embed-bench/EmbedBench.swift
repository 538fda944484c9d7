import CBenchClock
import CEmbedKernels
import Foundation
import IngestLocalEmbeddings

/// `embed-bench MODEL_DIR THREADS BATCH TEXTS_FILE`: embeds every line of TEXTS_FILE with
/// ``LocalEmbedder`` (what `ingest` runs) and prints one JSON object: load and embed seconds,
/// sentences/s, the process's CPU seconds while embedding, the peak RSS (VmHWM), the
/// matrix-product kernel that ran and the threads the forward passes ran on.
/// EMBED_BENCH_KERNEL=generic|avx2|avx512 forces a kernel path (to compare them; production
/// always takes the CPU's fastest).
///
/// `embed-bench gemm`: GFLOP per CPU second of the kernels on MiniLM's linear-layer shapes (8
/// texts of 200 tokens: 1600 rows), next to the core's measured clock, as JSON.
@main
struct EmbedBench {
    static func main() async throws {
        let args = CommandLine.arguments
        if args.count == 2, args[1] == "gemm" {
            try printJSON(gemmEfficiency())
            return
        }
        guard args.count == 5, let threads = Int(args[2]), let batch = Int(args[3]) else {
            FileHandle.standardError.write(Data("usage: embed-bench MODEL_DIR THREADS BATCH TEXTS_FILE | embed-bench gemm\n".utf8))
            exit(2)
        }
        let texts = try String(contentsOfFile: args[4], encoding: .utf8).split(separator: "\n").map(String.init)
        let forced = ProcessInfo.processInfo.environment["EMBED_BENCH_KERNEL"].flatMap { name in KernelPath.allCases.first { $0.description == name } }
        let embedder = LocalEmbedder(configuration: LocalEmbeddingConfiguration(modelPath: args[1], threads: threads, batchSize: batch), kernel: forced ?? .best)
        let clock = ContinuousClock()
        let t0 = clock.now
        let dimension = try await embedder.probeDimension()
        let t1 = clock.now
        let cpu0 = processCPUSeconds()
        let vectors = try await embedder.embed(texts)
        let cpu1 = processCPUSeconds()
        let t2 = clock.now
        let load = (t1 - t0) / .seconds(1), embed = (t2 - t1) / .seconds(1)
        try printJSON([
            "texts": vectors.count, "dimension": dimension, "load_s": load, "embed_s": embed,
            "sentences_per_s": Double(texts.count) / embed, "cpu_s": cpu1 - cpu0, "peak_rss_mb": peakRSSMegabytes(),
            "kernel": (embedder.encoder?.kernelsRun ?? []).map(\.description).joined(separator: "+"),
            "forward_threads": (embedder.encoder?.forwardPassThreads ?? []).sorted(),
        ])
    }

    static func printJSON(_ object: [String: Any]) throws {
        let json = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        FileHandle.standardOutput.write(json + Data("\n".utf8))
    }

    /// For each kernel path this CPU runs: the products of MiniLM's linear layers on 1600 rows
    /// from packed weights, as in a forward pass, in GFLOP per CPU second of this thread (so
    /// other processes on a shared machine do not count), best of 5.
    static func gemmEfficiency() -> [String: Any] {
        let hz = bench_measure_hz()
        let rows = 1600
        let shapes = [(384, 384), (1536, 384), (384, 1536)]  // (outputs, inputs)
        var paths: [String: Any] = [:]
        for path in KernelPath.supported {
            var flops = 0.0, seconds = 0.0
            for (n, k) in shapes {
                let a = (0..<(rows * k)).map { Float($0 % 97) / 97 - 0.5 }
                let w = (0..<(n * k)).map { Float($0 % 89) / 89 - 0.5 }
                var c = [Float](repeating: 0, count: rows * n)
                var packed = [Float](repeating: 0, count: ek_packed_size(path.rawValue, Int32(n), Int32(k)))
                ek_pack(path.rawValue, 1, Int32(n), Int32(k), w, Int32(k), &packed)
                var best = Double.infinity
                for _ in 0..<5 {
                    let start = bench_thread_cpu_seconds()
                    _ = ek_sgemm_packed(path.rawValue, Int32(rows), Int32(n), Int32(k), 1, a, Int32(k), packed, false, &c, Int32(n))
                    best = min(best, bench_thread_cpu_seconds() - start)
                }
                flops += 2 * Double(rows * n * k)
                seconds += best
            }
            paths[path.description] = flops / seconds / 1e9
        }
        return ["clock_ghz": hz / 1e9, "gflops_per_cpu_s": paths, "best": KernelPath.best.description]
    }

    /// User + system CPU seconds of this process so far.
    static func processCPUSeconds() -> Double {
        #if os(Linux)
        let RUSAGE_SELF_WHO = __rusage_who_t(RUSAGE_SELF.rawValue)
        #else
        let RUSAGE_SELF_WHO = RUSAGE_SELF
        #endif
        var usage = rusage()
        getrusage(RUSAGE_SELF_WHO, &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// VmHWM from /proc/self/status (Linux), in MB; 0 elsewhere.
    static func peakRSSMegabytes() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kb = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) })
        else { return 0 }
        return kb / 1024
    }
}
