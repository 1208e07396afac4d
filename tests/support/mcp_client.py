"""Drives `codex-wrap mcp` with the official MCP Python SDK and prints one JSON report.

    python mcp_client.py BINARY PROJECT_DIR [cancel|delegate]

The server's environment is this process's (the Rust test sets it). The report holds what
the test asserts: the tools and their size, each tool's answer, four concurrent calls, and
the JSON-RPC error for an unknown method. With `cancel`: one `status` call abandoned as soon
as the model server has its request (the SDK then sends `notifications/cancelled`), and the
wall-clock time it was. With `delegate`: the `delegate` tool against the test's scripted
model server (prompts say what it does: SLOW streams for ~11 s, LONG answers at length,
STALL streams two tokens and then waits): progress notifications, four concurrent calls, a
continuation round trip, a capped reply, a call abandoned mid-stream, and JSON-RPC errors.
With `jobs`: every call under a 2 s client timeout; a SLOW call that times out in the
foreground and is collected as a background job by polling `job`; a STALL job cancelled; two
write jobs in one root (their checks append to turns.log); a LONG job's capped reply.
"""

import asyncio
import json

import anyio
import os
import sys
import time

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
import mcp.types as types


def text_of(result):
    return [c.text for c in result.content if getattr(c, "type", "") == "text"]


async def cancel(binary, project):
    params = StdioServerParameters(
        command=binary, args=["mcp"], cwd=project, env=dict(os.environ)
    )
    # The test's model server creates this file when the request reaches it.
    marker = os.environ["MCP_TEST_MARKER"]
    async with stdio_client(params) as streams:
        async with ClientSession(streams[0], streams[1]) as session:
            await session.initialize()
            abandoned = None
            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(session.call_tool, "status", {})
                    while not os.path.exists(marker):
                        await anyio.sleep(0.005)
                    abandoned = time.time()
                    # Abandoning the call makes the SDK send notifications/cancelled.
                    tg.cancel_scope.cancel()
            again = await session.call_tool("route", {"prompt": "a regex for dates"})
    print(json.dumps({
        "abandoned": abandoned is not None,
        "abandoned_at": abandoned,
        "still_up": not again.is_error,
    }))


async def main(binary, project):
    # The whole environment the test set (by default the SDK passes only a few variables).
    params = StdioServerParameters(
        command=binary, args=["mcp"], cwd=project, env=dict(os.environ)
    )
    report = {}
    async with stdio_client(params) as streams:
        read, write = streams[0], streams[1]
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            report["server"] = init.server_info.name
            report["protocol"] = init.protocol_version

            tools = await session.list_tools()
            listed = [t.model_dump(by_alias=True, exclude_none=True, mode="json") for t in tools.tools]
            report["tools"] = sorted(t["name"] for t in listed)
            # The tools/list result as the client's model sees it, compact JSON.
            report["tools_chars"] = len(json.dumps({"tools": listed}, separators=(",", ":")))

            calls = {
                "route_local": ("route", {"prompt": "write a python function that reverses a string"}),
                "route_api": ("route", {"prompt": "refactor every service across the whole codebase to use our logger"}),
                "context": ("context", {"prompt": "explain the billing flow", "route": "api"}),
                "status": ("status", {}),
            }
            for key, (name, args) in calls.items():
                result = await session.call_tool(name, args)
                report[key] = {"error": bool(result.is_error), "text": text_of(result)}

            started = time.monotonic()
            together = await asyncio.gather(
                *(session.call_tool(name, args) for name, args in calls.values())
            )
            report["concurrent"] = {
                "errors": [bool(r.is_error) for r in together],
                "seconds": time.monotonic() - started,
            }

            bad = await session.call_tool("route", {"prompt": 5})
            report["bad_arguments"] = {"error": bool(bad.is_error), "text": text_of(bad)}

            try:
                await session.send_request(
                    types.Request(method="no/such/method", params=None), types.EmptyResult
                )
                report["unknown_method"] = None
            except Exception as e:  # the SDK raises MCPError carrying the JSON-RPC error
                error = getattr(e, "error", None)
                report["unknown_method"] = {
                    "code": getattr(error, "code", None),
                    "message": str(e),
                }

            # The session still answers after the failures above.
            again = await session.call_tool("route", {"prompt": "a regex for dates"})
            report["still_up"] = not again.is_error
    print(json.dumps(report))


def summary_of(result):
    texts = text_of(result)
    return {
        "error": bool(result.is_error),
        "summary": json.loads(texts[0]) if not result.is_error else None,
        "text": texts[-1] if texts else "",
    }


async def delegate(binary, project):
    params = StdioServerParameters(
        command=binary, args=["mcp"], cwd=project, env=dict(os.environ)
    )
    marker = os.environ["MCP_TEST_MARKER"]
    report = {}
    async with stdio_client(params) as streams:
        async with ClientSession(streams[0], streams[1]) as session:
            await session.initialize()
            tools = await session.list_tools()
            listed = [t.model_dump(by_alias=True, exclude_none=True, mode="json") for t in tools.tools]
            report["tools"] = sorted(t["name"] for t in listed)
            report["tools_json"] = json.dumps({"tools": listed}, separators=(",", ":"))

            # Progress: a slow stream; the callback sees every notification.
            seen = []

            async def on_progress(progress, total, message):
                seen.append({"progress": progress, "message": message, "at": time.monotonic()})

            started = time.monotonic()
            slow = await session.call_tool(
                "delegate", {"prompt": "SLOW count to ten", "route": "local"},
                progress_callback=on_progress,
            )
            report["slow"] = summary_of(slow)
            report["progress"] = [
                {"progress": p["progress"], "message": p["message"], "after": p["at"] - started}
                for p in seen
            ]

            # Four calls at once on the one session.
            together = await asyncio.gather(*(
                session.call_tool("delegate", {"prompt": f"task {i}", "route": "local"})
                for i in range(4)
            ))
            report["concurrent"] = [summary_of(r) for r in together]

            # A follow-up that sends the earlier exchange first.
            first = summary_of(await session.call_tool(
                "delegate", {"prompt": "write a slugify function", "route": "local"}))
            follow = summary_of(await session.call_tool("delegate", {
                "prompt": "now add tests", "route": "local",
                "continuation_id": first["summary"]["continuation_id"],
            }))
            report["continuation"] = {"first": first, "follow": follow}

            report["long"] = summary_of(await session.call_tool(
                "delegate", {"prompt": "LONG list", "route": "local"}))

            # Abandoned mid-stream: the SDK sends notifications/cancelled.
            abandoned = None
            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(session.call_tool, "delegate",
                                  {"prompt": "STALL forever", "route": "local"})
                    while not os.path.exists(marker):
                        await anyio.sleep(0.005)
                    abandoned = time.time()
                    tg.cancel_scope.cancel()
            report["abandoned_at"] = abandoned

            bad = await session.call_tool("delegate", {"prompt": 5})
            report["bad_arguments"] = {"error": bool(bad.is_error), "text": text_of(bad)}
            try:
                await session.send_request(
                    types.Request(method="tools/cal", params=None), types.EmptyResult
                )
                report["malformed"] = None
            except Exception as e:
                error = getattr(e, "error", None)
                report["malformed"] = {"code": getattr(error, "code", None), "message": str(e)}
            report["still_up"] = summary_of(await session.call_tool(
                "delegate", {"prompt": "task after", "route": "local"}))
    print(json.dumps(report))


async def poll(session, job_id, timeout):
    """Polls `job` (each call under the 2 s client timeout) until the job has ended: the
    statuses seen on the way and the final result."""
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        result = await session.call_tool("job", {"job_id": job_id}, read_timeout_seconds=timeout)
        texts = text_of(result)
        view = json.loads(texts[0]) if texts and not result.is_error else {}
        if view.get("status") in ("running", "cancelling"):
            seen.append(view)
            await anyio.sleep(0.3)
            continue
        return seen, result
    raise TimeoutError(f"job {job_id} never ended")


async def jobs(binary, project):
    params = StdioServerParameters(
        command=binary, args=["mcp"], cwd=project, env=dict(os.environ)
    )
    marker = os.environ["MCP_TEST_MARKER"]
    timeout = 2.0
    report = {}
    async with stdio_client(params) as streams:
        async with ClientSession(streams[0], streams[1]) as session:
            await session.initialize()
            tools = await session.list_tools()
            report["tools"] = sorted(t.name for t in tools.tools)

            # In the foreground, the slow call outlives the client's timeout.
            started = time.monotonic()
            try:
                await session.call_tool(
                    "delegate", {"prompt": "SLOW count", "route": "local"},
                    read_timeout_seconds=timeout)
                report["foreground"] = "answered"
            except Exception as e:
                report["foreground"] = type(e).__name__ + ": " + str(e)
            report["foreground_seconds"] = time.monotonic() - started

            # As a job: the id at once, the reply by polling.
            started = time.monotonic()
            begun = await session.call_tool(
                "delegate", {"prompt": "SLOW count", "route": "local", "background": True},
                read_timeout_seconds=timeout)
            report["start_seconds"] = time.monotonic() - started
            report["start"] = {"error": bool(begun.is_error), "text": text_of(begun)}
            job_id = json.loads(text_of(begun)[0])["job_id"]
            seen, done = await poll(session, job_id, timeout)
            report["polled"] = seen
            report["done"] = summary_of(done)
            report["done_seconds"] = time.monotonic() - started
            status = await session.call_tool("status", {}, read_timeout_seconds=10)
            report["status_jobs"] = json.loads(text_of(status)[0]).get("jobs")

            # Cancelled while the model streams.
            stall = await session.call_tool(
                "delegate", {"prompt": "STALL forever", "route": "local", "background": True},
                read_timeout_seconds=timeout)
            stall_id = json.loads(text_of(stall)[0])["job_id"]
            while not os.path.exists(marker):
                await anyio.sleep(0.005)
            report["cancel_sent_at"] = time.time()
            cancelled = await session.call_tool(
                "job", {"job_id": stall_id, "cancel": True}, read_timeout_seconds=timeout)
            report["cancelled"] = {"error": bool(cancelled.is_error), "text": text_of(cancelled)}

            # Two write jobs in one root take turns.
            pair = []
            for name in ("first", "second"):
                r = await session.call_tool("delegate", {
                    "prompt": f"WRITE {name}.py", "route": "local", "write": True,
                    "check": f"echo start {name} >> turns.log; sleep 1; echo end {name} >> turns.log",
                    "background": True,
                }, read_timeout_seconds=timeout)
                pair.append(json.loads(text_of(r)[0])["job_id"])
            report["pair"] = [summary_of((await poll(session, j, timeout))[1]) for j in pair]

            # A long reply, capped at the smaller of the two limits.
            long = await session.call_tool(
                "delegate", {"prompt": "LONG list", "route": "local", "background": True},
                read_timeout_seconds=timeout)
            long_id = json.loads(text_of(long)[0])["job_id"]
            report["long"] = summary_of((await poll(session, long_id, timeout))[1])

            unknown = await session.call_tool("job", {"job_id": "nope"}, read_timeout_seconds=timeout)
            report["unknown"] = {"error": bool(unknown.is_error), "text": text_of(unknown)}
    print(json.dumps(report))


if __name__ == "__main__":
    scenarios = {"cancel": cancel, "delegate": delegate, "jobs": jobs}
    scenario = scenarios.get(sys.argv[3] if len(sys.argv) > 3 else "", main)
    asyncio.run(scenario(sys.argv[1], sys.argv[2]))
