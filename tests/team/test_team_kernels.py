"""Two notebook kernels training at once against the team's tracking server: each is a real
`mlops-lab run` (papermill, the MLOps kernel), and their training cells meet at a barrier
inside their runs, so the runs are open on the server at the same time. Both register the
same model: the versions are distinct and each run is intact (params, metrics, lineage, the
model's artifacts downloadable through the server)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from shared_servers import TeamServers, owned_environment, stop_tagged

from mlops_lab import lineage

pytestmark = pytest.mark.slow

MODEL = "fraud-two-kernels"

TRAIN = """
import time
from pathlib import Path

from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

import mlops_lab

lab = mlops_lab.connect()
with lab.tracking.start_run(f"kernel-{seed}") as run:
    tx = lab.data.read_table("fraud/transactions.parquet", ref=data_commit)
    # both kernels hold an open run before either trains
    Path(barrier, f"ready-{seed}").touch()
    deadline = time.monotonic() + 300
    while len(list(Path(barrier).glob("ready-*"))) < 2:
        if time.monotonic() > deadline:
            raise TimeoutError("the other kernel never reached the barrier")
        time.sleep(0.1)
    X, y = tx[["amount"]], tx["is_fraud"]
    model = LogisticRegression(C=1.0 / seed).fit(X, y)
    run.log_params({"seed": seed, "C": 1.0 / seed})
    run.log_metrics({"auc": roc_auc_score(y, model.predict_proba(X)[:, 1]), "rows": len(X)})
    run.log_model(model, "model", input_example=X[:5])
version = lab.models.register(run, model_name)
print("registered", version.version)
"""


def training_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"name": "mlops", "language": "python", "display_name": "Python 3 (MLOps)"}
    }
    nb.cells = [
        nbformat.v4.new_code_cell(
            'data_commit = ""\nseed = 1\nbarrier = ""\nmodel_name = ""',
            metadata={"tags": ["parameters"]},
        ),
        nbformat.v4.new_code_cell(TRAIN),
    ]
    nbformat.write(nb, path)
    return path


def test_two_kernels_training_at_once_get_distinct_versions_and_intact_runs(
    team_servers: TeamServers, tmp_path: Path
) -> None:
    import mlflow
    from mlflow import MlflowClient

    from mlops_lab.examples import fraud

    root = tmp_path / "p"
    lab = team_servers.project(root)
    lab.data.write_table(fraud.make_transactions(600, 3), "fraud/transactions.parquet")
    commit = lab.data.commit(message="two kernels")
    notebook = training_notebook(root / "train.ipynb")
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MLOPS_") and k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")
    }
    tag = f"two-kernels-{os.getpid()}"
    try:
        kernels = [
            subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "mlops-lab"),
                    "run",
                    str(notebook),
                    "-p",
                    "data_commit",
                    commit,
                    "-p",
                    "seed",
                    str(seed),
                    "-p",
                    "barrier",
                    str(barrier),
                    "-p",
                    "model_name",
                    MODEL,
                    "--output",
                    str(root / f"train-{seed}.out.ipynb"),
                ],
                cwd=root,
                env=owned_environment(tag, env),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for seed in (1, 2)
        ]
        outputs = [kernel.communicate(timeout=600) for kernel in kernels]
    finally:
        stop_tagged(tag)
    for kernel, (out, err) in zip(kernels, outputs, strict=True):
        assert kernel.returncode == 0, (out[-2000:], err[-2000:])

    client = MlflowClient(tracking_uri=team_servers.mlflow.url)
    versions = client.search_model_versions(f"name='{MODEL}'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    runs = [client.get_run(v.run_id) for v in versions]
    assert len({run.info.run_id for run in runs}) == 2
    # the two runs were open on the server at the same time
    assert max(r.info.start_time for r in runs) < min(r.info.end_time for r in runs)
    assert sorted(run.data.params["seed"] for run in runs) == ["1", "2"]
    mlflow.set_tracking_uri(team_servers.mlflow.url)
    try:
        for version, run in zip(versions, runs, strict=True):
            assert run.info.status == "FINISHED"
            seed = int(run.data.params["seed"])
            assert run.data.params == {"seed": str(seed), "C": str(1.0 / seed)}
            assert set(run.data.metrics) == {"auc", "rows"}
            assert run.data.metrics["rows"] == 600
            assert run.data.tags[lineage.DATA_COMMIT] == commit
            assert version.tags[lineage.RUN_ID] == run.info.run_id
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{MODEL}/{version.version}",
                dst_path=str(tmp_path / f"v{version.version}"),
            )
            assert (Path(local) / "MLmodel").is_file()
    finally:
        mlflow.set_tracking_uri(None)
    # each kernel's job is its own run, with its executed notebook as an artifact
    jobs = client.search_runs(
        [runs[0].info.experiment_id], filter_string="tags.`mlops.notebook.path` LIKE '%train%'"
    )
    job_runs = [r for r in jobs if r.info.run_id not in {run.info.run_id for run in runs}]
    assert len(job_runs) >= 2
    for job in job_runs:
        assert job.info.status == "FINISHED"
        assert client.list_artifacts(job.info.run_id)
