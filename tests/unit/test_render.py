"""What results draw: short ids with the full value on hover, fixed-width cards that cut
long text instead of overprinting, folded siblings, charts with their values."""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree

import pytest

from mlops_lab import render
from mlops_lab.display import Id, Link, Table
from mlops_lab.services.lineage import Lineage

COMMIT = "a" * 64
RUN = "0123456789abcdef0123456789abcdef"


def _svg(text: str) -> ElementTree.Element:
    return ElementTree.fromstring(text)


def test_ids_are_short_with_the_full_value_on_hover_and_copy() -> None:
    shown = Id(COMMIT).html()
    assert f'title="{COMMIT}"' in shown and f'data-copy="{COMMIT}"' in shown
    assert ">aaaaaaaa\u2026</code>" in shown
    assert str(Id(COMMIT)) == COMMIT  # terminals print it whole, to copy
    linked = Id(RUN, href=f"http://mlflow:5000/#/runs/{RUN}").html()
    assert f'<a href="http://mlflow:5000/#/runs/{RUN}"' in linked


def test_tables_take_the_output_width_and_wrap_instead_of_cutting() -> None:
    table = Table(["run", "notebook"], [[Id(RUN), Link("train.ipynb", "runs/train.ipynb")]])
    shown = table._repr_html_()
    assert "width:100%" in shown and "overflow-wrap:anywhere" in shown
    assert '<a href="runs/train.ipynb">train.ipynb</a>' in shown  # opens in JupyterLab
    assert RUN in repr(table)


def _lineage(siblings: int) -> Lineage:
    return Lineage(
        target="fraud@champion",
        model={"name": "fraud", "version": 3, "aliases": ["champion"]},
        run={"id": RUN, "name": "baseline", "status": "FINISHED", "metrics": {"auc": 0.91}},
        data=[{"commit": COMMIT, "paths": ["fraud/transactions.parquet"], "message": "m" * 300}],
        features={"views": ["card_daily"], "service": "fraud_v1", "data_ref": COMMIT},
        code={"path": "/home/me/project/notebooks/quickstart.ipynb", "git_sha": "b" * 40},
        training={"ray_job_id": "fraud-mlp-1130154000-ab12"},
        used_by=[
            {"kind": "validation", "id": "e" * 32, "detail": "passed: auc 0.91 >= 0.8"},
            {"kind": "deployment", "id": "4", "detail": "serves fraud/3"},
            *(
                {"kind": "run on same data", "id": f"{n:032x}", "detail": f"reader {n}"}
                for n in range(siblings)
            ),
        ],
    )


def test_lineage_is_a_graph_of_equal_width_cards_with_siblings_folded() -> None:
    shown = _lineage(8)._repr_html_()
    cards = re.findall(r'<div class="mlops-card" style="([^"]*)"', shown)
    # notebook, data, features | run | model | validation | deployment; 8 readers folded
    assert len(cards) == 7 + 8
    # The graph's cards fill columns that are all as wide and shrink alike to fit the output;
    # the folded readers are fixed-width cards.
    columns = re.findall(r'<div class="mlops-column" style="([^"]*)"', shown)
    assert len(columns) == 5
    assert all(f"flex:0 1 {render.CARD_WIDTH}px;min-width:140px" in css for css in columns)
    assert all("width:100%" in css for css in cards[:7])
    assert all(f"width:{render.CARD_WIDTH}px" in css for css in cards[7:])
    # Every line of a card is cut with an ellipsis; the 64-char commit is short, full on hover.
    assert "text-overflow:ellipsis" in shown
    assert f">{COMMIT}<" not in shown and f'title="{COMMIT}"' in shown
    # Arrows only between the real steps: inputs -> run -> model -> gate -> deployment.
    graph = shown.split('<div class="mlops-graph"', 1)[1].split("<details", 1)[0]
    assert graph.count('class="mlops-arrow"') == 4
    assert "passed: auc 0.91 &gt;= 0.8" in graph
    assert "<summary" in shown and ">used by 8 runs on the same data</summary>" in shown
    notebook = 'title="/home/me/project/notebooks/quickstart.ipynb">quickstart.ipynb</div>'
    assert notebook in shown  # the name in the card, the path on hover
    assert shown.count('class="mlops-arrow"') == 4  # none among the folded siblings


def test_lineage_of_a_lone_run_draws_no_dangling_arrow() -> None:
    lone = Lineage(target=RUN, run={"id": RUN, "status": "FINISHED", "metrics": {}})
    shown = lone._repr_html_()
    assert "mlops-arrow" not in shown and "<details" not in shown
    assert lone.rows()[0][2] == RUN  # the table (and the panel's API) keeps the same data


def test_line_chart_draws_each_series_within_its_frame() -> None:
    rows = [{"epoch": e, "loss": 1.0 / (e + 1), "auc": 0.5 + e / 100} for e in range(0, 30, 5)]
    shown = render.metric_charts(rows)
    charts = re.findall(r"<svg.*?</svg>", shown)
    assert len(charts) == 2  # loss and auc, each on its own scale
    for chart in charts:
        svg = _svg(chart)
        width, height = float(svg.get("width", 0)), float(svg.get("height", 0))
        line = svg.find("{http://www.w3.org/2000/svg}polyline")
        assert line is not None
        points = [tuple(map(float, p.split(","))) for p in line.get("points", "").split()]
        assert len(points) == 6
        assert all(0 <= x <= width and 0 <= y <= height for x, y in points)
    assert ">loss</text>" in charts[0] and ">1<" in charts[0] and ">0.0385<" in charts[0]
    assert "no values yet" in render.line_chart("loss", {"loss": []})


def test_bar_chart_writes_each_count_beside_its_bar() -> None:
    shown = render.bar_chart("changes", {"added": 3, "changed": 1, "removed": 0})
    svg = _svg(shown)
    bars = svg.findall("{http://www.w3.org/2000/svg}rect")
    widths = {b.get("data-label"): float(b.get("width", 0)) for b in bars}
    assert widths["added"] > widths["changed"] > widths["removed"] == 0
    assert ">3</text>" in shown and ">0</text>" in shown


def test_steps_and_progress() -> None:
    shown = render.steps(["starting head", "queued", "running", "done"], 2)
    assert shown.count("&#10003;") == 2 and 'class="mlops-step-current">running<' in shown
    assert 'aria-valuenow="50"' in render.progress_bar(0.5)
    assert "repeating-linear-gradient" in render.progress_bar(None)


def test_notebook_job_result_says_which_run_is_which_and_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops_lab import lineage
    from mlops_lab.services.notebooks.service import NotebookRun

    monkeypatch.chdir(tmp_path)
    inner = "f" * 32
    result = NotebookRun(
        notebook=tmp_path / "train.ipynb",
        output=tmp_path / "runs" / "train-20261130.ipynb",
        parameters={"seed": 1},
        run_id=RUN,
        status="succeeded",
        duration_s=3.24,
        produced={lineage.RUN_ID: [inner], lineage.DATA_COMMIT: [COMMIT]},
        tracking_ui="http://mlflow.example:5000",
    )
    shown = result._repr_html_()
    assert "mlops." not in shown.replace("mlops-", "")  # labels, not raw lineage keys
    assert ">job&#x27;s MLflow run<" in shown and ">runs the notebook logged<" in shown
    assert f'href="http://mlflow.example:5000/#/runs/{RUN}"' in shown
    assert f'href="http://mlflow.example:5000/#/runs/{inner}"' in shown
    assert '<a href="runs/train-20261130.ipynb" title=' in shown  # opens in JupyterLab
    assert f'title="{COMMIT}"' in shown and "width:100%" in shown
    assert str(tmp_path / "runs" / "train-20261130.ipynb") in repr(result)


def test_models_and_runs_link_to_the_mlflow_ui_only_when_one_is_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlops_lab

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    from mlops_lab.display import model_ref, run_id, tracking_ui

    (tmp_path / "mlops.toml").write_text('[tracking]\nui = "http://mlflow.example:5000/"\n')
    config = mlops_lab.connect(tmp_path).config
    assert tracking_ui(config) == "http://mlflow.example:5000"
    ref = model_ref(config, "fraud", 3)
    assert ref == "fraud/3" and isinstance(ref, Link)
    assert 'href="http://mlflow.example:5000/#/models/fraud/versions/3"' in ref.html()
    assert run_id(config, RUN).href == f"http://mlflow.example:5000/#/runs/{RUN}"
    (tmp_path / "mlops.toml").write_text("[tracking]\n")
    plain = mlops_lab.connect(tmp_path).config  # a sqlite store has no UI to link to
    assert model_ref(plain, "fraud") == "fraud" and not isinstance(model_ref(plain, "fraud"), Link)
    assert run_id(plain, RUN).href == ""
