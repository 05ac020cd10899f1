"""The %mlops serving magics and the endpoints widget, on the module's Serve instance."""

from __future__ import annotations

import re
import shutil
from typing import Any

import pytest

import mlops_lab
from mlops_lab.errors import UnreachableError
from mlops_lab.lab import Lab
from tests.serving.conftest import make_frame

pytestmark = pytest.mark.timeout(600)


def test_magics_deploy_predict_promote_rollback(
    served: Lab, ipython: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    magics = ipython.magics_manager.registry["MLOps"]
    magics.project = str(served.root)
    run = lambda line: ipython.run_line_magic("mlops", line)  # noqa: E731
    run("deploy fraud@champion --endpoint fraud-m")
    run("deploy fraud@challenger --endpoint fraud-m --canary 25")
    out = capsys.readouterr().out
    assert "fraud-m revision 1: deploy -> fraud/1 100%" in out
    assert "fraud-m revision 2: canary -> fraud/1 75% / fraud/2 25% canary" in out
    ipython.user_ns["rows"] = make_frame(3, 2)
    table = run("predict fraud-m rows")
    assert len(table.rows) == 3 and "fraud-m: fraud/" in table.title
    listing = run("endpoints")
    assert [r[:5] for r in listing.rows if r[0] == "fraud-m"] == [
        ["fraud-m", "serving", "fraud/1", "stable", "75%"],
        ["fraud-m", "serving", "fraud/2", "canary", "25%"],
    ]
    assert any(n.startswith("Prometheus metrics: http://") for n in listing.notes)
    run("promote fraud-m")
    run("rollback fraud-m")
    history = run("endpoints fraud-m")
    assert [r[1] for r in history.rows] == ["rollback", "promote", "canary", "deploy"]
    run("undeploy fraud-m")
    assert "fraud-m revision 5: undeploy" in capsys.readouterr().out
    served.models.set_alias("fraud", "champion", 1)


def test_widget_buttons_confirm_and_disable_while_in_flight(served: Lab) -> None:
    from mlops_lab.widgets.endpoints import EndpointsWidget

    served.serving.deploy("fraud/1", endpoint="fraud-w")
    widget = EndpointsWidget(served, endpoint="fraud-w")
    assert widget.endpoint.value == "fraud-w"
    assert "fraud/1" in widget.table.value and "100%" in widget.table.value
    widget.version.value = "fraud/2"
    widget.canary.value = 20
    widget.ask_deploy()
    assert widget.confirm_box.layout.display == "flex" and "20% canary" in widget.confirm_text.value
    assert served.serving.revisions("fraud-w")[-1].number == 1  # nothing before confirming
    widget.confirm()
    assert widget.deploy_button.disabled and widget.promote_button.disabled
    widget.wait(120)
    assert not widget.deploy_button.disabled
    assert "revision 2: canary" in widget.message.value
    assert "canary" in widget.table.value and "20%" in widget.table.value
    # its drift beside it (no traffic yet: the line says so)
    shown = re.sub(r"<[^>]+>", "", widget.drift.value)
    assert "canary fraud/2 drift (last 1h, 0 requests)" in shown
    widget.ask_promote()
    widget.confirm()
    widget.wait(120)
    assert "revision 3: promote" in widget.message.value
    widget.ask_rollback()
    widget.cancel()
    assert served.serving.revisions("fraud-w")[-1].action == "promote"
    widget.ask_rollback()
    widget.confirm()
    widget.wait(120)
    assert "revision 4: rollback" in widget.message.value
    widget.ask_weight()
    widget.confirm()
    widget.wait(120)
    assert "has no canary" in widget.message.value and "color:#cf222e" in widget.message.value
    served.serving.undeploy("fraud-w")


def test_head_down_is_one_line(served: Lab, tmp_path: Any) -> None:
    """A project whose recorded head is gone: status says down, predict one line."""
    root = tmp_path / "other"
    shutil.copytree(served.root, root, ignore=shutil.ignore_patterns("mlruns", "*.db"))
    other = mlops_lab.connect(root)
    head = root / ".mlops" / "ray" / "head.json"
    head.write_text('{"dashboard_url": "http://127.0.0.1:9"}', encoding="utf-8")
    (root / ".mlops" / "serving" / "endpoints").mkdir(parents=True, exist_ok=True)
    served.serving.deploy("fraud/1", endpoint="fraud-x")
    shutil.copy(
        served.serving.state_dir / "endpoints" / "fraud-x.json",
        root / ".mlops" / "serving" / "endpoints" / "fraud-x.json",
    )
    status = other.serving.status("fraud-x")
    assert status.state == "down" and "not running" in status.detail
    with pytest.raises(UnreachableError) as caught:
        other.serving.predict("fraud-x", {"amount": 1.0})
    assert "\n" not in str(caught.value) and "%mlops ray up" in str(caught.value)
    served.serving.undeploy("fraud-x")
