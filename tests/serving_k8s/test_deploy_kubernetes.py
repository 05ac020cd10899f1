"""`--on kubernetes` end to end: `lab.serving`, `%mlops` and `mlops-lab` deploy, change and
remove endpoints as KubeRay RayServices through a real kubeconfig against the Kubernetes API
mock (tests/kube_mock.py), with the registry in the project's own MLflow store. No Ray head:
the cluster's replicas are not run here, the objects the API server keeps are checked."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

import mlops_lab
from mlops_lab import lineage
from mlops_lab.backends.k8s.credentials import CREDENTIAL_VARIABLES
from mlops_lab.backends.k8s.validation import validate
from mlops_lab.cli import main
from mlops_lab.errors import (
    ConflictError,
    LabError,
    NotFoundError,
    UnreachableError,
    UsageError,
)
from mlops_lab.lab import Lab

# The project's MLflow store is a local file the cluster cannot reach: warned on every change.
pytestmark = pytest.mark.filterwarnings("ignore::mlops_lab.backends.training.kuberay.ReachWarning")

NAMESPACE = "ml"
SENTINEL = "planted-secret-5e1d"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, kube: Any) -> Path:
    """A project whose [kubernetes] section names the mock's kubeconfig, and a registered
    model: fraud/1 @champion, fraud/2 @challenger, fraud/3."""
    root = tmp_path_factory.mktemp("k8s") / "project"
    root.mkdir()
    kubeconfig = kube.kubeconfig(root.parent / "kubeconfig")
    lab = mlops_lab.connect(root)
    lab.init()
    toml = root / "mlops.toml"
    text = toml.read_text(encoding="utf-8").replace(
        "[kubernetes]\n",
        f'[kubernetes]\nnamespace = "{NAMESPACE}"\nimage = "ghcr.io/acme/mlops-lab:1.0"\n'
        f'credentials = "mlops-credentials"\nkubeconfig = "{kubeconfig}"\n',
    )
    toml.write_text(text, encoding="utf-8")
    lab = mlops_lab.connect(root)
    client = lab.tracking.client
    client.create_registered_model("fraud")
    for number in (1, 2, 3):
        client.create_model_version("fraud", f"s3://models/fraud/{number}")
    client.set_registered_model_alias("fraud", "champion", "1")
    client.set_registered_model_alias("fraud", "challenger", "2")
    return root


@pytest.fixture
def lab(root: Path, specs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    monkeypatch.chdir(root)
    monkeypatch.setenv("MLOPS_SPECS_DIR", str(specs_dir))  # manifests checked before sending
    lab = mlops_lab.connect(root)
    yield lab
    lab.models.set_alias("fraud", "champion", 1)


def stored(kube: Any, name: str) -> dict[str, Any] | None:
    """The RayService the API server holds, None when there is none."""
    for (resource, namespace, found), obj in kube.objects().items():
        if found == name and namespace == NAMESPACE and "rayservices" in str(resource):
            return None if obj.deleted else dict(obj.raw)
    return None


def serve_config(obj: dict[str, Any]) -> dict[str, Any]:
    return dict(yaml.safe_load(obj["spec"]["serveConfigV2"]))


def user_config(obj: dict[str, Any]) -> dict[str, Any]:
    return dict(serve_config(obj)["applications"][0]["deployments"][0]["user_config"])


def without_user_config(obj: dict[str, Any]) -> dict[str, Any]:
    config = serve_config(obj)
    config["applications"][0]["deployments"][0].pop("user_config")
    return {"serve": config, "cluster": obj["spec"]["rayClusterConfig"]}


def split(obj: dict[str, Any]) -> tuple[str, str | None, int]:
    config = user_config(obj)
    canary = config["canary"]["version"] if config["canary"] else None
    return config["stable"]["version"], canary, config["canary_weight"]


def one_line(exc: pytest.ExceptionInfo[LabError], *words: str) -> None:
    text = str(exc.value)
    assert "\n" not in text and all(w in text for w in words), text


def test_deploy_canary_weight_promote_rollback_undeploy_patch_one_rayservice(
    lab: Lab, kube: Any, specs_dir: Path
) -> None:
    serving = lab.serving
    first = serving.deploy("fraud@champion", endpoint="fraud-k", on="kubernetes")
    created = stored(kube, "fraud-k")
    assert created is not None and first.number == 1 and split(created) == ("1", None, 0)
    uid = created["metadata"]["uid"]
    validate(created, specs_dir / "kuberay" / "ray.io_rayservices.yaml")
    assert serving.deploy("fraud@champion", endpoint="fraud-k", on="kubernetes") == first
    assert stored(kube, "fraud-k") == created  # a repeat changes nothing, not even a patch

    # later changes go where the endpoint lives: no `on` needed
    steps = [
        (lambda: serving.deploy("fraud@challenger", endpoint="fraud-k", canary=10), "canary",
         ("1", "2", 10)),
        (lambda: serving.set_weight("fraud-k", 30), "set-weight", ("1", "2", 30)),
        (lambda: serving.promote("fraud-k"), "promote", ("2", None, 0)),
        (lambda: serving.rollback("fraud-k"), "rollback", ("1", None, 0)),
    ]  # fmt: skip
    for number, (change, action, expected) in enumerate(steps, start=2):
        revision = change()
        again = change()  # the same request twice, or a second click: one revision
        assert (revision.number, revision.action, again.number) == (number, action, number)
        obj = stored(kube, "fraud-k")
        assert obj is not None and split(obj) == expected
        assert obj["metadata"]["uid"] == uid  # patched in place, never a new cluster
        assert without_user_config(obj) == without_user_config(created)
        assert obj["metadata"]["annotations"]["mlops.deploy.revision"] == str(number)
        assert user_config(obj)["revision"] == number
        if action == "promote":
            assert lab.models.get("fraud@champion").version == 2
    assert lab.models.get("fraud@champion").version == 1
    assert [r.action for r in serving.revisions("fraud-k")] == [
        "deploy", "canary", "set-weight", "promote", "rollback",
    ]  # fmt: skip

    # status and endpoints() read the cluster back: pending until KubeRay reports Ready
    status = serving.status("fraud-k")
    assert status.state == "pending" and "not reported" in status.detail
    assert status.url == f"http://fraud-k-serve-svc.{NAMESPACE}.svc.cluster.local:8000/fraud-k"
    key = next(k for k in kube.handler.objects if k[2] == "fraud-k")
    kube.handler.objects[key].patch(
        {"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Ok"}]}}
    )
    [listed] = [s for s in serving.endpoints() if s.endpoint == "fraud-k"]
    assert listed.state == "serving" and listed.revision is not None
    assert listed.revision.number == 5 and listed.detail == ""

    tag = lab.models.get("fraud/1").lineage[lineage.DEPLOY_REVISION]
    assert tag == "fraud-k/r5"
    walked = lab.lineage("fraud@champion")
    assert {"kind": "deployment", "id": "fraud-k/r5", "detail": "serves fraud/1"} in (
        walked.used_by
    )

    removed = serving.undeploy("fraud-k")
    assert removed.number == 6 and stored(kube, "fraud-k") is None
    assert serving.status("fraud-k").state == "removed"
    # deployed again: a new RayService
    serving.deploy("fraud/3", endpoint="fraud-k", on="kubernetes")
    again = stored(kube, "fraud-k")
    assert again is not None and again["metadata"]["uid"] != uid and split(again)[0] == "3"
    serving.undeploy("fraud-k")


def test_magics_and_cli(
    lab: Lab, kube: Any, ipython: Any, capsys: pytest.CaptureFixture[str], specs_dir: Path
) -> None:
    ipython.magics_manager.registry["MLOps"].project = str(lab.root)
    run = lambda line: ipython.run_line_magic("mlops", line)  # noqa: E731
    run("deploy fraud@champion --endpoint fraud-m --on kubernetes")
    run("deploy fraud@challenger --endpoint fraud-m --canary 20")
    out = capsys.readouterr().out
    assert "fraud-m revision 1: deploy -> fraud/1 100%" in out
    assert "fraud-m revision 2: canary -> fraud/1 80% / fraud/2 20% canary" in out
    obj = stored(kube, "fraud-m")
    assert obj is not None and split(obj) == ("1", "2", 20)
    uid = obj["metadata"]["uid"]

    cli = CliRunner()
    result = cli.invoke(main, ["promote", "fraud-m"])
    assert result.exit_code == 0, result.output
    assert "fraud-m revision 3: promote" in result.output
    obj = stored(kube, "fraud-m")
    assert obj is not None and split(obj) == ("2", None, 0) and obj["metadata"]["uid"] == uid
    walked = run("lineage fraud@champion")
    assert "revision fraud-m/r3" in walked._repr_html_()

    # --dry-run: the manifest of the change, valid against the CRD; nothing changes
    result = cli.invoke(
        main, ["deploy", "fraud/3", "--endpoint", "fraud-m", "--canary", "5", "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    manifest = yaml.safe_load(result.output)
    validate(manifest, specs_dir / "kuberay" / "ray.io_rayservices.yaml")
    assert split(manifest) == ("2", "3", 5) and user_config(manifest)["revision"] == 4
    assert stored(kube, "fraud-m") == obj and len(lab.serving.revisions("fraud-m")) == 3

    result = cli.invoke(main, ["rollback", "fraud-m"])
    assert result.exit_code == 0 and "fraud-m revision 4: rollback" in result.output
    listing = run("endpoints")
    assert [r[:4] for r in listing.rows if r[0] == "fraud-m"] == [
        ["fraud-m", "pending", "fraud/1", "stable"]
    ]
    result = cli.invoke(main, ["undeploy", "fraud-m"])
    assert result.exit_code == 0, result.output
    assert stored(kube, "fraud-m") is None


def test_dry_run_yaml_ships_no_secret(
    lab: Lab,
    kube: Any,
    specs_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for variable in CREDENTIAL_VARIABLES:
        monkeypatch.setenv(variable, SENTINEL)
    planned = lab.serving.deploy("fraud@challenger", endpoint="fraud-d", on="k8s", dry_run=True)
    assert (planned.number, planned.action) == (1, "deploy")
    text = capsys.readouterr().out
    assert SENTINEL not in text
    manifest = yaml.safe_load(text)
    validate(manifest, specs_dir / "kuberay" / "ray.io_rayservices.yaml")
    assert manifest["kind"] == "RayService" and manifest["metadata"]["namespace"] == NAMESPACE
    assert split(manifest) == ("2", None, 0)
    env = manifest["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][
        0
    ]["env"]
    assert {e["name"] for e in env} == set(CREDENTIAL_VARIABLES)
    assert all(e["valueFrom"]["secretKeyRef"]["name"] == "mlops-credentials" for e in env)
    assert stored(kube, "fraud-d") is None
    with pytest.raises(NotFoundError):
        lab.serving.revisions("fraud-d")
    with pytest.raises(UsageError) as caught:
        lab.serving.deploy("fraud@challenger", endpoint="fraud-d", on="local", dry_run=True)
    one_line(caught, "--dry-run", "--on kubernetes")


@pytest.fixture
def elsewhere() -> Iterator[str]:
    """An HTTP server that knows no model version (404 to everything): the tracking server
    the project moves to below, as far as this test needs one."""

    class NotHere(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(404)

        do_POST = do_PATCH = do_GET

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotHere)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_port}"
    server.shutdown()


def test_tracking_uri_credentials_stay_out_of_the_cluster(
    lab: Lab, kube: Any, elsewhere: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab.serving.deploy("fraud@champion", endpoint="fraud-s", on="kubernetes")
    lab.serving.deploy("fraud@challenger", endpoint="fraud-s", canary=10)
    # The project moves to a tracking server whose URI carries a password and a token; the
    # change below reads no model (tagging the versions is best effort).
    uri = f"http://dev:{SENTINEL}@{elsewhere}/?token={SENTINEL}&team=ml"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    moved = mlops_lab.connect(lab.root)
    assert moved.serving.set_weight("fraud-s", 50).number == 3
    obj = stored(kube, "fraud-s")
    assert obj is not None and split(obj) == ("1", "2", 50)
    assert SENTINEL not in str(obj) and SENTINEL not in str(kube.objects())
    assert user_config(obj)["tracking_uri"] == f"http://{elsewhere}/?team=ml"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    lab.serving.undeploy("fraud-s")


def test_bad_input_is_one_line_and_changes_nothing(
    lab: Lab, kube: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serving = lab.serving
    serving.deploy("fraud@champion", endpoint="fraud-b", on="kubernetes")
    serving.deploy("fraud@challenger", endpoint="fraud-b", canary=10)
    before = stored(kube, "fraud-b")

    def unchanged() -> None:
        assert stored(kube, "fraud-b") == before
        assert [r.number for r in serving.revisions("fraud-b")] == [1, 2]

    for weight in (101, -1, "lots"):
        with pytest.raises(UsageError) as caught:
            serving.set_weight("fraud-b", weight)  # type: ignore[arg-type]
        one_line(caught, str(weight))
        unchanged()
    with pytest.raises(UsageError) as caught:
        serving.deploy("fraud/3", endpoint="fraud-b", canary=150)
    one_line(caught, "150")
    unchanged()
    with pytest.raises(ConflictError) as caught:  # a live endpoint stays where it is
        serving.deploy("fraud/3", endpoint="fraud-b", on="local")
    one_line(caught, "served by rayservice", "%mlops undeploy fraud-b")
    unchanged()

    # an endpoint the cluster does not know
    with pytest.raises(NotFoundError) as caught:
        serving.set_weight("nowhere", 20)
    one_line(caught, "nowhere")

    # the API answers 422: an admission policy denies the change
    kube.refuse(NAMESPACE, 422, "Invalid", "rayservices are frozen in ml by policy no-friday")
    try:
        with pytest.raises(UsageError) as caught:
            serving.promote("fraud-b")
    finally:
        kube.handler.refusals.clear()
    one_line(caught, "Kubernetes rejected", "no-friday")
    unchanged()
    assert lab.models.get("fraud@champion").version == 1  # nor the alias

    # the API answers 409: a RayService of that name that this project did not make
    foreign = {**before, "metadata": {"name": "fraud-x", "namespace": NAMESPACE}}
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=lab.config.kubernetes.kubeconfig)
    custom = client.CustomObjectsApi(api)
    custom.create_namespaced_custom_object("ray.io", "v1", NAMESPACE, "rayservices", foreign)
    with pytest.raises(ConflictError) as caught:
        serving.deploy("fraud@champion", endpoint="fraud-x", on="kubernetes")
    one_line(caught, "already exists", "choose another --endpoint")
    assert user_config(stored(kube, "fraud-x") or {}) == user_config(before)
    with pytest.raises(NotFoundError):
        serving.revisions("fraud-x")
    custom.delete_namespaced_custom_object("ray.io", "v1", NAMESPACE, "rayservices", "fraud-x")

    # the endpoint's RayService deleted outside the lab: refused, not re-created
    custom.delete_namespaced_custom_object("ray.io", "v1", NAMESPACE, "rayservices", "fraud-b")
    with pytest.raises(NotFoundError) as caught:
        serving.set_weight("fraud-b", 40)
    one_line(caught, "gone from the cluster", "%mlops undeploy fraud-b")
    assert stored(kube, "fraud-b") is None and len(serving.revisions("fraud-b")) == 2
    assert serving.status("fraud-b").state == "stopped"
    serving.undeploy("fraud-b")  # forgets it
    assert serving.status("fraud-b").state == "removed"

    # the cluster unreachable
    serving.deploy("fraud@champion", endpoint="fraud-u", on="kubernetes")
    serving.deploy("fraud@challenger", endpoint="fraud-u", canary=10)
    dead = tmp_path / "kubeconfig"
    dead.write_text(
        Path(lab.config.kubernetes.kubeconfig).read_text().replace(kube.url, "http://127.0.0.1:9")
    )
    monkeypatch.setenv("KUBECONFIG", str(dead))
    down = mlops_lab.connect(lab.root)
    with pytest.raises(UnreachableError) as caught:
        down.serving.set_weight("fraud-u", 20)
    one_line(caught, "unreachable")
    with pytest.raises(UnreachableError):
        down.serving.deploy("fraud/3", endpoint="fraud-u")
    assert down.serving.status("fraud-u").state == "down"
    assert len(down.serving.revisions("fraud-u")) == 2
    monkeypatch.delenv("KUBECONFIG")
    serving.undeploy("fraud-u")


def test_the_drift_policy_says_it_does_not_check_a_kubernetes_canary(
    lab: Lab, kube: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``[serving] rollback_on_drift`` is checked by a job on the lab's Ray head over the
    prediction log that only the head's endpoints write: a canary on Kubernetes says so."""
    monkeypatch.setenv("MLOPS_SERVING_ROLLBACK_ON_DRIFT", "0.2")
    cli = CliRunner()
    stable = cli.invoke(main, ["deploy", "fraud/1", "--endpoint", "fraud-d", "--on", "k8s"])
    assert stable.exit_code == 0 and "rollback_on_drift" not in stable.output, stable.output
    canary = cli.invoke(main, ["deploy", "fraud/2", "--endpoint", "fraud-d", "--canary", "20"])
    assert canary.exit_code == 0, canary.output
    assert "fraud-d revision 2: canary -> fraud/1 80% / fraud/2 20% canary" in canary.output
    assert [line for line in canary.output.splitlines() if "rollback_on_drift" in line] == [
        "note: [serving] rollback_on_drift covers endpoints on the lab's Ray head only: "
        "'fraud-d' runs on Kubernetes, where its requests are not logged for the lab, so its "
        "canary is not checked for drift"
    ]
    assert cli.invoke(main, ["undeploy", "fraud-d"]).exit_code == 0
