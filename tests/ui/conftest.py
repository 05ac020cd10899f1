"""ONE JupyterLab server for all browser tests, on a fixture project, and one Playwright run.

The session fixture starts ``jupyter lab`` with a token and, while it boots, prepares its
project (``mlops-lab init``, a data commit, two registered model versions, the first with an
alias and served on the session's Ray head: the suite's only Ray Serve start); it then runs
every spec in ``tests/ui/specs`` once in headless Chromium and keeps Playwright's JSON report;
each pytest test checks the result of its spec. Screenshots, the logs and ``timings.json``
(seconds spent preparing, booting and in Playwright) go to ``test-artifacts/ui/``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import mlops_lab

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ARTIFACTS = REPO / "test-artifacts" / "ui"
BUILD = REPO / "mlops_lab" / "labextension"
CHROMIUM = os.environ.get("MLOPS_UI_CHROMIUM", "/usr/bin/chromium")
FEATURE_REPO = "ui-feature-repo"
MODEL = "fraud-detector"
ALIAS = "champion"
ENDPOINT = "ui-fraud"


@dataclass
class Report:
    """Playwright's JSON report: spec title -> (status, error text)."""

    results: dict[str, tuple[str, str]]
    output: str

    def check(self, title: str) -> None:
        if title not in self.results:
            pytest.fail(f"spec {title!r} did not run; Playwright said:\n{self.output[-6000:]}")
        status, error = self.results[title]
        if status != "passed":
            pytest.fail(f"{title}: {status}\n{error}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _prepare_project(root: Path, ray_head: dict[str, Any]) -> None:
    """A project with a data commit, model versions 1 (@champion) and 2 trained on a table read
    through lab.data, and version 1 served on the session's Ray head as endpoint ENDPOINT."""
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    lab = mlops_lab.connect(root)
    lab.init()
    toml = root / "mlops.toml"
    text = toml.read_text(encoding="utf-8")
    toml.write_text(text.replace("# http_port = 8000", f"http_port = {_free_port()}"), "utf-8")
    (root / ".mlops" / "ray").mkdir(parents=True, exist_ok=True)
    shutil.copy(ray_head["state_file"], root / ".mlops" / "ray" / "head.json")
    lab = mlops_lab.connect(root)
    lab.data.write_table(pd.DataFrame({"amount": [12.5, 80.0, 3.2]}), "transactions.parquet")
    rng = np.random.default_rng(0)
    training = pd.DataFrame({"amount": rng.gamma(2.0, 40.0, 400), "spend_7d": rng.random(400)})
    training["is_fraud"] = (training["amount"] > 90).astype(int)
    lab.data.write_table(training, "training.parquet")
    commit = lab.data.commit(message="fixture transactions")
    for name, c, alias in (("fixture-training", 1.0, ALIAS), ("fixture-challenger", 0.01, None)):
        with lab.tracking.start_run(name) as run:
            frame = lab.data.read_table("training.parquet", ref=commit)
            inputs = frame[["amount", "spend_7d"]]
            run.log_metrics({"auc": 0.93})
            model = LogisticRegression(C=c).fit(inputs, frame["is_fraud"])
            run.log_model(model, signature=infer_signature(inputs))
        lab.models.register(run, MODEL, alias=alias)
    lab.serving.deploy(f"{MODEL}@{ALIAS}", endpoint=ENDPOINT)


def _wait_for(url: str, token: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"jupyter lab exited with {process.returncode}:\n{log.read_text()[-4000:]}"
            )
        try:
            request = urllib.request.Request(
                f"{url}api/status", headers={"Authorization": f"token {token}"}
            )
            with urllib.request.urlopen(request, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"jupyter lab did not answer within 90 s:\n{log.read_text()[-4000:]}")


def _collect(suites: list[dict[str, Any]], out: dict[str, tuple[str, str]]) -> None:
    for suite in suites:
        for spec in suite.get("specs", []):
            results = [r for t in spec.get("tests", []) for r in t.get("results", [])]
            status = results[-1]["status"] if results else "skipped"
            error = "\n".join(e.get("message", "") for r in results for e in r.get("errors", []))
            out[spec["title"]] = (status, error)
        _collect(suite.get("suites", []), out)


@pytest.fixture(scope="session")
def browser_run(
    tmp_path_factory: pytest.TempPathFactory, ray_head: dict[str, Any]
) -> Iterator[Report]:
    node_modules = HERE / "node_modules" / "@jupyterlab" / "galata"
    problems = []
    if not Path(CHROMIUM).exists():
        problems.append(f"no Chromium at {CHROMIUM} (run scripts/install-browser.sh)")
    if not node_modules.is_dir():
        problems.append("no galata in tests/ui/node_modules (run: npm ci --prefix tests/ui)")
    if not (BUILD / "package.json").is_file():
        problems.append(
            "the labextension is not built (run: npm ci --prefix extension && npm run build --prefix extension)"
        )
    if problems:
        pytest.fail("browser tests cannot start: " + "; ".join(problems))

    base = tmp_path_factory.mktemp("ui")
    root = base / "project"
    root.mkdir()
    # the freshly built extension wins over an older installed copy of the same name
    extensions = base / "labextensions"
    extensions.mkdir()
    (extensions / "mlops-lab").symlink_to(BUILD, target_is_directory=True)
    import jupyterlab

    galata_extension = Path(jupyterlab.__file__).parent / "galata"
    token = secrets.token_hex(16)
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "MLOPS_FEATURES_REPO": FEATURE_REPO,
    }
    log = base / "jupyter.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyterlab",
                "--no-browser",
                "--allow-root",
                f"--port={port}",
                "--ip=127.0.0.1",
                f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={root}",
                "--LabApp.expose_app_in_browser=True",
                f"--LabServerApp.extra_labextensions_path={extensions}",
                f"--LabServerApp.extra_labextensions_path={galata_extension}",
            ],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        # the server boots while the project is prepared (both take tens of seconds)
        started = time.monotonic()
        _prepare_project(root, ray_head)
        prepared = time.monotonic()
        _wait_for(url, token, server, log)
        ready = time.monotonic()
        if ARTIFACTS.exists():
            shutil.rmtree(ARTIFACTS)
        ARTIFACTS.mkdir(parents=True)
        run = subprocess.run(
            ["npx", "playwright", "test"],
            cwd=HERE,
            env={
                **env,
                "MLOPS_UI_URL": url.rstrip("/"),
                "MLOPS_UI_TOKEN": token,
                "MLOPS_UI_PROJECT": str(root),
                "MLOPS_UI_FEATURE_REPO": FEATURE_REPO,
                "MLOPS_UI_MODEL": MODEL,
                "MLOPS_UI_ALIAS": ALIAS,
                "MLOPS_UI_ENDPOINT": ENDPOINT,
                "MLOPS_UI_ARTIFACTS": str(ARTIFACTS),
                "CI": "",
            },
            capture_output=True,
            text=True,
            timeout=1200,
        )
        output = run.stdout + run.stderr
        (ARTIFACTS / "playwright.log").write_text(output)
        timings = {
            "prepare project": prepared - started,
            "jupyter ready after that": ready - prepared,
            "playwright": time.monotonic() - ready,
        }
        (ARTIFACTS / "timings.json").write_text(json.dumps(timings, indent=1))
        report_file = ARTIFACTS / "report.json"
        if not report_file.is_file():
            pytest.fail(f"Playwright wrote no report (exit {run.returncode}):\n{output[-6000:]}")
        results: dict[str, tuple[str, str]] = {}
        _collect(json.loads(report_file.read_text()).get("suites", []), results)
        yield Report(results, output)
    finally:
        with contextlib.suppress(Exception):
            mlops_lab.connect(root).serving.undeploy(ENDPOINT)
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        if ARTIFACTS.is_dir():
            shutil.copy(log, ARTIFACTS / "jupyter.log")
