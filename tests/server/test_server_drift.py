"""The Prometheus scrape target for drift: the latest check of each model version, served
behind the Jupyter server's token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import mlops_lab
from mlops_lab.backends.drift import compare
from mlops_lab.services import _drift_record
from mlops_lab.services.models import VersionInfo


async def test_drift_metrics_serve_the_latest_checks(api: Any, jp_root_dir: Path) -> None:
    lab = mlops_lab.connect(jp_root_dir)
    rng = np.random.default_rng(3)
    result = compare(
        pd.DataFrame({"amount": rng.normal(0, 1, 3000)}),
        pd.DataFrame({"amount": rng.normal(0.5, 1, 3000)}),
    )
    version = VersionInfo("fraud", 4, (), None, "READY", None, "")
    _drift_record._write_latest(lab, version, result, "0" * 32)

    response = await api("drift/metrics")
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = response.body.decode()
    score = result.column("amount").score
    assert (
        f'mlops_drift_score{{column="amount",method="wasserstein",model="fraud",version="4"}} '
        f"{score!r}" in text
    )
    assert 'mlops_drift_detected{column="amount",model="fraud",version="4"} 1.0' in text
    assert 'mlops_dataset_drift_share{model="fraud",version="4"} 1.0' in text
    refused = await api("drift/metrics", token_auth=False)
    assert refused.code == 403
