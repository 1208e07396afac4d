#!/usr/bin/env python3
"""Learn the router's weights from the labelled sets, measure them honestly, write them.

    scripts/route_train.py [--bin target/release/codex-wrap] [--write] SET.jsonl...

Features are what the real binary reports: every rule of the built-in profiles.toml and
every structural signal, switched on with weight 1 through a project profiles.toml, read
back from `codex-wrap route --json` (so the masking of quotes, code and negations is the
binary's own). The model is a logistic regression, z = sum(w * x) + b, route api when
z >= 0; each weight keeps the sign of its rule's side (api >= 0, local <= 0), so every
rule still votes the way its name says and a user can still override it by name. Its
probability is the confidence: the built-in `threshold` is -b and `scale` is 1.

Printed: 10-fold cross-validation over all the sets given (pooled and per set, with the
confusion table and a calibration table of the out-of-fold confidences), a leave-one-set-
out score for every set (train on the others, score it), the current weights on each set,
and the same model with hashed word n-grams added (to decide whether they are worth it).
--write trains on every set and writes the weights into profiles.toml. Stdlib only;
deterministic (fixed seed, full-batch gradient descent).
"""

import argparse
import hashlib
import json
import math
import os
import random
import re
import subprocess
import tempfile
import tomllib
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
PROFILES = os.path.join(HERE, "..", "profiles.toml")
# The structural signals and the side each votes for (+1 api, -1 local).
SIGNALS = {
    "paths": 1, "long_log": 1, "multi_file_diff": 1, "pasted_code": -1, "layers": 1,
    "deliverables": 1, "folder_scope": 1, "long_request": 1,
}
BANDS = [(0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 0.95), (0.95, 1.01)]


def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def feature_names(router):
    names = {}
    for name, rule in router["rules"].items():
        names[name] = 1 if rule["side"] == "api" else -1
    for name, side in SIGNALS.items():
        names["signal:" + name] = side
    return names


def extract(binary, router, prompts):
    """Runs the binary with every weight at 1 (sign from the side) and reads the hits."""
    lines = ["[router]", "threshold = 1000.0", "[router.signals]"]
    lines += [f"{name} = 1.0" for name in SIGNALS]
    # Each rule as profiles.toml has it now (side and pattern too), so a rule edited or
    # added there is measured without rebuilding the binary.
    for name, rule in router["rules"].items():
        lines += [f"[router.rules.{json.dumps(name)}]", "weight = 1.0",
                  f"side = {json.dumps(rule['side'])}",
                  f"pattern = {json.dumps(rule['pattern'])}"]
    out = []
    with tempfile.TemporaryDirectory() as home:
        with open(os.path.join(home, "profiles.toml"), "w") as f:
            f.write("\n".join(lines) + "\n")
        env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=os.path.join(home, ".config"))
        for prompt in prompts:
            r = subprocess.run([binary, "route", "--json", "--root", home],
                               input=prompt.encode(), capture_output=True, env=env,
                               cwd=home, check=True)
            hits = {}
            for fired in json.loads(r.stdout)["rules"]:
                m = re.fullmatch(r"(.+)\(([-+][\d.]+)\)", fired)
                name, value = m.group(1), abs(float(m.group(2)))
                key = name if name in router["rules"] else "signal:" + name.replace("-", "_")
                hits[key] = value
            out.append(hits)
    return out


def ngrams(prompt, buckets=4096):
    words = re.findall(r"\w+", prompt.lower())
    grams = words + [a + " " + b for a, b in zip(words, words[1:])]
    return {"ng:%d" % (zlib.crc32(g.encode()) % buckets): 1.0 for g in grams}


PRIOR = None  # (weights, bias) to start from and shrink towards; None: zero
API_WEIGHT = 1.0  # cost of an api prompt sent local, relative to the reverse error


def train(xs, ys, sides, l2, epochs=1500, lr=1.0):
    """Projected full-batch gradient descent on the L2-regularised log loss, the two
    classes weighted equally; with a prior, started from it and shrunk towards it."""
    w0, b = PRIOR if PRIOR else ({}, 0.0)
    w = {k: w0.get(k, 0.0) for x in xs for k in x}
    n = len(xs)
    pos = sum(ys)
    cw = {1: API_WEIGHT * n / (2 * max(pos, 1)), 0: n / (2 * max(n - pos, 1))}
    for _ in range(epochs):
        gw = {k: l2 * (v - w0.get(k, 0.0)) for k, v in w.items()}
        gb = 0.0
        for x, y in zip(xs, ys):
            z = b + sum(w[k] * v for k, v in x.items())
            g = (1 / (1 + math.exp(-max(min(z, 30), -30))) - y) * cw[y]
            gb += g / n
            for k, v in x.items():
                gw[k] += g * v / n
        b -= lr * gb
        for k in w:
            w[k] -= lr * gw[k]
            side = sides.get(k, 0)
            if side > 0 and w[k] < 0 or side < 0 and w[k] > 0:
                w[k] = 0.0
    return w, b


def predict(model, x):
    w, b = model
    z = b + sum(w.get(k, 0.0) * v for k, v in x.items())
    return z, 1 / (1 + math.exp(-max(min(z, 30), -30)))


class Tally:
    def __init__(self):
        self.n = self.ok = 0
        self.conf = {(a, p): 0 for a in (0, 1) for p in (0, 1)}
        self.bands = [[0, 0] for _ in BANDS]
        self.zs = []

    def add(self, y, z, p):
        self.zs.append((y, z))
        pred = int(z >= 0)
        self.n += 1
        self.ok += pred == y
        self.conf[(y, pred)] += 1
        c = max(p, 1 - p)
        for i, (lo, hi) in enumerate(BANDS):
            if lo <= c < hi:
                self.bands[i][0] += 1
                self.bands[i][1] += pred == y

    def line(self):
        api = self.conf[(1, 0)] + self.conf[(1, 1)]
        local = self.conf[(0, 0)] + self.conf[(0, 1)]
        return (f"route {100 * self.ok / self.n:5.1f}% ({self.ok}/{self.n}); "
                f"api->local {100 * self.conf[(1, 0)] / max(api, 1):4.1f}% "
                f"({self.conf[(1, 0)]}/{api}); local->api "
                f"{100 * self.conf[(0, 1)] / max(local, 1):4.1f}% ({self.conf[(0, 1)]}/{local})")

    def tables(self):
        c = self.conf
        rows = ["| label \\ predicted | local | api |", "|---|---|---|",
                f"| local | {c[(0, 0)]} | {c[(0, 1)]} |", f"| api | {c[(1, 0)]} | {c[(1, 1)]} |",
                "", "| confidence band | count | share correct |", "|---|---|---|"]
        for (lo, hi), (n, k) in zip(BANDS, self.bands):
            if n:
                rows.append(f"| {lo:.2f}-{min(hi, 1.0):.2f} | {n} | {100 * k / n:.0f}% |")
        return "\n".join(rows)


def fit_scale(zs):
    """The slope a minimising the log loss of sigmoid(a * z) (Platt scaling, no offset:
    the threshold stays where the model put it)."""
    def loss(a):
        return sum(math.log1p(math.exp(-max(min(a * z if y else -a * z, 30), -30)))
                   for y, z in zs)
    return min((x / 20 for x in range(4, 61)), key=loss)


def folds(n, k, seed=16):
    idx = list(range(n))
    random.Random(seed).shuffle(idx)
    return [idx[i::k] for i in range(k)]


def cross_validate(data, sides, l2, k=10, extra=None):
    pooled, per_set = Tally(), {}
    for test in folds(len(data), k):
        held = set(test)
        tr = [d for i, d in enumerate(data) if i not in held]
        model = train([feats(d, extra) for d in tr], [d["y"] for d in tr], sides, l2)
        for i in test:
            z, p = predict(model, feats(data[i], extra))
            pooled.add(data[i]["y"], z, p)
            per_set.setdefault(data[i]["set"], Tally()).add(data[i]["y"], z, p)
    return pooled, per_set


def feats(d, extra):
    if not extra:
        return d["x"]
    x = dict(d["x"])
    x.update(d["ng"])
    return x


def hand_set(router, d):
    """The score of the weights as written in profiles.toml, as the binary computes it."""
    z = -router.get("threshold", 1.0) + router.get("bias", 0.0)
    sig = router.get("signals", {})
    for k, v in d["x"].items():
        if k.startswith("signal:"):
            z += sig.get(k[7:], 0.0) * v
        else:
            rule = router["rules"][k]
            z += rule.get("weight", 1.0) * (1 if rule["side"] == "api" else -1) * v
    return z, 1 / (1 + math.exp(-max(min(z * router.get("scale", 1.0), 30), -30)))


def write(model, router, scale):
    w, b = model
    with open(PROFILES, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"(?m)^threshold = .*$", f"threshold = {round(-b, 2)}", text, count=1)
    text = re.sub(r"(?m)^scale = .*$", f"scale = {scale:.2f}", text, count=1)

    def block(name):
        return re.compile(r"(?ms)^\[router\.rules\.%s\]\n.*?(?=^\[|\Z)" % re.escape(name))

    for name in router["rules"]:
        weight = round(abs(w.get(name, 0.0)), 2)
        m = block(name).search(text)
        body = re.sub(r"(?m)^weight = .*$", f"weight = {weight}", m.group(0), count=1)
        text = text[:m.start()] + body + text[m.end():]
    sig = re.compile(r"(?ms)^\[router\.signals\]\n.*?(?=^\[)")
    m = sig.search(text)
    body = m.group(0)
    for name in SIGNALS:
        value = round(w.get("signal:" + name, 0.0), 2)
        body = re.sub(r"(?m)^%s = .*$" % name, f"{name} = {value}", body, count=1)
    text = text[:m.start()] + body + text[m.end():]
    with open(PROFILES, "w", encoding="utf-8") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/codex-wrap")
    ap.add_argument("--l2", type=float, default=None, help="default: chosen by CV")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--ngrams", action="store_true", help="also cross-validate with n-grams")
    ap.add_argument("--prior", action="store_true",
                    help="start from the hand-set weights (scripts/router_prior.toml) and "
                         "shrink towards them")
    ap.add_argument("--api-weight", type=float, default=1.0,
                    help="weight of an api prompt sent local relative to the reverse error")
    ap.add_argument("--miss", action="store_true",
                    help="list each left-out set's misses (leave-one-set-out)")
    ap.add_argument("--features", help="cache of the extracted features: read it when it "
                    "was made from the same binary, rules and sets, else write it")
    ap.add_argument("sets", nargs="+")
    args = ap.parse_args()
    with open(PROFILES, "rb") as f:
        router = tomllib.load(f)["router"]
    sides = feature_names(router)
    if args.prior:
        global PRIOR
        with open(os.path.join(HERE, "router_prior.toml"), "rb") as f:
            prior = tomllib.load(f)
        w0 = {k: prior["rules"].get(k, 0.0) * side for k, side in sides.items()
              if k in router["rules"]}
        for name in SIGNALS:
            w0["signal:" + name] = prior["signals"].get(name, 0.0)
        PRIOR = (w0, -prior["threshold"])
    global API_WEIGHT
    API_WEIGHT = args.api_weight
    data = []
    key = None
    if args.features:
        h = hashlib.sha256()
        with open(args.bin, "rb") as f:
            h.update(f.read())
        h.update(json.dumps(router["rules"], sort_keys=True).encode())
        for path in args.sets:
            with open(path, "rb") as f:
                h.update(f.read())
        key = h.hexdigest()
        try:
            with open(args.features, encoding="utf-8") as f:
                cached = json.load(f)
            if cached["key"] == key:
                data = cached["data"]
        except (OSError, ValueError, KeyError):
            pass
    if not data:
        for path in args.sets:
            items = load(path)
            xs = extract(os.path.abspath(args.bin), router, [it["prompt"] for it in items])
            for it, x in zip(items, xs):
                data.append({"set": os.path.basename(path), "y": int(it["route"] == "api"),
                             "x": x, "ng": ngrams(it["prompt"]), "prompt": it["prompt"]})
        if key:
            with open(args.features, "w", encoding="utf-8") as f:
                json.dump({"key": key, "data": data}, f)
    names = sorted({d["set"] for d in data})

    print("## the weights in profiles.toml as they are")
    for s in names:
        t = Tally()
        for d in data:
            if d["set"] == s:
                t.add(d["y"], *hand_set(router, d))
        print(f"{s:24} {t.line()}")

    grid = [args.l2] if args.l2 is not None else [0.0003, 0.001, 0.003, 0.01, 0.03]
    best = None
    print("\n## 10-fold cross-validation over all sets (choosing the L2 strength)")
    for l2 in grid:
        pooled, per_set = cross_validate(data, sides, l2)
        print(f"l2={l2:<7} {pooled.line()}")
        if best is None or pooled.ok > best[1].ok:
            best = (l2, pooled, per_set)
    l2, pooled, per_set = best
    print(f"\n## 10-fold CV, l2={l2}: pooled {pooled.line()}")
    for s in names:
        print(f"{s:24} {per_set[s].line()}")
    print("\npooled out-of-fold confusion and calibration:\n" + pooled.tables())
    scale = fit_scale(pooled.zs)
    recal = Tally()
    for y, z in pooled.zs:
        recal.add(y, z, 1 / (1 + math.exp(-max(min(scale * z, 30), -30))))
    print(f"\nconfidence scale fitted on the out-of-fold scores: {scale:.2f}; calibration with it:")
    print(recal.tables().split("\n\n")[1])

    print("\n## leave one set out (train on the others, score the one left out)")
    loso = {}
    for s in names:
        tr = [d for d in data if d["set"] != s]
        model = train([d["x"] for d in tr], [d["y"] for d in tr], sides, l2)
        t = Tally()
        for d in data:
            if d["set"] == s:
                z, p = predict(model, d["x"])
                t.add(d["y"], z, p)
                if args.miss and (z >= 0) != bool(d["y"]):
                    want = "api" if d["y"] else "local"
                    print(f"  want {want} z={z:+.2f} {d['prompt'][:100]!r} {sorted(d['x'])}")
        print(f"{s:24} {t.line()}")
        print(t.tables())
        loso[s] = t
    accs = [100 * t.ok / t.n for t in loso.values()]
    print(f"\nleave-one-set-out route agreement: min {min(accs):.1f}%, max {max(accs):.1f}%, "
          f"spread {max(accs) - min(accs):.1f} points")
    print("| set left out | n | route | api->local | local->api |")
    print("|---|---|---|---|---|")
    for s, t in loso.items():
        api = t.conf[(1, 0)] + t.conf[(1, 1)]
        local = t.conf[(0, 0)] + t.conf[(0, 1)]
        print(f"| {s} | {t.n} | {100 * t.ok / t.n:.1f}% | "
              f"{100 * t.conf[(1, 0)] / max(api, 1):.1f}% ({t.conf[(1, 0)]}/{api}) | "
              f"{100 * t.conf[(0, 1)] / max(local, 1):.1f}% ({t.conf[(0, 1)]}/{local}) |")

    if args.ngrams:
        print("\n## with hashed word uni+bigrams (4096 buckets), 10-fold CV")
        for ng_l2 in (0.003, 0.01, 0.03):
            pooled, _ = cross_validate(data, sides, ng_l2, extra=True)
            print(f"l2={ng_l2:<7} {pooled.line()}")

    model = train([d["x"] for d in data], [d["y"] for d in data], sides, l2)
    t = Tally()
    for d in data:
        t.add(d["y"], *predict(model, d["x"]))
    print(f"\n## trained on everything (l2={l2}), scored on the same: {t.line()}")
    w, b = model
    print(f"threshold = {-b:.2f}")
    for k in sorted(w, key=lambda k: -abs(w[k])):
        print(f"  {k:28} {w[k]:+.2f}")
    if args.write:
        write(model, router, scale)
        print("\nwrote the weights into profiles.toml")


if __name__ == "__main__":
    main()
