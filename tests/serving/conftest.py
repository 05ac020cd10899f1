"""One project with registered fraud-model versions on the session's Ray head, and one
Ray Serve instance for the whole module (tests deploy and undeploy their own endpoints)."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mlops_lab
from mlops_lab.lab import Lab

FEATURES = ["amount", "spend_7d", "txn_count_7d"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_frame(rows: int, seed: int) -> Any:
    import pandas as pd

    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": rng.gamma(2.0, 40.0, rows),
            "spend_7d": rng.gamma(3.0, 100.0, rows),
            "txn_count_7d": rng.integers(1, 30, rows).astype("float64"),
        }
    )


def _log(lab: Lab, name: str, c: float, frame: Any, labels: Any) -> Any:
    from sklearn.linear_model import LogisticRegression

    with lab.tracking.start_run(name) as run:
        model = LogisticRegression(C=c, max_iter=500).fit(frame, labels)
        run.log_metrics({"auc": 0.9})
        info = run.log_model(model, input_example=frame.head(3))
    return run, info


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, ray_head: dict[str, Any]) -> Iterator[Lab]:
    """fraud/1 @champion, fraud/2 @challenger, fraud/3 whose files are gone (fails to load),
    fraud/4 (as 2) whose validation failed."""
    root: Path = tmp_path_factory.mktemp("serving") / "project"
    root.mkdir()
    lab = mlops_lab.connect(root)
    lab.init()
    toml = root / "mlops.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(text.replace("# http_port = 8000", f"http_port = {free_port()}"), "utf-8")
    state = root / ".mlops" / "ray"
    state.mkdir(parents=True, exist_ok=True)
    shutil.copy(ray_head["state_file"], state / "head.json")
    lab = mlops_lab.connect(root)
    frame = make_frame(300, 1)
    labels = (frame["amount"] > 90).astype(int)
    run1, _ = _log(lab, "v1", 1.0, frame, labels)
    lab.models.register(run1, "fraud", alias="champion")
    run2, _ = _log(lab, "v2", 0.01, frame, labels)
    lab.models.register(run2, "fraud", alias="challenger")
    _, broken = _log(lab, "v3", 1.0, frame, labels)
    version3 = lab.models.register(broken.model_uri, "fraud")
    shutil.rmtree(lab.models.location(version3.ref).removeprefix("file://"))
    version4 = lab.models.register(run2, "fraud")
    lab.tracking.client.set_model_version_tag(
        "fraud", str(version4.version), "mlops.validation.verdict", "failed"
    )
    lab.tracking.client.set_model_version_tag(
        "fraud", str(version4.version), "mlops.validation.summary", "auc 0.61 < 0.80"
    )
    yield lab
    for status in lab.serving.endpoints():
        if status.state != "removed":
            lab.serving.undeploy(status.endpoint)
