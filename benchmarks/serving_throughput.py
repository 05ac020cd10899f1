"""Serving: a lab endpoint on Ray Serve against `mlflow models serve` on the same registered
model, both driven by ApacheBench (`ab -k`) with a one-row JSON request.

    python benchmarks/serving_throughput.py [--requests 2000] [--seconds 20]
        [--ingress haproxy,proxy,direct] [--skip-changes]

Needs `ab` (Debian: apt-get install -y apache2-utils). Starts its own Ray head per ingress in
a temp project and stops it at the end. mlflow is measured right before each configuration,
so every ratio compares runs minutes apart on the same machine. Prints:
- a table of every configuration: req/s at 1 and 32 clients, p50 at 1 client, and the
  ratios to mlflow (goals: throughput at 32 clients >= 2x, p50 at 1 client <= 1.5x);
- where the CPU goes at 32 clients: CPU ms per request by process group (replica, Serve
  proxy or HAProxy manager actor, HAProxy, the rest of Ray; mlflow's server for the peer;
  ab exits before it is counted) and, with --profile, py-spy's view inside the replica and
  the proxy actor;
- for each ingress, a plain Ray Serve deployment answering a fixed body (no model, no
  application code): the bound Ray Serve itself puts on this machine;
- set-weight, promote and rollback under 32-client load: when the endpoint first answers
  with the new revision and when the call returns (goal <= 2 s), and failed requests (goal 0).
The prediction log's and the canary split's costs: benchmarks/serving_costs.py.

Ingresses: "haproxy" and "proxy" are `[serving] ingress`; "direct" is Ray Serve's direct
ingress without HAProxy, the client sent straight to the replica's own HTTP port (not a
product setting: that port changes with each replica; shown as the floor HAProxy adds to).
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

FEATURES = ["amount", "spend_7d", "txn_count_7d", "avg_amount_7d", "max_amount_7d"]
SUPPORT = Path(__file__).resolve().parent / "serving_support"
OPTIONS = (  # measured on the first ingress, each on its own endpoint
    ("max_batch_size 1 (no batching)", {"MLOPS_SERVING_MAX_BATCH_SIZE": "1"}),
    ("batch_wait_timeout_s 0.002", {"MLOPS_SERVING_BATCH_WAIT_TIMEOUT_S": "0.002"}),
    ("2 replicas", {"MLOPS_SERVING_REPLICAS": "2"}),
)
SETTINGS = (  # environment variables a configuration sets, cleared between configurations
    "MLOPS_SERVING_INGRESS", "MLOPS_SERVING_MAX_BATCH_SIZE", "MLOPS_SERVING_REPLICAS",
    "MLOPS_SERVING_PREDICTION_LOG", "MLOPS_SERVING_BATCH_WAIT_TIMEOUT_S",
    "RAY_SERVE_ENABLE_DIRECT_INGRESS",
)  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def ab(url: str, body: Path, clients: int, requests: int = 0, seconds: int = 0) -> dict[str, Any]:
    """Run ApacheBench; returns req/s, p50 ms (from its CSV percentiles) and failures."""
    percentiles = body.with_suffix(f".{clients}.csv")
    percentiles.unlink(missing_ok=True)
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


# --- where the CPU goes ---------------------------------------------------------------------


def process_group(cmdline: str) -> str:
    for marker, group in (
        ("ServeReplica", "replica"), ("ProxyActor", "serve proxy"), ("HAProxyManager", "serve proxy"),
        ("haproxy", "haproxy"),
        ("mlflow", "mlflow server"), ("uvicorn", "mlflow server"),
        ("ray", "ray (other)"), ("raylet", "ray (other)"), ("gcs_server", "ray (other)"),
    ):  # fmt: skip
        if marker in cmdline:
            return group
    return "other"


def cpu_by_group() -> dict[str, float]:
    import psutil

    total: dict[str, float] = {}
    for proc in psutil.process_iter(["cmdline", "cpu_times"]):
        times = proc.info["cpu_times"]
        if times is None:
            continue
        group = process_group(" ".join(proc.info["cmdline"] or []) + " ")
        total[group] = total.get(group, 0.0) + times.user + times.system
    return total


def ab_with_cpu(url: str, body: Path, clients: int, requests: int) -> dict[str, Any]:
    """ab, plus CPU ms per request of each process group during the run."""
    before = cpu_by_group()
    result = ab(url, body, clients, requests)
    after = cpu_by_group()
    done = max(result["complete"], 1)
    result["cpu_ms"] = {
        g: (after[g] - before.get(g, 0.0)) * 1000 / done
        for g in after
        if after[g] - before.get(g, 0.0) > 0.01 and g != "other"
    }
    return result


# --- where the time goes inside a process (py-spy) --------------------------------------------

CATEGORIES = (  # (label, substring of a frame) for inclusive shares of the samples
    ("mlops_lab app code", "mlops_lab/backends/serving"),
    ("model predict (mlflow pyfunc + sklearn)", "pyfunc/__init__.py"),
    ("pandas", "pandas/"),
    ("Ray metrics", "util/metrics.py"),
    ("Ray Serve replica machinery", "serve/_private/replica.py"),
    ("Ray Serve batching", "serve/batching.py"),
    ("Ray Serve router", "serve/_private/router.py"),
    ("Ray Serve proxy", "serve/_private/proxy.py"),
    ("uvicorn HTTP", "uvicorn/"),
    ("starlette", "starlette/"),
    ("json", "json/"),
)


def start_profile(pids: dict[str, int], seconds: int, folder: Path) -> list[Any]:
    """py-spy on each process for ``seconds`` (raw stacks, read by ``print_profile``)."""
    spy = Path(sys.executable).parent / "py-spy"
    if not spy.exists():
        return []
    return [
        (name, folder / f"{name}.txt", subprocess.Popen(
            [str(spy), "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "250",
             "--format", "raw", "--nonblocking", "--output", str(folder / f"{name}.txt")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))
        for name, pid in pids.items()
    ]  # fmt: skip


def print_profile(runs: list[Any]) -> None:
    for name, path, process in runs:
        process.wait(60)
        stacks: list[tuple[str, int]] = []
        if path.exists():
            for line in path.read_text().splitlines():
                stack, _, count = line.rpartition(" ")
                if count.isdigit():
                    stacks.append((stack, int(count)))
        total = sum(c for _, c in stacks) or 1
        busy = sum(c for s, c in stacks if "select" not in s.rsplit(";", 1)[-1]
                   and "epoll" not in s.rsplit(";", 1)[-1]) or 1  # fmt: skip
        shares = []
        for label, marker in CATEGORIES:
            n = sum(c for s, c in stacks if marker in s)
            if n:
                shares.append(f"{label} {n / busy:.0%}")
        leaves: dict[str, int] = {}
        for stack, count in stacks:
            leaf = stack.rsplit(";", 1)[-1]
            leaves[leaf] = leaves.get(leaf, 0) + count
        top = sorted(leaves.items(), key=lambda kv: -kv[1])[:8]
        print(
            f"    py-spy {name}: {busy / total:.0%} of samples busy; of busy: {', '.join(shares)}"
        )
        for leaf, count in top:
            print(f"        {count / total:5.1%} {leaf[:110]}")


def serve_pids(lab: Any, endpoint: str) -> dict[str, int]:
    """The replica's and the Serve proxy's process ids."""
    import psutil

    pids: dict[str, int] = {}
    app = lab.serving.backend().instance()["applications"][endpoint]
    for deployment in app["deployments"].values():
        for replica in deployment.get("replicas") or []:
            pids.setdefault("replica", int(replica["pid"]))
    for proc in psutil.process_iter(["cmdline"]):
        line = " ".join(proc.info["cmdline"] or [])
        if "ray::ProxyActor" in line or "ray::HAProxyManager" in line:
            pids["proxy"] = proc.pid
    return pids


# --- the project, the peer and the endpoints ------------------------------------------------


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


def start_mlflow(lab: Any, root: Path, body: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The peer: mlflow models serve (uvicorn), same registered model, same machine."""
    port = free_port()
    bin_dir = str(Path(sys.executable).parent)  # mlflow runs `uvicorn` from PATH
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": lab.tracking.uri,
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
    }
    server_log = (root / "mlflow-serve.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/fraud/1",
         "--env-manager", "local", "-p", str(port), "-h", "127.0.0.1"],
        env=env, stdout=server_log, stderr=subprocess.STDOUT, cwd=root,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/invocations"
    try:
        wait_http(url, body.read_bytes(), timeout=300)
    except RuntimeError:
        print((root / "mlflow-serve.log").read_text()[-2000:], file=sys.stderr)
        raise
    return server, url


def connect(root: Path, settings: dict[str, str]) -> Any:
    """The project's lab with these settings (environment variables) in force."""
    import mlops_lab

    for key in SETTINGS:
        os.environ.pop(key, None)
    os.environ.update(settings)
    return mlops_lab.connect(root)


class PlainApp:
    """The hello deployment as one application of the Serve config (what ServeApp renders)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.route_prefix = f"/{name}"

    def application(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "route_prefix": self.route_prefix,
            "import_path": "hello:app",
            "runtime_env": {"env_vars": {"PYTHONPATH": str(SUPPORT)}},
            "deployments": [{"name": "Hello", "ray_actor_options": {"num_cpus": 0}}],
        }


def start_head(lab: Any, attempts: int = 3) -> None:
    """The lab's head; `ray start` can time out on a busy 2-core machine, so try again."""
    from mlops_lab.errors import LabError

    for attempt in range(attempts):
        try:
            lab.training.up()
            return
        except LabError as exc:
            print(f"head start failed ({exc}); {load()}", flush=True)
            if attempt + 1 == attempts:
                raise
            time.sleep(10)


def deploy_plain(lab: Any, name: str) -> str:
    backend = lab.serving.backend()
    backend.apply(name, PlainApp(name))
    return str(backend.wait_running(name, timeout=300)["url"])


def direct_url(lab: Any, endpoint: str, path: str) -> str:
    """The replica's own HTTP port (Serve's direct ingress), found from its process."""
    import psutil

    details = lab.serving.backend().instance()
    app = details["applications"][endpoint]
    for deployment in app["deployments"].values():
        for replica in deployment.get("replicas") or []:
            for conn in psutil.Process(replica["pid"]).net_connections("tcp"):
                if conn.status == "LISTEN" and 30000 <= conn.laddr.port <= 31000:
                    return f"http://127.0.0.1:{conn.laddr.port}{path}"
    raise RuntimeError(f"no direct-ingress port found for {endpoint}")


# --- measurements -----------------------------------------------------------------------------


def compare(
    name: str, url: str, peer: str, body: Path, requests: int, profile: dict[str, int] | None = None
) -> dict[str, Any]:
    """One configuration against mlflow, measured back to back at 1 and 32 clients; with
    ``profile`` (process ids) py-spy samples those processes during the 32-client run."""
    ab(url, body, 8, requests=300)  # warm up
    row: dict[str, Any] = {"config": name, "load": load()}
    spies: list[Any] = []
    for clients in (1, 32):
        row[f"mlflow@{clients}"] = ab_with_cpu(peer, body, clients, requests)
        if profile and clients == 32:
            spies = start_profile(profile, 5, body.parent)
        row[f"lab@{clients}"] = ab_with_cpu(url, body, clients, requests)
    lab32, mlf32 = row["lab@32"], row["mlflow@32"]
    row["tput_ratio"] = lab32["rps"] / max(mlf32["rps"], 1e-9)
    row["p50_ratio"] = row["lab@1"]["p50_ms"] / max(row["mlflow@1"]["p50_ms"], 1e-9)
    cpu = lambda r: ", ".join(f"{g} {v:.2f}" for g, v in sorted(r["cpu_ms"].items()))  # noqa: E731
    print(
        f"{name}: {lab32['rps']:.0f} req/s at 32 ({row['tput_ratio']:.2f}x mlflow "
        f"{mlf32['rps']:.0f}), p50 {row['lab@1']['p50_ms']:.1f} ms at 1 "
        f"({row['p50_ratio']:.2f}x mlflow {row['mlflow@1']['p50_ms']:.1f}); "
        f"failed {lab32['failed'] + row['lab@1']['failed']}; {row['load']}\n"
        f"    CPU ms/request at 32: {cpu(lab32)}\n    mlflow: {cpu(mlf32)}",
        flush=True,
    )
    print_profile(spies)
    return row


def print_table(rows: list[dict[str, Any]]) -> None:
    print("\nconfiguration                         req/s@1  req/s@32  p50@1 ms |"
          " mlflow req/s@1 req/s@32 p50@1 | 32-client x  p50 x | load (1/5/15 min)")  # fmt: skip
    for r in rows:
        lab1, lab32, m1, m32 = r["lab@1"], r["lab@32"], r["mlflow@1"], r["mlflow@32"]
        print(
            f"{r['config']:<37} {lab1['rps']:7.0f} {lab32['rps']:9.0f} {lab1['p50_ms']:8.1f} |"
            f" {m1['rps']:14.0f} {m32['rps']:8.0f} {m1['p50_ms']:5.1f} |"
            f" {r['tput_ratio']:10.2f} {r['p50_ratio']:6.2f} | {r['load'][5:]}"
        )


def changes_under_load(lab: Any, url: str, body: Path, seconds: int) -> None:
    """set-weight, promote and rollback while 32 clients send requests: when the endpoint
    first answers with the new revision (a poller on -/status) and when the call returns."""
    load_result: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: load_result.update(ab(url, body, 32, seconds=seconds)))
    runner.start()
    time.sleep(2)
    status_url = url.rsplit("/", 1)[0] + "/-/revision"

    def served_revision() -> int | None:
        try:
            with urllib.request.urlopen(status_url, timeout=5) as response:
                return int(json.loads(response.read())["revision"])
        except Exception:
            return None

    steps: list[tuple[str, Callable[[], Any]]] = [
        ("set-weight 90", lambda: lab.serving.set_weight("bench", 90)),
        ("promote", lambda: lab.serving.promote("bench")),
        ("rollback", lambda: lab.serving.rollback("bench")),
    ]
    for name, change in steps:
        target = (served_revision() or 0) + 1
        seen: list[float] = []
        started = time.perf_counter()

        def poll(target: int = target, started: float = started, seen: list[float] = seen) -> None:
            while time.perf_counter() - started < 30:
                if (served_revision() or 0) >= target:
                    seen.append(time.perf_counter() - started)
                    return
                time.sleep(0.02)

        poller = threading.Thread(target=poll)
        poller.start()
        change()
        returned = time.perf_counter() - started
        poller.join()
        effect = f"{seen[0]:.2f} s" if seen else "not seen"
        print(f"{name}: served after {effect}, call returned after {returned:.2f} s "
              f"(goal <= 2 s); {load()}", flush=True)  # fmt: skip
        time.sleep(2)
    runner.join()
    print(f"during the changes: {load_result.get('complete')} requests, "
          f"{load_result.get('failed')} failed (goal 0)", flush=True)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per ab run")
    parser.add_argument("--seconds", type=int, default=20, help="load length for changes")
    parser.add_argument("--ingress", default="haproxy,proxy,direct", help="ingresses to measure")
    parser.add_argument("--skip-changes", action="store_true", help="only the throughput table")
    parser.add_argument("--profile", action="store_true", help="py-spy the replica and proxy")
    parser.add_argument(
        "--options", default="max_batch_size,batch_wait,2 replicas",
        help="Serve options to measure on the first ingress (names' beginnings)",
    )  # fmt: skip
    args = parser.parse_args()
    if shutil.which("ab") is None:
        print("needs ApacheBench: apt-get install -y apache2-utils", file=sys.stderr)
        return 2
    ingresses = [i.strip() for i in args.ingress.split(",") if i.strip()]

    root = Path(tempfile.mkdtemp(prefix="mlops-bench-serving-"))
    mlflow_server: subprocess.Popen[bytes] | None = None
    lab = None
    rows: list[dict[str, Any]] = []
    print(f"start: {load()}, {os.cpu_count()} CPUs", flush=True)
    try:
        lab = build_project(root)
        body = root / "row.json"
        row = {"dataframe_split": {"columns": FEATURES, "data": [[120.0, 300.0, 4.0, 60.0, 90.0]]}}
        body.write_text(json.dumps(row))
        mlflow_server, peer = start_mlflow(lab, root, body)

        for index, ingress in enumerate(ingresses):
            direct = ingress == "direct"
            settings = {"MLOPS_SERVING_INGRESS": "proxy" if direct else ingress}
            if direct:
                settings["RAY_SERVE_ENABLE_DIRECT_INGRESS"] = "1"
            lab = connect(root, settings)
            if index:  # the endpoint is recorded as live: undeploy it before the head goes
                lab.serving.undeploy("bench")
            lab.training.down()  # a fresh head: Serve reads its ingress settings at start
            start_head(lab)
            path = "/invocations"
            hello = deploy_plain(lab, "hello")
            hello_url = direct_url(lab, "hello", "/") if direct else hello + "/"
            rows.append(compare(f"{ingress}: plain Serve (fixed body)", hello_url, peer, body,
                                args.requests))  # fmt: skip
            lab.serving.backend().delete("hello")
            lab.serving.deploy("fraud@champion", endpoint="bench")
            url = lab.serving.url("bench") + path
            if direct:
                url = direct_url(lab, "bench", path)
            wait_http(url, body.read_bytes())
            pids = serve_pids(lab, "bench") if args.profile else None
            rows.append(compare(f"{ingress}: lab endpoint", url, peer, body, args.requests, pids))
            if index:
                continue
            # Serve options on the first ingress, each on its own endpoint
            for name, extra in OPTIONS:
                if not any(name.startswith(o) for o in args.options.split(",")):
                    continue
                other = connect(root, {**settings, **extra})
                other.serving.deploy("fraud@champion", endpoint="bench-option")
                option_url = other.serving.url("bench-option") + path
                wait_http(option_url, body.read_bytes())
                rows.append(compare(f"{ingress}: {name}", option_url, peer, body, args.requests))
                other.serving.undeploy("bench-option")
            if args.skip_changes:
                continue
            lab.serving.deploy("fraud@challenger", endpoint="bench", canary=10)
            changes_under_load(lab, url, body, args.seconds)
        print_table(rows)
    finally:
        if mlflow_server is not None:
            mlflow_server.terminate()
            mlflow_server.wait(10)
        if lab is not None:
            lab.training.down()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
