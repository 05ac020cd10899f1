"""The same small job through the lab vs through Ray's JobSubmissionClient, on one warm head.

Measures, from the submit call: time to RUNNING, to the first reported step (the first
``[mlops] metrics`` line in the job's logs), and to the end. Two jobs: a light one (plain
Python printing 5 steps) and a tiny Ray Train job (TorchTrainer, 2 CPU workers, 3 epochs).

The lab's job also opens an MLflow run stamped with lineage and logs the metrics to it, so
there are two peers: ``raw`` (the bare script) and ``raw+mlflow`` (the script doing the
same tracking by hand: one MLflow run in the driver, metrics logged from rank 0).

    python benchmarks/training_submit.py [--reps 3] [--torch-reps 1]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

LIGHT = """
import json, time
for step in range(5):
    time.sleep(0.2)
    print("[mlops] metrics " + json.dumps({"step": step}), flush=True)
"""

TORCH_LAB = """
import torch
from mlops_lab import train_helpers as th

def loop(config):
    model = th.prepare_model(torch.nn.Linear(4, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(64, 4); y = x.sum(1, keepdim=True)
    for epoch in range(3):
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad(); loss.backward(); opt.step()
        th.report({"epoch": epoch, "loss": loss.item()})

th.fit_torch(loop)
"""

LIGHT_MLFLOW = """
import json, os, time
import mlflow
mlflow.set_tracking_uri(os.environ["BENCH_TRACKING_URI"])
with mlflow.start_run():
    for step in range(5):
        time.sleep(0.2)
        print("[mlops] metrics " + json.dumps({"step": step}), flush=True)
        mlflow.log_metric("step", step, step=step)
"""

TORCH_RAW = """
import json, tempfile
import torch
import ray.train
from ray.train.torch import TorchTrainer, prepare_model

def loop(config):
    model = prepare_model(torch.nn.Linear(4, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(64, 4); y = x.sum(1, keepdim=True)
    for epoch in range(3):
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad(); loss.backward(); opt.step()
        if ray.train.get_context().get_world_rank() == 0:
            print("[mlops] metrics " + json.dumps({"epoch": epoch, "loss": loss.item()}), flush=True)
        ray.train.report({"epoch": epoch, "loss": loss.item()})

TorchTrainer(loop, scaling_config=ray.train.ScalingConfig(num_workers=2),
             run_config=ray.train.RunConfig(storage_path=tempfile.mkdtemp())).fit()
"""

TORCH_MLFLOW = """
import json, os, tempfile
import mlflow
import torch
import ray.train
from ray.train.torch import TorchTrainer, prepare_model

def loop(config):
    from mlflow import MlflowClient
    client = MlflowClient(config["uri"]) if ray.train.get_context().get_world_rank() == 0 else None
    model = prepare_model(torch.nn.Linear(4, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(64, 4); y = x.sum(1, keepdim=True)
    for epoch in range(3):
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad(); loss.backward(); opt.step()
        if client is not None:
            print("[mlops] metrics " + json.dumps({"epoch": epoch, "loss": loss.item()}), flush=True)
            client.log_metric(config["run_id"], "loss", loss.item(), step=epoch)
        ray.train.report({"epoch": epoch, "loss": loss.item()})

uri = os.environ["BENCH_TRACKING_URI"]
mlflow.set_tracking_uri(uri)
with mlflow.start_run() as run:
    TorchTrainer(loop, train_loop_config={"uri": uri, "run_id": run.info.run_id},
                 scaling_config=ray.train.ScalingConfig(num_workers=2),
                 run_config=ray.train.RunConfig(storage_path=tempfile.mkdtemp())).fit()
"""


def follow(status: Callable[[], str], logs: Callable[[], str], t0: float) -> dict[str, float]:
    marks: dict[str, float] = {}
    while True:
        state = status()
        now = time.perf_counter() - t0
        if state not in ("PENDING", "pending") and "running" not in marks:
            marks["running"] = now
        if "step" not in marks and "[mlops] metrics" in logs():
            marks["step"] = time.perf_counter() - t0
        if state.upper() in ("SUCCEEDED", "FAILED", "STOPPED"):
            if state.upper() != "SUCCEEDED":
                raise SystemExit(f"job ended {state}:\n{logs()[-2000:]}")
            marks["finish"] = now
            marks.setdefault("step", now)
            return marks
        time.sleep(0.1)


def run_lab(lab: Any, script: str) -> dict[str, float]:
    t0 = time.perf_counter()
    job = lab.training.submit(script, name="bench", workers=2)
    return follow(lambda: job.refresh().state, job.logs, t0)


def run_raw(client: Any, script: str, env: dict[str, str] | None = None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "main.py").write_text(script)
        t0 = time.perf_counter()
        job_id = client.submit_job(
            entrypoint="python main.py", runtime_env={"working_dir": tmp, "env_vars": env or {}}
        )
    return follow(
        lambda: str(client.get_job_status(job_id).value),
        lambda: str(client.get_job_logs(job_id)),
        t0,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--torch-reps", type=int, default=1)
    args = parser.parse_args()

    from ray.job_submission import JobSubmissionClient

    import mlops_lab

    with tempfile.TemporaryDirectory() as root:
        lab = mlops_lab.connect(root)
        lab.init()
        started = time.perf_counter()
        info = lab.training.up(num_cpus=4)
        print(f"head up at {info.dashboard_url} in {time.perf_counter() - started:.1f} s")
        client = JobSubmissionClient(info.dashboard_url)
        try:
            env = {"BENCH_TRACKING_URI": lab.tracking.uri}
            # Warm every path once (imports, runtime-env cache, MLflow store creation).
            run_lab(lab, LIGHT)
            run_raw(client, LIGHT)
            run_raw(client, LIGHT_MLFLOW, env)
            for label, scripts, reps in (
                ("light job", (LIGHT, LIGHT, LIGHT_MLFLOW), args.reps),
                ("TorchTrainer job", (TORCH_LAB, TORCH_RAW, TORCH_MLFLOW), args.torch_reps),
            ):
                if reps <= 0:
                    continue
                results: dict[str, list[dict[str, float]]] = {
                    "lab": [],
                    "raw": [],
                    "raw+mlflow": [],
                }
                for _ in range(reps):  # interleave, so drift in the machine's load hits all alike
                    results["lab"].append(run_lab(lab, scripts[0]))
                    results["raw"].append(run_raw(client, scripts[1]))
                    results["raw+mlflow"].append(run_raw(client, scripts[2], env))
                print(f"\n{label} ({reps} runs each, median seconds from submit)")
                for metric in ("running", "step", "finish"):
                    med = {k: statistics.median(r[metric] for r in v) for k, v in results.items()}
                    print(
                        f"  to {metric:8s} lab {med['lab']:6.2f}  raw {med['raw']:6.2f}  "
                        f"raw+mlflow {med['raw+mlflow']:6.2f}  "
                        f"ratio lab/raw = {med['lab'] / med['raw']:.2f}  "
                        f"lab/raw+mlflow = {med['lab'] / med['raw+mlflow']:.2f} (goal <= 1.05)"
                    )
        finally:
            lab.training.down()


if __name__ == "__main__":
    main()
