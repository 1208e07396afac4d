#!/usr/bin/env python3
"""Measures `codex-wrap mcp` on this machine, with nothing but the standard library:

    python3 scripts/mcp-bench.py target/release/codex-wrap [PROJECT_DIR]

- the size of the tools/list result (bytes; tokens are measured separately);
- a `route` call over the session against `codex-wrap route` run as a process, both
  median of 50;
- 16 concurrent calls (8 `route`, 8 `context`) on one session: wall time, and the
  server's peak resident memory (VmHWM; its `context` children not counted).
"""

import json
import os
import statistics
import subprocess
import sys
import time

binary = os.path.abspath(sys.argv[1])
project = sys.argv[2] if len(sys.argv) > 2 else os.getcwd()

server = subprocess.Popen(
    [binary, "mcp"], cwd=project, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    stderr=subprocess.DEVNULL, text=True, bufsize=1,
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
    subprocess.run([binary, "route", prompt], cwd=project, capture_output=True, check=True)
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
server.stdin.close()
server.wait(timeout=10)
