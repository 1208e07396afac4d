#!/usr/bin/env python3
"""HumanEval through the local engine: the files loop against first-code-block extraction.

Usage: scripts/humaneval-files.py CODEX_WRAP_BIN HUMANEVAL_JSONL FIRST LAST [ROUNDS]

For each task FIRST..LAST (inclusive), in a fresh project:
- block: `codex-wrap --local PROMPT`, the first fenced block of the answer is solution.py;
- files: solution.py holds the task's stub; `codex-wrap --local -w -i solution.py --check
  "python3 test_solution.py" --rounds ROUNDS PROMPT`.
Both pass when `python3 test_solution.py` exits 0 afterwards. The engine must be up (`codex-wrap
engine up`, with CODEX_WRAP_ENGINE_CACHE set as for the call). Prints one line per task and
the totals.
"""
import json, os, re, subprocess, sys, tempfile, time

exe, suite, first, last = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rounds = sys.argv[5] if len(sys.argv) > 5 else "3"
tasks = [json.loads(l) for l in open(suite)][first : last + 1]
# The caller's HOME: the running engine is found through its state directory.
keep = ("PATH", "HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "CODEX_WRAP_ENGINE_CACHE")
env = {k: v for k, v in os.environ.items() if k in keep}
PROFILE = "[profiles.code.options]\ntemperature = 0\n[engine]\nidle_stop = \"off\"\n"


def project(task, stub):
    d = tempfile.mkdtemp()
    os.makedirs(os.path.join(d, ".git"))
    open(os.path.join(d, "profiles.toml"), "w").write(PROFILE)
    open(os.path.join(d, "solution.py"), "w").write(stub)
    test = "from solution import *\n\n" + task["test"] + f"\n\ncheck({task['entry_point']})\n"
    open(os.path.join(d, "test_solution.py"), "w").write(test)
    return d


def passes(d):
    r = subprocess.run(["python3", "test_solution.py"], cwd=d, capture_output=True, timeout=30)
    return r.returncode == 0


def ask(task):
    return (f"Complete the Python function `{task['entry_point']}`:\n\n```python\n"
            f"{task['prompt']}```\n")


totals = {"block": 0, "files": 0}
secs = {"block": 0.0, "files": 0.0}
for task in tasks:
    stub = task["prompt"] + "    pass\n"
    line = [task["task_id"]]
    # First code block of a plain answer.
    d = project(task, "")
    t = time.time()
    r = subprocess.run([exe, "--local", ask(task)], cwd=d, env=env, capture_output=True, text=True, timeout=600)
    secs["block"] += time.time() - t
    m = re.search(r"```[^\n]*\n(.*?)```", r.stdout, re.S)
    open(os.path.join(d, "solution.py"), "w").write(m.group(1) if m else "")
    ok = passes(d)
    totals["block"] += ok
    line.append(f"block={'pass' if ok else 'fail'}")
    # The files loop.
    d = project(task, stub)
    t = time.time()
    r = subprocess.run([exe, "--local", "-w", "-i", "solution.py", "--check", "python3 test_solution.py",
                        "--rounds", rounds, ask(task)], cwd=d, env=env, capture_output=True, text=True, timeout=900)
    secs["files"] += time.time() - t
    ok = r.returncode == 0 and passes(d)
    totals["files"] += ok
    line.append(f"files={'pass' if ok else 'fail'} (exit {r.returncode})")
    print(" ".join(line), flush=True)
n = len(tasks)
print(f"block: {totals['block']}/{n} ({secs['block'] / n:.1f} s/task); "
      f"files: {totals['files']}/{n} ({secs['files'] / n:.1f} s/task)")
