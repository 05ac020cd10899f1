"""REST overhead of the panel's API: each GET through a real Jupyter server (token auth,
the extension's handler, pydantic response, JSON) against the same service call made
directly in Python, on one project with a data commit and a registered model.

    python benchmarks/server_api.py [--repeat 30]

Prints the median of each route both ways and the ratio of their sums (goal <= 1.5: the
HTTP hop is a few milliseconds against service calls of tens of milliseconds).
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import mlops_lab

    with tempfile.TemporaryDirectory(prefix="mlops-bench-server-") as tmp:
        root = Path(tmp)
        lab = mlops_lab.connect(root)
        lab.init()
        lab.data.write_table(pd.DataFrame({"amount": [1.0, 2.0]}), "tx.parquet")
        lab.data.commit(message="bench")
        x = np.random.default_rng(0).random((20, 2))
        with lab.tracking.start_run("bench") as run:
            run.log_model(LogisticRegression().fit(x, (x[:, 0] > 0.5).astype(int)))
        lab.models.register(run, "bench", alias="champion")

        token = secrets.token_hex(16)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter_server",
                "--no-browser",
                "--allow-root",
                f"--port={port}",
                "--ip=127.0.0.1",
                f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={root}",
                '--ServerApp.jpserver_extensions={"mlops_lab.server": True}',
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "JUPYTER_CONFIG_DIR": str(root / ".jupyter-config")},
        )
        try:
            base = f"http://127.0.0.1:{port}/mlops-lab/api/"

            def get(path: str) -> Callable[[], object]:
                def call() -> object:
                    request = urllib.request.Request(
                        base + path, headers={"Authorization": f"token {token}"}
                    )
                    with urllib.request.urlopen(request, timeout=30) as response:
                        return response.read()

                return call

            for _ in range(100):
                try:
                    get("data/branches")()
                    break
                except OSError:
                    time.sleep(0.3)
            cases = [
                ("data/branches", get("data/branches"), lambda: lab.data.branches()),
                ("data/log", get("data/log?limit=20"), lambda: lab.data.log(None, None, 20)),
                ("models", get("models"), lambda: lab.models.list()),
                (
                    "models/bench/versions",
                    get("models/bench/versions"),
                    lambda: lab.models.versions("bench"),
                ),
                ("runs", get("runs?limit=20"), lambda: lab.tracking.runs(None, 20)),
            ]
            total_rest = total_direct = 0.0
            for name, rest, direct in cases:
                rest()
                direct()  # warm both: imports, MLflow store, caches
                rest_t = statistics.median(timed(rest) for _ in range(args.repeat))
                direct_t = statistics.median(timed(direct) for _ in range(args.repeat))
                total_rest += rest_t
                total_direct += direct_t
                print(f"{name:24s} rest {rest_t * 1000:8.2f} ms   direct {direct_t * 1000:8.2f} ms")
        finally:
            server.terminate()
            server.wait(timeout=20)
    ratio = total_rest / total_direct
    print(f"ratio rest/direct = {ratio:.2f} (goal <= 1.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
