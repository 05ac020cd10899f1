"""Serving: a lab endpoint on Ray Serve against `mlflow models serve` on the same registered
model, both driven by ApacheBench (`ab -k`) with a one-row JSON request.

    python benchmarks/serving_throughput.py [--requests 3000] [--seconds 20] [--reuse-head F]

Needs `ab` (Debian: apt-get install -y apache2-utils). Starts its own Ray head in a temp
project and stops it at the end. Prints, each as a ratio or a figure:
- throughput at 32 clients, lab / mlflow (goal >= 2);
- p50 latency at 1 client, lab / mlflow (goal <= 1.5);
- the canary split's added cost per request (goal <= 0.1 ms);
- set-weight, promote and rollback under 32-client load: time until the endpoint answers
  with the new revision (goal <= 2 s) and failed requests (goal 0);
- the prediction log's throughput cost (goal <= 5%);
- Ray Serve options measured on the same endpoint (batch size, max_ongoing_requests).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

FEATURES = ["amount", "spend_7d", "txn_count_7d", "avg_amount_7d", "max_amount_7d"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ab(url: str, body: Path, clients: int, requests: int = 0, seconds: int = 0) -> dict[str, Any]:
    """Run ApacheBench; returns req/s, p50 ms (from its CSV percentiles) and failures."""
    percentiles = body.with_suffix(f".{clients}.csv")
    command = ["ab", "-k", "-q", "-c", str(clients), "-p", str(body), "-T", "application/json"]
    command += ["-t", str(seconds), "-n", "10000000"] if seconds else ["-n", str(requests)]
    command += ["-e", str(percentiles), url]
    out = subprocess.run(command, capture_output=True, text=True, check=False).stdout

    def number(pattern: str) -> float:
        match = re.search(pattern, out)
        return float(match.group(1)) if match else 0.0

    p50 = 0.0
    if percentiles.exists():
        with percentiles.open() as handle:
            for row in csv.reader(handle):
                if row and row[0] == "50":
                    p50 = float(row[1])
    return {
        "rps": number(r"Requests per second:\s+([\d.]+)"),
        "p50_ms": p50,
        "mean_ms": number(r"Time per request:\s+([\d.]+) \[ms\] \(mean\)"),
        "complete": int(number(r"Complete requests:\s+(\d+)")),
        "failed": int(number(r"Failed requests:\s+(\d+)") + number(r"Non-2xx responses:\s+(\d+)")),
    }


def wait_http(url: str, body: bytes, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(
                url, data=body, headers={"Content-Type": "application/json"}
            )
            urllib.request.urlopen(request, timeout=5).read()
            return
        except Exception:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


def build_project(root: Path) -> Any:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import mlops_lab

    lab = mlops_lab.connect(root)
    lab.init()
    toml = root / "mlops.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(text.replace("# http_port = 8000", f"http_port = {free_port()}"), "utf-8")
    lab = mlops_lab.connect(root)
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.gamma(2.0, 50.0, (2000, len(FEATURES))), columns=FEATURES)
    y = (x["amount"] > 150).astype(int)
    for alias in ("champion", "challenger"):
        with lab.tracking.start_run(alias) as run:
            model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y)
            run.log_model(model, input_example=x.head(2))
        lab.models.register(run, "fraud", alias=alias)
    return lab


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per ab run")
    parser.add_argument("--seconds", type=int, default=20, help="load length for changes")
    parser.add_argument(
        "--reuse-head", default=None, help="head.json of a running lab Ray head to use (kept up)"
    )
    args = parser.parse_args()
    if shutil.which("ab") is None:
        print("needs ApacheBench: apt-get install -y apache2-utils", file=sys.stderr)
        return 2

    import mlops_lab

    root = Path(tempfile.mkdtemp(prefix="mlops-bench-serving-"))
    mlflow_server: subprocess.Popen[bytes] | None = None
    lab = None
    try:
        lab = build_project(root)
        if args.reuse_head:
            (root / ".mlops" / "ray").mkdir(parents=True, exist_ok=True)
            shutil.copy(args.reuse_head, root / ".mlops" / "ray" / "head.json")
        body = root / "row.json"
        row = {"dataframe_split": {"columns": FEATURES, "data": [[120.0, 300.0, 4.0, 60.0, 90.0]]}}
        body.write_text(json.dumps(row))

        # the peer: mlflow models serve (uvicorn), same registered model, same machine
        port = free_port()
        bin_dir = str(Path(sys.executable).parent)  # mlflow runs `uvicorn` from PATH
        env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": lab.tracking.uri,
            "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        }
        server_log = (root / "mlflow-serve.log").open("wb")
        mlflow_server = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/fraud/1",
             "--env-manager", "local", "-p", str(port), "-h", "127.0.0.1"],
            env=env, stdout=server_log, stderr=subprocess.STDOUT, cwd=root,
        )  # fmt: skip
        peer = f"http://127.0.0.1:{port}/invocations"
        try:
            wait_http(peer, body.read_bytes(), timeout=300)
        except RuntimeError:
            print((root / "mlflow-serve.log").read_text()[-2000:], file=sys.stderr)
            raise

        lab.serving.deploy("fraud@champion", endpoint="bench")
        ours = lab.serving.url("bench") + "/invocations"
        wait_http(ours, body.read_bytes())
        for url in (peer, ours):  # warm up
            ab(url, body, 8, requests=500)

        results: dict[str, dict[str, Any]] = {}
        for clients in (1, 32):
            results[f"mlflow@{clients}"] = ab(peer, body, clients, args.requests)
            results[f"lab@{clients}"] = ab(ours, body, clients, args.requests)
        for name, r in results.items():
            print(f"{name:>10}: {r['rps']:8.1f} req/s  p50 {r['p50_ms']:6.2f} ms  "
                  f"failed {r['failed']}")  # fmt: skip
        tput = results["lab@32"]["rps"] / results["mlflow@32"]["rps"]
        p50 = results["lab@1"]["p50_ms"] / max(results["mlflow@1"]["p50_ms"], 1e-9)
        print(f"throughput at 32 clients, lab/mlflow: {tput:.2f}x (goal >= 2)")
        print(f"p50 at 1 client, lab/mlflow: {p50:.2f}x (goal <= 1.5)")

        # the canary split: same endpoint with a canary at 50% (the challenger)
        plain = [ab(ours, body, 1, args.requests)["mean_ms"] for _ in range(2)]
        lab.serving.deploy("fraud@challenger", endpoint="bench", canary=50)
        split = [ab(ours, body, 1, args.requests)["mean_ms"] for _ in range(2)]
        print(f"canary split added cost per request: {min(split) - min(plain):+.3f} ms "
              "(mean latency at 1 client, best of 2; goal <= 0.1 ms)")  # fmt: skip

        # changes under 32-client load
        load: dict[str, Any] = {}
        runner = threading.Thread(
            target=lambda: load.update(ab(ours, body, 32, seconds=args.seconds))
        )
        runner.start()
        time.sleep(2)
        for name, change in (
            ("set-weight 90", lambda: lab.serving.set_weight("bench", 90)),
            ("promote", lambda: lab.serving.promote("bench")),
            ("rollback", lambda: lab.serving.rollback("bench")),
        ):
            started = time.perf_counter()
            change()  # returns once the endpoint answers with the new revision
            print(f"{name}: in effect after {time.perf_counter() - started:.2f} s (goal <= 2 s)")
            time.sleep(2)
        runner.join()
        print(f"during the changes: {load.get('complete')} requests, {load.get('failed')} failed "
              "(goal 0)")  # fmt: skip

        # the prediction log's cost: the same model on an endpoint that does not log
        os.environ["MLOPS_SERVING_PREDICTION_LOG"] = "false"
        nolog_lab = mlops_lab.connect(root)
        nolog_lab.serving.deploy("fraud@champion", endpoint="bench-nolog")
        del os.environ["MLOPS_SERVING_PREDICTION_LOG"]
        nolog = nolog_lab.serving.url("bench-nolog") + "/invocations"
        ab(nolog, body, 8, requests=500)
        logged = [ab(ours, body, 32, args.requests)["rps"] for _ in range(2)]
        unlogged = [ab(nolog, body, 32, args.requests)["rps"] for _ in range(2)]
        cost = 1 - max(logged) / max(unlogged)
        print(f"prediction log: {max(logged):.1f} vs {max(unlogged):.1f} req/s without it: "
              f"{cost:.1%} of throughput (goal <= 5%)")  # fmt: skip

        # Ray Serve options on the same endpoint: batch size 1 (no batching)
        os.environ["MLOPS_SERVING_MAX_BATCH_SIZE"] = "1"
        unbatched_lab = mlops_lab.connect(root)
        unbatched_lab.serving.deploy("fraud@champion", endpoint="bench-nobatch")
        del os.environ["MLOPS_SERVING_MAX_BATCH_SIZE"]
        unbatched = unbatched_lab.serving.url("bench-nobatch") + "/invocations"
        ab(unbatched, body, 8, requests=500)
        print(f"max_batch_size 1 at 32 clients: {ab(unbatched, body, 32, args.requests)['rps']:.1f}"
              f" req/s (batched: {max(logged):.1f})")  # fmt: skip
    finally:
        if mlflow_server is not None:
            mlflow_server.terminate()
            mlflow_server.wait(10)
        if lab is not None and not args.reuse_head:
            lab.training.down()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
