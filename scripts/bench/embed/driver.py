"""Runs the Swift and the PyTorch embedders alternately for each (threads, batch) and prints a table.

    python driver.py --swift BIN --python PY --model DIR --texts FILE [--threads 1 2] [--batches 1 8 32]
                     [--repeat N] [--json OUT]

Each measurement is a fresh process (so peak RSS is its own); the two sides alternate so that both
see the same load on a shared machine, `--repeat` times per row, and each column is the median.
Besides sentences/s (wall clock) each side reports sentences per CPU second of its process, the
figure a busy shared machine disturbs least.
"""
import statistics
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, env):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def median(results):
    """The median of each figure over repeated runs of one side."""
    out = {}
    for key in ("sentences_per_s", "peak_rss_mb", "embed_s", "cpu_s"):
        out[key] = statistics.median(r[key] for r in results)
    out["sentences_per_cpu_s"] = statistics.median(r["texts"] / r["cpu_s"] for r in results)
    return out


def main() -> None:
    a = argparse.ArgumentParser()
    a.add_argument("--swift", required=True)
    a.add_argument("--python", required=True)
    a.add_argument("--model", required=True)
    a.add_argument("--texts", required=True)
    a.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    a.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    a.add_argument("--repeat", type=int, default=1)
    a.add_argument("--json")
    args = a.parse_args()
    rows = []
    print(f"{'threads':>7} {'batch':>5} | {'swift s/s':>9} {'/cpu-s':>6} {'RSS MB':>7} {'kernel':>7} | "
          f"{'torch s/s':>9} {'/cpu-s':>6} {'RSS MB':>7} | {'speed':>6} {'cpu':>6} {'memory':>6}", flush=True)
    for threads in args.threads:
        # Pin every thread pool to the same count; nothing else differs between the two sides.
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
                   OPENBLAS_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="false")
        for batch in args.batches:
            swifts, torches = [], []
            for _ in range(args.repeat):
                swifts.append(run([args.swift, args.model, str(threads), str(batch), args.texts], env))
                torches.append(run([args.python, os.path.join(HERE, "st_bench.py"), args.model, str(threads), str(batch), args.texts], env))
            swift, torch = median(swifts), median(torches)
            swift["kernel"] = swifts[0].get("kernel", "?")
            speed = swift["sentences_per_s"] / torch["sentences_per_s"]
            cpu = swift["sentences_per_cpu_s"] / torch["sentences_per_cpu_s"]
            memory = swift["peak_rss_mb"] / torch["peak_rss_mb"]
            rows.append({"threads": threads, "batch": batch, "swift": swift, "torch": torch, "runs": {"swift": swifts, "torch": torches}})
            print(f"{threads:>7} {batch:>5} | {swift['sentences_per_s']:>9.1f} {swift['sentences_per_cpu_s']:>6.1f} {swift['peak_rss_mb']:>7.0f} {swift['kernel']:>7} | "
                  f"{torch['sentences_per_s']:>9.1f} {torch['sentences_per_cpu_s']:>6.1f} {torch['peak_rss_mb']:>7.0f} | "
                  f"{speed:>5.2f}x {cpu:>5.2f}x {memory:>5.2f}x", flush=True)
    fast = all(r["swift"]["sentences_per_s"] >= r["torch"]["sentences_per_s"] for r in rows)
    small = all(r["swift"]["peak_rss_mb"] < 0.5 * r["torch"]["peak_rss_mb"] for r in rows)
    print(f"goal: throughput >= PyTorch in every row: {'PASS' if fast else 'MISS'}; "
          f"peak RSS < half of PyTorch's in every row: {'PASS' if small else 'MISS'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "throughput_goal": fast, "memory_goal": small}, f, indent=1)


if __name__ == "__main__":
    main()
