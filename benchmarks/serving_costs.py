"""Serving costs: what the prediction log and the canary split add to a lab endpoint, each
against the same endpoint without it, side by side on one Ray head (the lab's default
ingress), driven by ApacheBench (`ab -k`) with a one-row JSON request.

    python benchmarks/serving_costs.py [--rounds 4] [--requests 1500]

- prediction log: two endpoints of the same model and settings, one logging every
  prediction and one not; throughput at 32 clients, measured in alternating rounds; prints
  the median cost as a share of throughput (goal <= 5%).
- canary split: fraud/1 alone against fraud/1 with a 10% canary fraud/2 (both versions the
  same pipeline fitted on the same rows); mean latency at 1 client in alternating rounds;
  prints the median added microseconds per request (goal <= 100 us), and the replica's
  routing decision timed in this process (what the split adds to each request's code path).

Needs `ab` (Debian: apt-get install -y apache2-utils). Starts its own Ray head in a temp
project and stops it at the end. Helpers are shared with serving_throughput.py.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

from serving_throughput import FEATURES, ab, build_project, connect, load, start_head, wait_http


def deploy(root: Path, endpoint: str, settings: dict[str, str], canary: bool = False) -> str:
    lab = connect(root, settings)
    lab.serving.deploy("fraud@champion", endpoint=endpoint)
    if canary:
        lab.serving.deploy("fraud@challenger", endpoint=endpoint, canary=10)
    return str(lab.serving.url(endpoint)) + "/invocations"


def alternate(
    urls: tuple[str, str], body: Path, clients: int, requests: int, rounds: int
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(first, second) results per round; the order flips each round so drift cancels."""
    out = []
    for index in range(rounds):
        order = (0, 1) if index % 2 == 0 else (1, 0)
        results: dict[int, dict[str, Any]] = {}
        for which in order:
            results[which] = ab(urls[which], body, clients, requests)
        out.append((results[0], results[1]))
    return out


def routing_cost_us() -> tuple[float, float]:
    """The replica's routing decision (``Endpoint.choose``) per request, in microseconds,
    without and with a 10% canary, on the one-row request the load generator sends."""
    from mlops_lab.backends.serving.app import Endpoint, Route
    from mlops_lab.backends.serving.payload import Rows

    choose = Endpoint.func_or_class.choose
    stable, canary = object(), object()
    rows = Rows(FEATURES, [[120.0, 300.0, 4.0, 60.0, 90.0]])
    plain = Route(1, stable, None, 0, None)  # type: ignore[arg-type]
    split = Route(2, stable, canary, 10, None)  # type: ignore[arg-type]
    n = 200_000
    times = []
    for route in (plain, split):
        best = min(timeit.repeat(lambda r=route: choose(r, rows), number=n, repeat=5))
        times.append(best / n * 1e6)
    return times[0], times[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds per pair")
    parser.add_argument("--requests", type=int, default=1500, help="requests per ab run")
    args = parser.parse_args()
    if shutil.which("ab") is None:
        print("needs ApacheBench: apt-get install -y apache2-utils", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="mlops-bench-costs-"))
    lab = None
    print(f"start: {load()}", flush=True)
    try:
        lab = build_project(root)
        body = root / "row.json"
        row = {"dataframe_split": {"columns": FEATURES, "data": [[120.0, 300.0, 4.0, 60.0, 90.0]]}}
        body.write_text(json.dumps(row))
        lab = connect(root, {})
        start_head(lab)
        print(f"ingress: {lab.config.serving.ingress}", flush=True)
        logged = deploy(root, "logged", {})
        unlogged = deploy(root, "unlogged", {"MLOPS_SERVING_PREDICTION_LOG": "false"})
        split = deploy(root, "split", {}, canary=True)
        for url in (logged, unlogged, split):
            wait_http(url, body.read_bytes())
            ab(url, body, 8, 300)  # warm up

        started = time.monotonic()
        pairs = alternate((logged, unlogged), body, 32, args.requests, args.rounds)
        costs = [1 - on["rps"] / max(off["rps"], 1e-9) for on, off in pairs]
        for index, (on, off) in enumerate(pairs):
            print(f"  round {index + 1}: log on {on['rps']:.1f} req/s, off {off['rps']:.1f} "
                  f"({costs[index]:+.1%}); failed {on['failed'] + off['failed']}")  # fmt: skip
        print(f"prediction log: median cost {statistics.median(costs):.1%} of throughput at 32 "
              f"clients (goal <= 5%); {args.rounds} rounds in {time.monotonic() - started:.0f} s; "
              f"{load()}", flush=True)  # fmt: skip

        pairs = alternate((logged, split), body, 1, args.requests, args.rounds)
        added = [(with_split["mean_ms"] - alone["mean_ms"]) * 1000 for alone, with_split in pairs]
        for index, (alone, with_split) in enumerate(pairs):
            print(f"  round {index + 1}: fraud/1 alone {alone['mean_ms'] * 1000:.0f} us, "
                  f"10% canary {with_split['mean_ms'] * 1000:.0f} us ({added[index]:+.0f} us)")  # fmt: skip
        print(f"canary split: median {statistics.median(added):+.0f} us per request at 1 client "
              f"(goal <= 100 us); {load()}", flush=True)  # fmt: skip
        alone_us, split_us = routing_cost_us()
        print(f"canary split in the replica's code: routing {alone_us:.2f} us alone, "
              f"{split_us:.2f} us with a 10% canary ({split_us - alone_us:+.2f} us)", flush=True)  # fmt: skip
    finally:
        if lab is not None:
            lab.training.down()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
