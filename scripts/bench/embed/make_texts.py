"""Write N deterministic English-like chunks of about TOKENS WordPiece tokens each (all-MiniLM-L6-v2's
tokenizer, [CLS]/[SEP] included), one per line, for scripts/bench-embed.

    python make_texts.py MODEL_DIR N TOKENS OUT

Lengths vary by +-15% around TOKENS so that batching by similar length has something to do.
"""
import random
import sys

from transformers import AutoTokenizer

WORDS = """the a of and to in is for on with by as that from this be are at or it an which
document documents chunk chunks index indexes search vector vectors embedding embeddings model
models worker workers request requests server service services pipeline section table figure
page pages heading paragraph text tokens token length batch batches memory thread threads cluster
node nodes replica replicas shard shards query queries latency throughput recovery backup
configuration setting settings deployment kubernetes container image images policy policies
retention schedule operator operators engineer engineers incident incidents report reports
quarterly revenue customer customers contract contracts invoice invoices payment supplier
compliance audit risk risks control controls measure measures objective objectives review
approve approved process processes procedure procedures each every all some many few
converts splits embeds stores retrieves returns fails retries waits runs starts stops
quickly slowly reliably safely carefully automatically manually daily weekly monthly
2024 2025 2026 15 30 60 99.9% 3.2 4.1 v2 api http json pdf docx html markdown
""".split()


def main() -> None:
    model, n, tokens, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    tok = AutoTokenizer.from_pretrained(model)
    rng = random.Random(6)
    lines = []
    while len(lines) < n:
        target = rng.randint(int(tokens * 0.85), int(tokens * 1.15))
        words = []
        while True:
            sentence = [rng.choice(WORDS) for _ in range(rng.randint(6, 16))]
            sentence[0] = sentence[0].capitalize()
            words.append(" ".join(sentence) + rng.choice([".", ".", ".", ";", ":", "?"]))
            ids = tok(" ".join(words))["input_ids"]
            if len(ids) >= target:
                # Trim to the target, back to text through the tokenizer's own word pieces.
                text = tok.decode(ids[1:target - 1])
                lines.append(text.replace("\n", " "))
                break
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
