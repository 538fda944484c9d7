#!/usr/bin/env python3
"""A stand-in Stepflow 0.9.0 component server for Tests/deploy.

Just enough of the protocol (spec: shared/spec/stepflow-protocol.md) for a real stepflow-server to
start against it and run one flow step: GET /health, and JSON-RPC over POST for `initialize`,
`initialized` (HTTP 202), `components/list` and `components/execute` (echoes the input and the
component name). Every call is appended to a JSON-lines log so that tests can see what arrived.

Usage: standin_worker.py PORT LOGFILE
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
LOG = sys.argv[2]
INSTANCE_ID = f"standin-{PORT}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output quiet
        pass

    def reply(self, status, obj=None):
        body = b"" if obj is None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.send_header("stepflow-instance-id", INSTANCE_ID)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/health":
            self.reply(200, {"status": "healthy", "instanceId": INSTANCE_ID})
        else:
            self.reply(404, {"error": "not found"})

    def do_POST(self):
        msg = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))) or b"{}")
        with open(LOG, "a", encoding="utf-8") as f:
            f.write(json.dumps({"path": self.path, "message": msg}) + "\n")
        method, rid = msg.get("method"), msg.get("id")
        if method == "initialize":
            self.reply(200, {"jsonrpc": "2.0", "id": rid, "result": {"server_protocol_version": 1}})
        elif method == "initialized":
            self.reply(202)
        elif method == "components/list":
            self.reply(200, {"jsonrpc": "2.0", "id": rid, "result": {"components": [{"component": "/ingest"}]}})
        elif method == "components/execute":
            params = msg.get("params", {})
            output = {"component": params.get("component"), "input": params.get("input")}
            self.reply(200, {"jsonrpc": "2.0", "id": rid, "result": {"output": output}})
        else:
            self.reply(200, {"jsonrpc": "2.0", "id": rid,
                             "error": {"code": -32601, "message": f"Method not found: {method}"}})


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
