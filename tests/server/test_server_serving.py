"""The Endpoints routes over a real in-process Jupyter server: the user's mistakes answer a
4xx with one line and change nothing (the deploys themselves are driven on a real Ray Serve
endpoint by the browser test, tests/ui/specs/endpoints.spec.ts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlops_lab.server.routes import ROUTES


def error(response: Any) -> dict[str, str]:
    found: dict[str, str] = json.loads(response.body)["error"]
    assert "\n" not in found["message"]
    return found


def test_the_endpoint_changes_are_authenticated_post_routes() -> None:
    posts = {r.pattern.rsplit("/", 1)[-1] for r in ROUTES if r.methods == ("POST",)}
    assert {"deploy", "weight", "promote", "rollback"} <= posts
    assert any(r.pattern == "serving/endpoints" and r.methods == ("GET",) for r in ROUTES)


async def test_a_project_without_endpoints_lists_none(api: Any) -> None:
    response = await api("serving/endpoints")
    assert response.code == 200, response.body
    assert json.loads(response.body) == {"endpoints": []}


async def test_a_weight_outside_0_to_100_is_a_400_naming_the_field(api: Any) -> None:
    response = await api("serving/endpoints/fraud/weight", "POST", body={"weight": 150})
    assert response.code == 400
    assert "weight: Input should be less than or equal to 100" in error(response)["message"]
    missing = await api("serving/endpoints/fraud/deploy", "POST", body={"canary": 10})
    assert missing.code == 400
    assert "model: Field required" in error(missing)["message"]


async def test_an_unknown_endpoint_is_a_404_and_records_nothing(
    api: Any, jp_root_dir: Path
) -> None:
    for action in ("promote", "rollback"):
        response = await api(f"serving/endpoints/fraud/{action}", "POST")
        assert response.code == 404
        assert error(response) == {
            "kind": "NotFoundError",
            "message": "no endpoint named 'fraud' is deployed; see %mlops endpoints",
        }
    weight = await api("serving/endpoints/fraud/weight", "POST", body={"weight": 20})
    assert weight.code == 404
    assert not list((jp_root_dir / ".mlops" / "serving").glob("endpoints/*.json"))


async def test_an_unknown_model_is_a_404(api: Any) -> None:
    response = await api(
        "serving/endpoints/fraud/deploy", "POST", body={"model": "nosuch/1", "canary": 10}
    )
    assert response.code == 404
    assert "nosuch" in error(response)["message"]
