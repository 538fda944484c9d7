import Foundation
import IngestLocalEmbeddings

/// `embed-bench MODEL_DIR THREADS BATCH TEXTS_FILE`: embeds every line of TEXTS_FILE with
/// ``LocalEmbedder`` (what `ingest` runs) and prints one JSON object: load and embed seconds,
/// sentences/s, the peak RSS (VmHWM) of this process, the matrix-product kernel that ran and the
/// threads the forward passes ran on. EMBED_BENCH_KERNEL=generic|avx2|avx512 forces a kernel path
/// (to compare them; production always takes the CPU's fastest).
@main
struct EmbedBench {
    static func main() async throws {
        let args = CommandLine.arguments
        guard args.count == 5, let threads = Int(args[2]), let batch = Int(args[3]) else {
            FileHandle.standardError.write(Data("usage: embed-bench MODEL_DIR THREADS BATCH TEXTS_FILE\n".utf8))
            exit(2)
        }
        let texts = try String(contentsOfFile: args[4], encoding: .utf8).split(separator: "\n").map(String.init)
        let forced = ProcessInfo.processInfo.environment["EMBED_BENCH_KERNEL"].flatMap { name in KernelPath.allCases.first { $0.description == name } }
        let embedder = LocalEmbedder(configuration: LocalEmbeddingConfiguration(modelPath: args[1], threads: threads, batchSize: batch), kernel: forced ?? .best)
        let clock = ContinuousClock()
        let t0 = clock.now
        let dimension = try await embedder.probeDimension()
        let t1 = clock.now
        let vectors = try await embedder.embed(texts)
        let t2 = clock.now
        let load = (t1 - t0) / .seconds(1), embed = (t2 - t1) / .seconds(1)
        let result: [String: Any] = [
            "texts": vectors.count, "dimension": dimension, "load_s": load, "embed_s": embed,
            "sentences_per_s": Double(texts.count) / embed, "peak_rss_mb": peakRSSMegabytes(),
            "kernel": (embedder.encoder?.kernelsRun ?? []).map(\.description).joined(separator: "+"),
            "forward_threads": (embedder.encoder?.forwardPassThreads ?? []).sorted(),
        ]
        let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        FileHandle.standardOutput.write(json + Data("\n".utf8))
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
