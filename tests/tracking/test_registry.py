"""Registry: versions with metrics/aliases/lineage, loading, concurrent registrations, the
one-line errors, the widget and %mlops lineage."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlops_lab import lineage
from mlops_lab.errors import LabError, NotFoundError, UsageError
from mlops_lab.lab import Lab


def test_register_alias_versions_and_load(lab: Lab, trained: dict[str, Any]) -> None:
    version = trained["version"]
    run = trained["run"]
    assert version.name == "fraud" and version.aliases == ("champion",)
    assert version.run_id == run.id
    assert version.metrics == {"auc": 0.91}
    assert version.lineage[lineage.RUN_ID] == run.id
    model = lab.models.load("fraud@champion")
    expected = trained["info"]
    native = lab.models.load(expected.model_uri, flavor="sklearn")
    assert list(model.predict(trained["x"])) == list(native.predict(trained["x"]))
    assert lab.models.get("fraud").version >= version.version
    assert lab.models.uri("fraud@champion") == f"models:/fraud/{version.version}"


def test_models_are_logged_with_explicit_pinned_requirements(
    lab: Lab, trained: dict[str, Any]
) -> None:
    import sklearn
    from mlflow.utils.file_utils import local_file_uri_to_path

    location = Path(local_file_uri_to_path(lab.models.location("fraud@champion")))
    requirements = (location / "requirements.txt").read_text(encoding="utf-8").split()
    assert f"scikit-learn=={sklearn.__version__}" in requirements
    assert all(r.startswith(("mlflow", "scikit-learn")) for r in requirements), requirements


def test_eight_concurrent_registrations_give_eight_versions(
    lab: Lab, trained: dict[str, Any]
) -> None:
    run_id = trained["run"].id
    got: list[int] = []
    errors: list[BaseException] = []

    def register() -> None:
        try:
            got.append(lab.models.register(run_id, "fraud-concurrent").version)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(got) == list(range(1, 9))
    assert sorted(v.version for v in lab.models.versions("fraud-concurrent")) == list(range(1, 9))


def test_alias_moves_and_versions_show_it(lab: Lab, trained: dict[str, Any]) -> None:
    second = lab.models.register(trained["run"].id, "fraud-alias")
    third = lab.models.register(trained["info"].model_uri, "fraud-alias", alias="challenger")
    lab.models.set_alias("fraud-alias", "champion", second.version)
    shown = {v.version: v.aliases for v in lab.models.versions("fraud-alias")}
    assert shown == {third.version: ("challenger",), second.version: ("champion",)}
    lab.models.set_alias("fraud-alias", "champion", third.version)
    assert lab.models.get("fraud-alias@champion").aliases == ("challenger", "champion")
    lab.models.delete_alias("fraud-alias", "challenger")
    assert lab.models.get(f"fraud-alias/{third.version}").aliases == ("champion",)


def test_registry_bad_input(lab: Lab, trained: dict[str, Any]) -> None:
    cases: list[tuple[Any, type[LabError], str]] = [
        (
            lambda: lab.models.get("nope@champion"),
            NotFoundError,
            "no registered model named 'nope'; see %mlops models for the list",
        ),
        (
            lambda: lab.models.get("fraud@gold"),
            NotFoundError,
            "model 'fraud' has no alias 'gold' (aliases: champion); set one with "
            "%mlops alias fraud gold VERSION",
        ),
        (
            lambda: lab.models.get("fraud/99"),
            NotFoundError,
            "model 'fraud' has no version 99; see %mlops models fraud",
        ),
        (
            lambda: lab.models.set_alias("fraud", "champion", 99),
            NotFoundError,
            "model 'fraud' has no version 99; see %mlops models fraud",
        ),
        (
            lambda: lab.models.set_alias("fraud", "latest", 1),
            UsageError,
            "'latest' is not a valid alias; use a word such as champion or challenger "
            "(not 'latest' or v<number>)",
        ),
        (
            lambda: lab.models.register("0" * 32, "fraud"),
            NotFoundError,
            f"run {'0' * 32} not found; see %mlops runs",
        ),
        (
            lambda: lab.models.register("not-a-run", "fraud"),
            UsageError,
            "'not-a-run' is neither a run id nor a model URI (runs:/ID/PATH, models:/...); "
            "see %mlops runs",
        ),
    ]
    for call, kind, message in cases:
        with pytest.raises(kind) as caught:
            call()
        assert str(caught.value) == message
    assert lab.models.get("fraud@champion").version == trained["version"].version


def run(ipython: Any, capsys: pytest.CaptureFixture[str], line: str) -> tuple[Any, str]:
    result = ipython.run_cell(line)
    out = capsys.readouterr()
    return result, out.out + out.err


@pytest.fixture
def shell(ipython: Any, lab: Lab) -> Any:
    magics = ipython.magics_manager.registry["MLOps"]
    magics.project = str(lab.root)
    magics._lab = lab
    return ipython


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "%mlops models nope",
            "NotFoundError: no registered model named 'nope'; see %mlops models for the list",
        ),
        (
            "%mlops alias fraud champion 42",
            "NotFoundError: model 'fraud' has no version 42; see %mlops models fraud",
        ),
        (
            "%mlops alias nope champion 1",
            "NotFoundError: no registered model named 'nope'; see %mlops models for the list",
        ),
        (
            "%mlops alias fraud champion",
            "UsageError: %mlops alias: VERSION is required (or --delete); see %mlops help alias",
        ),
        (
            "%mlops lineage fraud@gold",
            "NotFoundError: model 'fraud' has no alias 'gold' "
            "(aliases: champion); set one with %mlops alias fraud gold VERSION",
        ),
        (
            "%mlops lineage fraud/x",
            "UsageError: 'fraud/x' is not a model reference; use NAME@ALIAS or NAME/VERSION",
        ),
        (
            "%mlops register nope --name fraud",
            "UsageError: 'nope' is neither a run id nor a "
            "model URI (runs:/ID/PATH, models:/...); see %mlops runs",
        ),
        ("%mlops runs --limit 0", "UsageError: --limit must be at least 1"),
    ],
)
def test_magic_bad_input_is_one_line(
    shell: Any,
    capsys: pytest.CaptureFixture[str],
    trained: dict[str, Any],
    line: str,
    message: str,
) -> None:
    result, shown = run(shell, capsys, line)
    assert isinstance(result.error_in_exec, LabError)
    assert shown.strip() == message
    assert "Traceback" not in shown


def test_magics(shell: Any, capsys: pytest.CaptureFixture[str], trained: dict[str, Any]) -> None:
    run_id = trained["run"].id
    result, shown = run(shell, capsys, "%mlops runs")
    assert run_id in [row[0] for row in result.result.rows]
    result, shown = run(shell, capsys, f"%mlops register {run_id} --name fraud-magic")
    assert shown.strip() == f"registered fraud-magic/1 from run {run_id}"
    shell.user_ns["my_run"] = trained["run"]
    result, shown = run(shell, capsys, "%mlops register my_run --name fraud-magic --alias champion")
    assert shown.strip() == f"registered fraud-magic/2 @champion from run {run_id}"
    result, shown = run(shell, capsys, "%mlops alias fraud-magic champion 1")
    assert shown.strip() == "fraud-magic@champion -> version 1 (was 2)"
    result, shown = run(shell, capsys, "%mlops models")
    assert ["fraud-magic", 2, "@champion=v1", ""] in result.result.rows
    result, shown = run(shell, capsys, "%mlops models fraud-magic")
    assert [row[:2] for row in result.result.rows] == [[2, ""], [1, "@champion"]]
    result, shown = run(shell, capsys, "%mlops lineage fraud-magic@champion")
    graph = result.result
    assert graph.model["version"] == 1 and graph.run["id"] == run_id
    assert "lineage of fraud-magic@champion" in graph._repr_html_()


def test_lineage_walks_back_and_forward(
    lab: Lab, trained: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd

    monkeypatch.setenv("MLOPS_NOTEBOOK_PATH", str(lab.root / "walk.ipynb"))
    lab.data.write_table(pd.DataFrame({"x": [1.0]}), "l/x.parquet")
    commit = lab.data.commit(message="x")
    with lab.tracking.start_run("walk") as run:
        lab.data.read_table("l/x.parquet", commit)
        run.log_model(_model())
    with lab.tracking.start_run("reader") as reader:
        lab.data.read_table("l/x.parquet", commit)
    version = lab.models.register(run, "fraud-walk", alias="champion")

    found = lab.lineage("fraud-walk@champion")
    assert found.model == {
        **found.model,
        "name": "fraud-walk",
        "version": version.version,
        "aliases": ["champion"],
    }
    assert found.run["id"] == run.id and found.run["status"] == "FINISHED"
    assert found.data[0]["commit"] == commit and found.data[0]["paths"] == ["l/x.parquet"]
    assert found.data[0]["message"] == "x"
    assert found.code["path"] == str(lab.root / "walk.ipynb")
    uses = {(u["kind"], u["id"]) for u in found.used_by}
    assert uses == {("run on same data", reader.id)}

    same = lab.lineage(run.id).to_dict()
    assert same["run"]["id"] == run.id and same["model"] is None
    assert same["data"][0]["commit"] == commit
    uses = {(u["kind"], u["id"]) for u in same["used_by"]}
    assert uses == {
        ("model version", f"fraud-walk/{version.version}"),
        ("run on same data", reader.id),
    }
    assert [r[0] for r in lab.lineage(run.id).rows()][-1] == "used by"


def test_registry_widget_moves_alias_after_confirmation(lab: Lab, trained: dict[str, Any]) -> None:
    from mlops_lab.widgets.registry import RegistryWidget

    first = lab.models.register(trained["run"].id, "fraud-widget", alias="champion")
    second = lab.models.register(trained["run"].id, "fraud-widget")
    ui = RegistryWidget(lab, model="fraud-widget")
    assert ui.model.value == "fraud-widget"
    assert "@champion" in ui.table.value and "auc=0.91" in ui.table.value
    assert len(ui.lineage_buttons.children) == 2

    ui.lineage_buttons.children[0].click()  # newest first: v2
    assert f"fraud-widget/{second.version}" in ui.lineage_out.value

    ui.alias.value = "champion"
    ui.version.value = second.version
    ui.move_button.click()
    assert ui.confirm_box.layout.display == "flex"
    assert f"version {first.version}" in ui.confirm_text.value
    assert lab.models.get("fraud-widget@champion").version == first.version  # not yet

    ui.cancel_button.click()
    assert ui.confirm_box.layout.display == "none"
    assert lab.models.get("fraud-widget@champion").version == first.version

    ui.move_button.click()
    ui.confirm_button.click()
    assert lab.models.get("fraud-widget@champion").version == second.version
    assert "fraud-widget@champion -&gt; version" in ui.message.value
    assert ui.confirm_box.layout.display == "none"

    ui.alias.value = "latest"
    ui.version.value = first.version
    ui.move_button.click()
    ui.confirm_button.click()
    assert "is not a valid alias" in ui.message.value  # one line, in the widget
    assert lab.models.get("fraud-widget@champion").version == second.version
    ui.refresh_button.click()
    assert ui.message.value == ""  # a refresh clears the old error
    ui.move_button.click()
    ui.confirm_button.click()
    ui.alias.value = "challenger"
    ui.move_button.click()  # a valid request: the old error goes, the question shows
    assert ui.message.value == "" and ui.confirm_box.layout.display == "flex"
    ui.cancel_button.click()


def test_registry_widget_starts_ready_and_compares_versions(
    lab: Lab, trained: dict[str, Any]
) -> None:
    from mlops_lab.widgets.registry import RegistryWidget

    first = lab.models.register(trained["run"].id, "fraud-compare", alias="champion")
    second = lab.models.register(trained["run"].id, "fraud-compare")
    ui = RegistryWidget(lab, model="fraud-compare")
    assert ui.version.value == second.version  # preselected: the newest
    assert (f"v{first.version} @champion", first.version) in ui.version.options
    assert ui.alias.value == "" and ui.alias.placeholder != "champion"
    # metrics side by side, labelled with the aliases
    assert ui.table.value.count('class="mlops-bar"') == 2
    assert f'data-label="v{first.version} @champion"' in ui.table.value
    text = repr(lab.models.versions("fraud-compare").comparison())
    assert f"v{second.version}: auc=0.91" in text


def _model() -> Any:
    from sklearn.dummy import DummyClassifier

    return DummyClassifier().fit(np.zeros((4, 1)), [0, 1, 0, 1])


def test_runs_plot_draws_each_metric_by_step(shell: Any, lab: Lab) -> None:
    with lab.tracking.start_run("curve") as curve:
        for step, loss in enumerate([0.9, 0.6, 0.4]):
            curve.log_metrics({"loss": loss}, step=step)
        curve.log_metric("auc", 0.88)
    figure = shell.run_line_magic("mlops", "runs --plot --limit 1")
    shown = figure._repr_html_()
    assert shown.count("<svg") == 2  # auc and loss
    loss_chart = next(c for c in shown.split("<svg")[1:] if "<title>loss</title>" in c)
    assert "<polyline" in loss_chart and ">0.9<" in loss_chart and ">0.4<" in loss_chart
    auc_chart = next(c for c in shown.split("<svg")[1:] if "<title>auc</title>" in c)
    assert 'class="mlops-bar"' in auc_chart  # logged once: a bar, not a lone dot
    assert f"loss: curve {curve.id[:8]}=0.4" in repr(figure)

    table = shell.run_line_magic("mlops", "runs --limit 1")
    assert table.rows[0][0] == curve.id  # the full id as data, short on screen
    assert f'title="{curve.id}"' in table._repr_html_()
