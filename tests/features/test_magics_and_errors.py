"""`%mlops features` and the one-line errors of bad input."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from mlops_lab.errors import LabError, NotFoundError, UsageError
from mlops_lab.services import progress


def run(ipython: Any, capsys: pytest.CaptureFixture[str], line: str) -> tuple[Any, str]:
    result = ipython.run_cell(line)
    out = capsys.readouterr()
    return result, out.out + out.err


def one_line(result: Any, shown: str, expected: str, kind: type[LabError]) -> None:
    assert isinstance(result.error_in_exec, kind), result.error_in_exec
    assert shown.strip() == expected
    assert "Traceback" not in shown


@pytest.fixture
def shell(ipython: Any, fraud_lab: dict[str, Any]) -> Any:
    magics = ipython.magics_manager.registry["MLOps"]
    magics.project = str(fraud_lab["lab"].root)
    magics._lab = fraud_lab["lab"]
    labels = fraud_lab["lab"].data.read_table("fraud/labels.parquet", fraud_lab["commit"])
    ipython.user_ns["labels"] = labels.head(300)
    ipython.user_ns["no_time"] = labels.head(5).drop(columns="event_timestamp")
    ipython.user_ns["data_commit"] = fraud_lab["commit"]
    return ipython


def test_ls_apply_get_materialize_online(shell: Any, capsys: pytest.CaptureFixture[str]) -> None:
    result, shown = run(shell, capsys, "%mlops features ls")
    table = result.result
    assert ["entity", "card", "join keys: card_id"] in table.rows
    assert {r[1] for r in table.rows} == {"card", "card_daily", "fraud_v1"}

    result, shown = run(shell, capsys, "%mlops features apply --data-ref $data_commit")
    assert result.error_in_exec is None, shown
    assert "1 feature views" in shown and shell.user_ns["data_commit"][:12] in shown

    result, shown = run(
        shell, capsys, "df = %mlops features get labels --features fraud_v1 --data-ref $data_commit"
    )
    assert result.error_in_exec is None, shown
    df = shell.user_ns["df"]
    assert {"spend_7d", "txn_count_7d", "avg_amount_7d", "max_amount_7d"} <= set(df.columns)
    assert 0 < len(df) <= 300

    result, shown = run(
        shell, capsys, "%mlops features materialize --start 2025-12-01 --end 2026-04-01"
    )
    assert result.error_in_exec is None, shown
    # one view at a time: the panel's record counts views done, the notebook showed a line
    root = shell.magics_manager.registry["MLOps"].lab.root
    (done,) = [p for p in progress.recent(root) if p.operation == "materialize"][:1]
    assert (done.state, done.done, done.total, done.unit) == ("succeeded", 1, 1, "views")
    assert done.label == "materialized card_daily"
    assert "materialized card_daily" in shown
    result, shown = run(
        shell, capsys, "%mlops features online card_id=1,2 --features card_daily:spend_7d"
    )
    assert result.error_in_exec is None, shown
    online = result.result
    assert list(online["card_id"]) == [1, 2]
    assert online["spend_7d"].notna().all()
    # The online value is the last day's aggregate in the committed data.
    rows = shell.user_ns["labels"]  # noqa: F841 - the frame stays in the namespace
    lab = shell.magics_manager.registry["MLOps"].lab
    data = lab.data.read_table("fraud/card_features.parquet", shell.user_ns["data_commit"])
    last = data.sort_values("event_timestamp").groupby("card_id").tail(1).set_index("card_id")
    assert list(online["spend_7d"]) == [last.loc[1, "spend_7d"], last.loc[2, "spend_7d"]]


@pytest.mark.parametrize(
    ("line", "kind", "message"),
    [
        (
            "%mlops features get labels --features card_daily:nope",
            NotFoundError,
            "NotFoundError: feature view 'card_daily' has no feature 'nope'; it has: spend_7d, "
            "txn_count_7d, avg_amount_7d, max_amount_7d",
        ),
        (
            "%mlops features get labels --features nope:spend_7d",
            NotFoundError,
            "NotFoundError: unknown feature view 'nope'; known: card_daily "
            "(see %mlops features ls)",
        ),
        (
            "%mlops features get no_time --features fraud_v1",
            UsageError,
            "UsageError: the entity frame has no 'event_timestamp' column; add each row's label "
            "time so the join is point-in-time",
        ),
        (
            "%mlops features get missing --features fraud_v1",
            UsageError,
            "UsageError: no variable named 'missing' in the notebook; define it first",
        ),
        (
            "%mlops features online card_id= --features fraud_v1",
            UsageError,
            "UsageError: 'card_id=' is not KEY=V1,V2; e.g. card_id=1,2,3",
        ),
        (
            "%mlops features get labels",
            UsageError,
            "UsageError: %mlops features get: the following arguments are required: --features; "
            "see %mlops help features",
        ),
    ],
)
def test_bad_input_is_one_line(
    shell: Any, capsys: pytest.CaptureFixture[str], line: str, kind: type[LabError], message: str
) -> None:
    result, shown = run(shell, capsys, line)
    one_line(result, shown, message, kind)


def test_api_bad_input(fraud_lab: dict[str, Any]) -> None:
    features = fraud_lab["lab"].features
    frame = pd.DataFrame({"card_id": [1], "event_timestamp": ["2026-01-05"]})
    with pytest.raises(UsageError, match="holds object, not timestamps"):
        features.historical(frame, "fraud_v1")
    frame = pd.DataFrame({"event_timestamp": pd.to_datetime(["2026-01-05"], utc=True)})
    with pytest.raises(UsageError, match="lacks join key column"):
        features.historical(frame, "fraud_v1")
    with pytest.raises(UsageError, match="must be a pandas DataFrame"):
        features.historical([{"card_id": 1}], "fraud_v1")
    with pytest.raises(NotFoundError, match="unknown feature view 'nope'"):
        features.online([{"card_id": 1}], ["nope:x"])
    with pytest.raises(UsageError, match=r"start .* is not before end"):
        features.materialize("2026-02-01", "2026-01-01")
    with pytest.raises(NotFoundError):
        features.historical(
            pd.DataFrame(
                {"card_id": [1], "event_timestamp": pd.to_datetime(["2026-01-05"], utc=True)}
            ),
            "fraud_v1",
            data_ref="no-such-branch",
        )


def test_init_scaffolds_the_feature_repo_once(project: Any) -> None:
    repo = project.root / "feature_repo"
    assert (repo / "feature_store.yaml").is_file() and (repo / "features.py").is_file()
    assert project.status()["features"].reachable
    (repo / "features.py").write_text("# mine\n", encoding="utf-8")
    result = project.init()
    assert "feature_repo/" in result.unchanged
    assert (repo / "features.py").read_text(encoding="utf-8") == "# mine\n"
