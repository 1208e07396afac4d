#!/usr/bin/env python3
"""Score the router as a user runs it: `codex-wrap route --json` over labelled JSONL sets.

Usage: scripts/route_eval.py [--bin target/release/codex-wrap] [--miss] [--bias B] SET.jsonl...

For each set: route and profile agreement (strict, and with `uncensored` counted as `code`,
the profile the router suggests for prose), the route confusion table, the api->local and
local->api error rates, and a calibration table (per confidence band: count, share correct).
Each prompt is passed on stdin from an empty project folder with an empty config home, so
only the built-in profiles.toml decides. Stdlib only.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

BANDS = [(0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 0.95), (0.95, 1.01)]


def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def decide(binary, prompt, home):
    env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=os.path.join(home, ".config"))
    for k in ("OLLAMA_PROFILE", "RUST_LOG"):
        env.pop(k, None)
    out = subprocess.run(
        [binary, "route", "--json", "--root", home],
        input=prompt.encode(),
        capture_output=True,
        env=env,
        cwd=home,
        check=True,
    )
    return json.loads(out.stdout)


def report(name, items, decisions, show_misses):
    n = len(items)
    conf = {("local", "local"): 0, ("local", "api"): 0, ("api", "local"): 0, ("api", "api"): 0}
    route_ok = prof_ok = prof_strict = 0
    bands = [[0, 0] for _ in BANDS]
    misses = []
    for item, d in zip(items, decisions):
        conf[(item["route"], d["route"])] += 1
        ok = item["route"] == d["route"]
        route_ok += ok
        want = "code" if item["profile"] == "uncensored" else item["profile"]
        prof_ok += want == d["profile"]
        prof_strict += item["profile"] == d["profile"]
        for i, (lo, hi) in enumerate(BANDS):
            if lo <= d["confidence"] < hi:
                bands[i][0] += 1
                bands[i][1] += ok
        if not ok or want != d["profile"]:
            misses.append((item, d))
    api = conf[("api", "local")] + conf[("api", "api")]
    local = conf[("local", "local")] + conf[("local", "api")]
    print(f"## {name}: n={n}")
    print(f"route agreement   {100 * route_ok / n:.1f}% ({route_ok}/{n})")
    print(f"profile agreement {100 * prof_ok / n:.1f}% (uncensored counted as code), "
          f"{100 * prof_strict / n:.1f}% strict")
    print(f"api->local error  {100 * conf[('api', 'local')] / max(api, 1):.1f}% "
          f"({conf[('api', 'local')]}/{api}); local->api error "
          f"{100 * conf[('local', 'api')] / max(local, 1):.1f}% ({conf[('local', 'api')]}/{local})")
    print("| label \\ predicted | local | api |")
    print("|---|---|---|")
    for lab in ("local", "api"):
        print(f"| {lab} | {conf[(lab, 'local')]} | {conf[(lab, 'api')]} |")
    print("| confidence band | count | share correct |")
    print("|---|---|---|")
    for (lo, hi), (c, k) in zip(BANDS, bands):
        if c:
            print(f"| {lo:.2f}-{min(hi, 1.0):.2f} | {c} | {100 * k / c:.0f}% |")
    if show_misses:
        for item, d in misses:
            print(f"  want {item['route']}/{item['profile']} got {d['route']}/{d['profile']} "
                  f"{d['confidence']:.2f} {item['prompt'][:110]!r} {d['rules']}")
    print()
    return route_ok, prof_ok, n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/codex-wrap")
    ap.add_argument("--miss", action="store_true", help="list the misses")
    ap.add_argument("--bias", type=float, default=None,
                    help="score with `[router] bias` set to this (a project profiles.toml)")
    ap.add_argument("sets", nargs="+")
    args = ap.parse_args()
    binary = os.path.abspath(args.bin)
    with tempfile.TemporaryDirectory() as home:
        if args.bias is not None:
            with open(os.path.join(home, "profiles.toml"), "w") as f:
                f.write(f"[router]\nbias = {args.bias}\n")
        for path in args.sets:
            items = load(path)
            decisions = [decide(binary, it["prompt"], home) for it in items]
            report(os.path.basename(path), items, decisions, args.miss)


if __name__ == "__main__":
    sys.exit(main())
