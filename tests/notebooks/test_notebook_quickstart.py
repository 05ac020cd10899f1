"""The quickstart in the test suite, as `make demo` runs it, with a canary for secrets.

`mlops-lab demo` executes notebooks/quickstart.ipynb end to end on embedded defaults (every
capability's section), then the shipped fraud-model pipeline runs in the same project, then a
notebook exercising the magics the quickstart does not use. A sentinel value sits in every
credential variable the lab reads the whole time; afterwards it must appear nowhere: not in
any output notebook (cells, outputs, metadata), not in MLflow (params, tags, artifacts: the
whole tracking store and artifact tree), not in anything else under the project, not in what
the commands printed, not in generated manifests.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from click.testing import CliRunner

import mlops_lab
from mlops_lab import magics, resources
from mlops_lab.backends.k8s.credentials import CREDENTIAL_VARIABLES
from mlops_lab.cli import main

pytestmark = pytest.mark.slow

SENTINEL = "cAnArY-5e1f0c9d-not-a-real-secret"
EXTRAS = [
    "import mlops_lab\nlab = mlops_lab.connect()",
    "%mlops help",
    "%mlops init",
    "%mlops status",
    "%mlops runs --limit 5",
    "%mlops alias fraud canary 1",
    "%mlops lineage fraud@canary",
    "%mlops jobs --no-attach",
    "latest_job = lab.training.jobs()[0].job_id\n%mlops logs {latest_job} --tail 50",
    "%mlops ray status",
    "from mlops_lab import resources\ntrain_nb = resources.notebook('pipeline/train.ipynb')\n"
    "%mlops params {train_nb}",
    "%mlops schedule {train_nb} --cron '0 2 * * *' --image img:1 -p model_name f --dry-run",
    "import pandas as pd\n"
    "one = pd.DataFrame([dict(amount=120.0, merchant_category='online', spend_7d=300.0, "
    "txn_count_7d=4.0, avg_amount_7d=60.0, max_amount_7d=90.0)])\n"
    "%mlops predict fraud one",
    "%mlops undeploy fraud",
    "from mlops_lab.examples import fraud\n"
    "tx = fraud.make_transactions(400, 3).sort_values('event_timestamp')\n"
    "hold = pd.merge_asof(tx, fraud.card_features(tx), on='event_timestamp', by='card_id')\n"
    "hold = hold.dropna()  # the gate sends each model the columns its signature takes\n"
    "%mlops validate fraud@champion --data hold --target is_fraud --against none "
    "--threshold roc_auc>=0.5",
    "import hashlib, os\n"
    "token = os.environ['MLFLOW_TRACKING_TOKEN'].encode()\n"
    "print('kernel sees digest', hashlib.sha256(token).hexdigest())",
]


def credential_variables() -> set[str]:
    """Every secret credential variable named in the lab's source (what it or its SDKs read).

    Usernames (MLFLOW_TRACKING_USERNAME) are identities, not secrets: MLflow records the
    user of each run (the ``mlflow.user`` tag) from it, as a tracking server does.
    """
    pattern = re.compile(
        r"[\"']([A-Z][A-Z0-9]*_[A-Z0-9_]*(?:KEY|SECRET|TOKEN|PASSWORD)[A-Z0-9_]*)[\"']"
    )
    found = {v for v in CREDENTIAL_VARIABLES if not v.endswith("USERNAME")}
    package = Path(mlops_lab.__file__).parent
    for source in package.rglob("*.py"):
        found.update(pattern.findall(source.read_text(encoding="utf-8")))
    return found


def errors_in(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [
        f"cell {i}: {o.get('ename')}: {o.get('evalue')}"
        for i, cell in enumerate(nb.cells)
        for o in cell.get("outputs", [])
        if o.get("output_type") == "error"
    ]


def magics_used(path: Path) -> set[str]:
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    return set(re.findall(r"^\s*(?:\w+\s*=\s*)?%%?mlops\s+([a-z_]+)", code, re.MULTILINE))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, ray_head: dict[str, Any]) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("quickstart") / "demo"
    ray_dir = root / ".mlops" / "ray"
    ray_dir.mkdir(parents=True)
    shutil.copy(ray_head["state_file"], ray_dir / "head.json")  # reuse the session's head
    variables = sorted(credential_variables())
    with pytest.MonkeyPatch.context() as patch:
        for variable in variables:
            patch.setenv(variable, SENTINEL)
        patch.chdir(root)
        runner = CliRunner()
        quickstart = runner.invoke(main, ["demo", "--dir", str(root)])
        pipeline = runner.invoke(
            main,
            [
                "pipeline",
                str(resources.notebook("pipeline.toml")),
                "--output-dir",
                str(root / "pipeline"),
            ],
        )
        extras = root / "extras.ipynb"
        nb = nbformat.v4.new_notebook(
            metadata={
                "kernelspec": {"name": "mlops", "language": "python", "display_name": "MLOps"}
            }
        )
        nb.cells = [nbformat.v4.new_code_cell("n = 1", metadata={"tags": ["parameters"]})]
        nb.cells += [nbformat.v4.new_code_cell(source) for source in EXTRAS]
        nbformat.write(nb, extras)
        extra = runner.invoke(
            main, ["run", str(extras), "--output", str(root / "extras.out.ipynb")]
        )
        lab = mlops_lab.connect(root)
        spec = lab.notebooks.schedule_spec(
            resources.notebook("pipeline/train.ipynb"), "@daily", "img:1", {"model_name": "fraud"}
        )
        manifests = lab.notebooks.schedule_yaml(spec)
        yield {
            "root": root,
            "quickstart": quickstart,
            "pipeline": pipeline,
            "extras": extra,
            "manifests": manifests,
            "variables": variables,
        }


def test_quickstart_runs_end_to_end(demo: dict[str, Any]) -> None:
    root = demo["root"]
    executed = root / "quickstart.out.ipynb"
    assert demo["quickstart"].exit_code == 0, (
        demo["quickstart"].output,
        errors_in(executed) if executed.exists() else None,
    )
    assert errors_in(executed) == []
    nb = nbformat.read(executed, as_version=4)
    source = nbformat.read(resources.notebook("quickstart.ipynb"), as_version=4)
    ran = [
        c
        for c in nb.cells
        if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])
    ]
    assert len(ran) == len([c for c in source.cells if c.cell_type == "code"])
    assert all(c.execution_count for c in ran)


# What third-party libraries print when they warn or log (the lab's own notices are
# display outputs, never stderr).
THIRD_PARTY_NOISE = re.compile(
    r"Warning\b|warnings\.warn|Creating initial database tables|site-packages/|"
    r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (INFO|WARNING)",
    re.MULTILINE,
)


def test_quickstart_outputs_carry_no_third_party_warnings(demo: dict[str, Any]) -> None:
    nb = nbformat.read(demo["root"] / "quickstart.out.ipynb", as_version=4)
    noise = [
        f"cell {i}: {o.text[:300]}"
        for i, cell in enumerate(nb.cells)
        for o in cell.get("outputs", [])
        if o.output_type == "stream" and o.name == "stderr" and THIRD_PARTY_NOISE.search(o.text)
    ]
    assert noise == []
    # The lab's own expected notice: once, as a notice, never as stderr.
    notices = [
        o for cell in nb.cells for o in cell.get("outputs", []) if "Feast dropped" in json.dumps(o)
    ]
    assert len(notices) == 1, notices
    assert notices[0].output_type == "display_data"


def test_quickstart_validates_the_challenger_before_the_canary(demo: dict[str, Any]) -> None:
    lab = mlops_lab.connect(demo["root"])
    challenger = lab.models.get("fraud@challenger")
    assert challenger.lineage["mlops.validation.verdict"] == "passed"
    run = lab.tracking.client.get_run(challenger.lineage["mlops.validation.run"])
    assert run.data.metrics["roc_auc"] >= 0.75
    nb = nbformat.read(demo["root"] / "quickstart.out.ipynb", as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    validate = next(i for i, c in enumerate(code) if "%mlops validate fraud@challenger" in c)
    canary = next(i for i, c in enumerate(code) if "%mlops deploy fraud@challenger" in c)
    assert validate < canary


def test_shipped_pipeline_passes_every_gate(demo: dict[str, Any]) -> None:
    root = demo["root"]
    assert demo["pipeline"].exit_code == 0, demo["pipeline"].output
    summary = json.loads((root / "pipeline" / "pipeline.json").read_text())
    assert [(s["stage"], s["status"]) for s in summary["stages"]] == [
        ("validate", "passed"),
        ("train", "passed"),
        ("evaluate", "passed"),
        ("promote", "passed"),
    ]
    promote = (root / "pipeline" / "promote.ipynb").read_text()
    assert "fraud@champion -> version" in promote
    # the promote stage deployed through the gate: its version passed and now serves
    lab = mlops_lab.connect(root)
    champion = lab.models.get("fraud@champion")
    assert champion.lineage["mlops.validation.verdict"] == "passed"
    assert f"fraud@champion -> version {champion.version}, serving on endpoint fraud" in promote


def test_canary_secret_appears_nowhere(demo: dict[str, Any]) -> None:
    root = demo["root"]
    assert demo["extras"].exit_code == 0, demo["extras"].output
    used = magics_used(root / "quickstart.out.ipynb") | magics_used(root / "extras.out.ipynb")
    missing = set(magics.command_names()) - used
    assert not missing, f"add these magics to the canary notebook (EXTRAS): {sorted(missing)}"
    assert {
        "MLFLOW_TRACKING_TOKEN",
        "LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY",
        "AWS_SECRET_ACCESS_KEY",
    } <= set(demo["variables"])

    needle = SENTINEL.encode()
    leaks = [
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and needle in p.read_bytes()
    ]
    assert leaks == [], f"the sentinel leaked into {leaks}"
    for name in ("quickstart", "pipeline", "extras"):
        assert SENTINEL not in demo[name].output, name
    assert SENTINEL not in demo["manifests"]
    assert "secretKeyRef" in demo["manifests"]
    # the kernels did see the planted value, so the scan above would have found a leak
    digest = hashlib.sha256(needle).hexdigest()
    assert f"kernel sees digest {digest}" in (root / "extras.out.ipynb").read_text()
    assert (root / ".mlops" / "mlflow.db").is_file()
