"""The PyTorch side of scripts/bench-embed: sentence-transformers on the CPU.

    python st_bench.py MODEL_DIR THREADS BATCH TEXTS_FILE

Prints one JSON object like embed-bench: load and encode seconds, sentences/s, CPU seconds while
encoding, peak RSS (VmHWM).
"""
import json
import resource
import sys
import time


def peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    model_dir, threads, batch, texts_file = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    import torch
    torch.set_num_threads(threads)
    from sentence_transformers import SentenceTransformer
    texts = open(texts_file, encoding="utf-8").read().splitlines()
    t0 = time.perf_counter()
    model = SentenceTransformer(model_dir, device="cpu")
    model.encode(["dimension probe"], normalize_embeddings=True)
    t1 = time.perf_counter()
    cpu0 = cpu_seconds()
    vectors = model.encode(texts, batch_size=batch, normalize_embeddings=True, show_progress_bar=False)
    cpu1 = cpu_seconds()
    t2 = time.perf_counter()
    print(json.dumps({"texts": len(vectors), "dimension": int(vectors.shape[1]), "load_s": t1 - t0,
                      "embed_s": t2 - t1, "sentences_per_s": len(texts) / (t2 - t1), "cpu_s": cpu1 - cpu0,
                      "peak_rss_mb": peak_rss_mb(), "torch": torch.__version__}, sort_keys=True))


if __name__ == "__main__":
    main()
