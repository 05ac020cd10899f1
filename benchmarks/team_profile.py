"""The team profile against the embedded defaults, on throwaway servers started here
(PostgreSQL, Redis, `mlflow server` with a PostgreSQL backend serving artifacts, a second
Ray head), all stopped at the end.

Run: python benchmarks/team_profile.py [--no-quickstart]
Prints:
- `lab.features.online` p50 on Redis vs Feast's own `get_online_features` on the same store
  (goal <= 1.05x), and vs the SQLite online store of the embedded default;
- lineage stamping per run over HTTP to the tracking server (goal <= 100 ms);
- the quickstart's wall time under `mlops-lab run`, embedded vs team (the ratio).
"""

from __future__ import annotations

import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "team"))

from shared_servers import MlflowServer, Postgres, Redis, TeamServers, free_port

import mlops_lab
from mlops_lab import resources
from mlops_lab.backends.training.local_head import LocalHead
from mlops_lab.examples import fraud
from mlops_lab.lab import Lab

ONLINE_REPEAT = 41
RUNS = 15


def median_ms(call: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def prepare_features(lab: Lab) -> list[dict[str, int]]:
    tx = fraud.make_transactions(2000, 7)
    lab.data.write_table(fraud.card_features(tx), "fraud/card_features.parquet")
    lab.data.commit(message="benchmark data")
    lab.features.apply()
    lab.features.materialize("2020-01-01", "2030-01-01")
    return [{"card_id": int(c)} for c in tx["card_id"].unique()[:50]]


def online(team: Lab, embedded: Lab) -> None:
    import feast

    from mlops_lab.backends.features.feast import repo_settings

    rows = prepare_features(team)
    prepare_features(embedded)
    raw = feast.FeatureStore(
        repo_path=str(team.features.repo),
        config=feast.RepoConfig(**repo_settings(team.features.repo, team.config.features)),
    )
    service = raw.get_feature_service("fraud_v1")
    calls = {
        "lab on Redis": lambda: team.features.online(rows, "fraud_v1"),
        "Feast on Redis": lambda: raw.get_online_features(
            features=service, entity_rows=rows
        ).to_df(),
        "lab on SQLite": lambda: embedded.features.online(rows, "fraud_v1"),
    }
    for call in calls.values():
        call()  # warm
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(ONLINE_REPEAT):  # interleaved, so machine noise hits each alike
        for name, call in calls.items():
            times[name].append(median_ms(call, 1))
    p50 = {name: statistics.median(values) for name, values in times.items()}
    print(
        f"online features (50 keys) p50: lab on Redis {p50['lab on Redis']:.1f} ms, "
        f"Feast's own on Redis {p50['Feast on Redis']:.1f} ms; ratio lab/Feast = "
        f"{p50['lab on Redis'] / p50['Feast on Redis']:.2f} (goal <= 1.05); "
        f"lab on SQLite {p50['lab on SQLite']:.1f} ms (Redis/SQLite = "
        f"{p50['lab on Redis'] / p50['lab on SQLite']:.2f})"
    )


def stamping(team: Lab, label: str) -> None:
    commit = team.data.resolve("main")
    with team.tracking.start_run("warm"):
        pass
    stamps, runs = [], []
    for i in range(RUNS):
        start = time.perf_counter()
        with team.tracking.start_run(f"stamp-{i}") as run:
            team.data.read_table("fraud/card_features.parquet", commit)
        runs.append(time.perf_counter() - start)
        stamps.append(run.stamp_seconds)
    print(
        f"lineage stamping, {label}: {statistics.median(stamps) * 1000:.1f} ms per run "
        f"(goal <= 100 ms); whole run open+close {statistics.median(runs) * 1000:.1f} ms"
    )


def quickstart(root: Path, env: dict[str, str]) -> tuple[float, dict[int, float]]:
    """The quickstart's wall time under `mlops-lab run`, and each code cell's seconds (as
    papermill records them in the executed notebook), keyed by the cell's index."""
    import nbformat

    notebook = root / "quickstart.ipynb"
    executed = root / "quickstart.out.ipynb"
    shutil.copy(resources.notebook("quickstart.ipynb"), notebook)
    start = time.perf_counter()
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "mlops-lab"),
            "run",
            str(notebook),
            "--output",
            str(executed),
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"the quickstart failed in {root}:\n{result.stderr[-3000:]}")
    cells = [
        c
        for c in nbformat.read(executed, as_version=4).cells
        if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])
    ]
    durations = {
        i: float(c.metadata.get("papermill", {}).get("duration") or 0.0)
        for i, c in enumerate(cells)
    }
    return seconds, durations


def where_the_time_goes(
    embedded: dict[int, float], team: dict[int, float], notebook: Path, top: int = 8
) -> None:
    import nbformat

    sources = [
        c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"
    ]
    print("slowest cells (embedded s / team s, team - embedded):")
    for index in sorted(team, key=lambda i: -team[i])[:top]:
        first = sources[index].splitlines()[0] if index < len(sources) else "?"
        if first.startswith("#") and len(sources[index].splitlines()) > 1:
            first = sources[index].splitlines()[1]
        e, t = embedded.get(index, 0.0), team[index]
        print(f"  {e:6.1f} / {t:6.1f}  {t - e:+6.1f}  {first[:70]}")
    print(f"  all cells: embedded {sum(embedded.values()):.0f} s, team {sum(team.values()):.0f} s")


def main() -> None:
    logging.getLogger("mlops_lab").setLevel(logging.ERROR)
    run_quickstart = "--no-quickstart" not in sys.argv
    for name in [v for v in os.environ if v.startswith("MLOPS_")]:
        del os.environ[name]
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ.pop("RAY_ADDRESS", None)
    root = Path(tempfile.mkdtemp(prefix="mlops-team-bench-"))
    os.chmod(root, 0o755)
    postgres, redis = Postgres(root / "pg"), Redis(root / "redis")
    mlflow = MlflowServer(root / "mlflow", "")
    head = LocalHead(root / "ray" / ".mlops" / "ray", dashboard_port=0)
    embedded_head = LocalHead(root / "embedded" / ".mlops" / "ray", dashboard_port=0)
    try:
        postgres.init(["mlflow", "feast"])
        mlflow.backend = postgres.url("mlflow").replace("postgresql:", "postgresql+psycopg:")
        mlflow.start()
        redis.start()
        servers = TeamServers(root, postgres, redis, mlflow)
        if run_quickstart:
            # the team's cluster runs jobs with its own `python`, which has the lab installed
            os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
            servers.ray_address = head.up(num_cpus=4).dashboard_url
            os.environ["RAY_ADDRESS"] = servers.ray_address
        team = servers.project(root / "team")
        (root / "embedded").mkdir()
        embedded = mlops_lab.connect(root / "embedded")
        embedded.init()
        online(team, embedded)
        stamping(team, "over HTTP to the tracking server")
        stamping(embedded, "embedded SQLite (same machine, for scale)")
        if run_quickstart:
            env = {**os.environ, "MLOPS_SERVING_HTTP_PORT": str(free_port())}
            team_s, team_cells = quickstart(root / "team", env)
            env.pop("RAY_ADDRESS", None)
            env["MLOPS_SERVING_HTTP_PORT"] = str(free_port())  # the team's Serve keeps its own
            embedded_head.up(num_cpus=4)  # started beforehand, as the team's head is
            embedded_s, embedded_cells = quickstart(root / "embedded", env)
            print(
                f"quickstart under mlops-lab run: embedded {embedded_s:.0f} s, team "
                f"{team_s:.0f} s; ratio team/embedded = {team_s / embedded_s:.2f}"
            )
            where_the_time_goes(embedded_cells, team_cells, root / "team" / "quickstart.ipynb")
    finally:
        embedded_head.down()
        head.down()
        mlflow.stop()
        redis.stop()
        postgres.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
