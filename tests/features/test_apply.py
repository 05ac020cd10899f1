"""`apply()` keeps the registry equal to the repository's definitions."""

from __future__ import annotations

from typing import Any

import pytest

import mlops_lab
from mlops_lab.errors import NotFoundError, UsageError
from mlops_lab.examples import fraud


def test_apply_removes_what_is_no_longer_defined_and_reports_bad_files(project: Any) -> None:
    tx = fraud.make_transactions(400, 3)
    project.data.write_table(fraud.card_features(tx), "fraud/card_features.parquet")
    commit = project.data.commit(message="small")
    first = project.features.apply()
    assert first.services == ("fraud_v1",) and first.data_commit == commit

    other = mlops_lab.connect(project.root)  # another kernel on the same project
    assert other.features.online([{"card_id": 1}], "fraud_v1").shape[0] == 1

    definitions = project.root / "feature_repo" / "features.py"
    text = definitions.read_text(encoding="utf-8")
    cut = text.index("fraud_v1 = FeatureService(")
    definitions.write_text(text[:cut], encoding="utf-8")
    second = project.features.apply()
    assert second.deleted == ("FeatureService fraud_v1",)
    assert project.features.list().services == {}
    for lab in (project, other):  # the other kernel sees the change at once
        with pytest.raises(NotFoundError, match="unknown feature view 'fraud_v1'"):
            lab.features.online([{"card_id": 1}], "fraud_v1")

    definitions.write_text(text[:cut] + "\nbroken(\n", encoding="utf-8")
    with pytest.raises(UsageError) as caught:
        project.features.apply()
    assert str(caught.value).startswith(f"{definitions}: SyntaxError:")
    assert str(caught.value).endswith("; fix the definitions")
    assert project.features.list().views[0].name == "card_daily"  # registry untouched


def test_apply_without_data_says_what_to_do(project: Any) -> None:
    with pytest.raises(NotFoundError) as caught:
        project.features.apply()
    assert "fraud/card_features.parquet" in str(caught.value)
    assert "\n" not in str(caught.value)
