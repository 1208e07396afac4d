#!/usr/bin/env python3
"""Measures `codex-wrap mcp` on this machine, with nothing but the standard library:

    python3 scripts/mcp-bench.py target/release/codex-wrap [PROJECT_DIR]

- the size of the tools/list result (bytes; tokens are measured separately);
- a `route` call over the session against `codex-wrap route` run as a process, both
  median of 50;
- 16 concurrent calls (8 `route`, 8 `context`) on one session: wall time, and the
  server's peak resident memory (VmHWM; its `context` children not counted);
- `delegate` over the session against `codex-wrap --local` run as a process, both against
  the same local Ollama-compatible server this script starts on 127.0.0.1 (a short
  NDJSON answer): the time to the answer over the session, the process's time to its
  first stdout byte and to its exit, and the engine's own first-token time from the run
  log for each (medians of 50);
- 16 concurrent `delegate` calls on one session: wall time, errors, server peak RSS.
"""

import json
import os
import statistics
import subprocess
import sys
import time

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

binary = os.path.abspath(sys.argv[1])
project = sys.argv[2] if len(sys.argv) > 2 else os.getcwd()
MODEL = "qwen2.5-coder:14b"


class Ollama(BaseHTTPRequestHandler):
    """`POST /api/chat` streamed as Ollama does (NDJSON, chunked), a short answer."""
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # As Go's net/http (Ollama) does: without it, Nagle and delayed ACKs add ~40 ms to
        # every answer on a reused connection.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        lines = [
            {"model": MODEL, "message": {"role": "assistant", "content": w}, "done": False}
            for w in ["def ", "parse", "(s): ", "..."]
        ] + [{"model": MODEL, "message": {"role": "assistant", "content": ""}, "done": True,
              "done_reason": "stop", "prompt_eval_count": 26, "eval_count": 4}]
        for line in lines:
            data = (json.dumps(line) + "\n").encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class Quiet(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that hangs up at the end


ollama = Quiet(("127.0.0.1", 0), Ollama)
ollama.daemon_threads = True
threading.Thread(target=ollama.serve_forever, daemon=True).start()
env = dict(os.environ, OLLAMA_URL=f"http://127.0.0.1:{ollama.server_port}", OLLAMA_MODEL=MODEL)
log_file = os.path.join(project, "logs", "codex-wrap.jsonl")

server = subprocess.Popen(
    [binary, "mcp"], cwd=project, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    stderr=subprocess.DEVNULL, text=True, bufsize=1, env=env,
)
next_id = 0


def send(method, params=None, notify=False):
    global next_id
    message = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    if not notify:
        next_id += 1
        message["id"] = next_id
    server.stdin.write(json.dumps(message) + "\n")
    server.stdin.flush()
    return message.get("id")


def wait_for(ids):
    ids, got = set(ids), {}
    while ids - got.keys():
        message = json.loads(server.stdout.readline())
        if message.get("id") in ids:
            got[message["id"]] = message
    return got


def call(tool, arguments):
    return send("tools/call", {"name": tool, "arguments": arguments})


send("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": {"name": "bench", "version": "1"}})
wait_for([next_id])
send("notifications/initialized", notify=True)
listed = wait_for([send("tools/list")])[next_id]
print(f"tools/list result: {len(json.dumps(listed['result'], separators=(',', ':')))} bytes")

prompt = "write a python function that parses ISO dates"
wait_for([call("route", {"prompt": prompt})])  # the router compiles on the first call
session = []
for _ in range(50):
    t = time.perf_counter()
    wait_for([call("route", {"prompt": prompt})])
    session.append(time.perf_counter() - t)
process = []
for _ in range(50):
    t = time.perf_counter()
    subprocess.run([binary, "route", prompt], cwd=project, capture_output=True, check=True, env=env)
    process.append(time.perf_counter() - t)
print(f"route over the session: p50 {statistics.median(session) * 1000:.2f} ms")
print(f"codex-wrap route as a process: p50 {statistics.median(process) * 1000:.2f} ms")

t = time.perf_counter()
ids = [call("route", {"prompt": f"{prompt} {i}"}) for i in range(8)]
ids += [call("context", {"prompt": f"{prompt} {i}"}) for i in range(8)]
answers = wait_for(ids)
wall = time.perf_counter() - t
errors = sum(1 for m in answers.values() if "error" in m or m["result"].get("isError"))
with open(f"/proc/{server.pid}/status") as f:
    peak = next(line.split()[1] for line in f if line.startswith("VmHWM"))
print(f"16 concurrent calls: {wall * 1000:.0f} ms, {errors} errors, server peak RSS {int(peak) / 1024:.1f} MiB")


def ttft(records):
    """The engine's first-token times (ms) of the run-log records given."""
    return statistics.median(r["ttft_ms"] for r in records if r.get("ttft_ms") is not None)


def log_records():
    try:
        with open(log_file) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


ask = {"prompt": prompt, "route": "local"}
reply = wait_for([call("delegate", ask)])[next_id]  # warm: config, client, connection
assert not reply["result"].get("isError"), reply
before = len(log_records())
session = []
for _ in range(50):
    t = time.perf_counter()
    reply = wait_for([call("delegate", ask)])[next_id]
    session.append(time.perf_counter() - t)
    assert not reply["result"].get("isError"), reply
session_log = log_records()[before:]
first_byte, total = [], []
for _ in range(50):
    t = time.perf_counter()
    p = subprocess.Popen([binary, "--local", prompt], cwd=project, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, env=env)
    p.stdout.read(1)
    first_byte.append(time.perf_counter() - t)
    p.stdout.read()
    p.wait()
    total.append(time.perf_counter() - t)
cli_log = log_records()[before + 50:]
ms = lambda xs: statistics.median(xs) * 1000
print(f"delegate over the session, request to answer: p50 {ms(session):.2f} ms "
      f"(engine first token {ttft(session_log):.2f} ms)")
print(f"codex-wrap --local as a process: first stdout byte p50 {ms(first_byte):.2f} ms, "
      f"exit {ms(total):.2f} ms (engine first token {ttft(cli_log):.2f} ms)")
print(f"delegate answer vs the CLI's first byte: {ms(session) - ms(first_byte):+.2f} ms, "
      f"ratio {ms(session) / ms(first_byte):.2f}; engine first token, session vs CLI: "
      f"{ttft(session_log) - ttft(cli_log):+.2f} ms")

t = time.perf_counter()
ids = [call("delegate", {"prompt": f"{prompt} {i}", "route": "local"}) for i in range(16)]
answers = wait_for(ids)
wall = time.perf_counter() - t
errors = sum(1 for m in answers.values() if "error" in m or m["result"].get("isError"))
with open(f"/proc/{server.pid}/status") as f:
    peak = next(line.split()[1] for line in f if line.startswith("VmHWM"))
print(f"16 concurrent delegate calls: {wall * 1000:.0f} ms, {errors} errors, "
      f"server peak RSS {int(peak) / 1024:.1f} MiB")
server.stdin.close()
server.wait(timeout=10)
ollama.shutdown()
