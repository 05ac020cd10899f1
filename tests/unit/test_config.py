from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import pytest

from mlops_lab import config
from mlops_lab.errors import ConfigError, LabError, NotFoundError, SecretInConfigError


def write(root: Path, text: str) -> Path:
    path = root / "mlops.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_found_by_walking_up(tmp_path: Path) -> None:
    write(tmp_path, '[tracking]\nexperiment = "fraud"\n')
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    loaded = config.load(deep, env={})
    assert loaded.root == tmp_path
    assert loaded.file == tmp_path / "mlops.toml"
    assert loaded.tracking.experiment == "fraud"
    assert loaded.data.backend == "local"  # missing sections are the embedded defaults


def test_no_file_means_embedded_defaults_here(tmp_path: Path) -> None:
    loaded = config.load(tmp_path, env={})
    assert loaded.file is None and loaded.root == tmp_path
    assert loaded.tracking.uri == "sqlite:///.mlops/mlflow.db"
    assert loaded.notice() == (
        f"No mlops.toml found in {tmp_path} or any parent; using embedded defaults in "
        f"{tmp_path}. Run `mlops-lab init` to create one."
    )


def test_malformed_toml_names_file_line_column(tmp_path: Path) -> None:
    path = write(tmp_path, '[data]\nbackend = "local"\npath = \n')
    with pytest.raises(ConfigError) as info:
        config.load(tmp_path, env={})
    assert str(info.value) == f"{path}:3:8: invalid TOML: Invalid value; fix the file and retry"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[trainig]\n", "unknown section [trainig]; did you mean 'training'?"),
        (
            '[data]\nbackendd = "local"\n',
            "unknown key 'backendd' in [data]; did you mean 'backend'?",
        ),
        (
            "[tracking]\nzzz = 1\n",
            "unknown key 'zzz' in [tracking]; known: artifacts, experiment, ui, uri",
        ),
        (
            '[training]\ndashboard_port = "abc"\n',
            "[training] dashboard_port must be a int, got 'abc'",
        ),
    ],
)
def test_unknown_or_wrong_keys(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        config.load(tmp_path, env={})
    assert str(info.value) == f"{path}: {expected}"


@pytest.mark.parametrize(
    ("section", "key", "home"),
    [
        (
            "data",
            "secret_access_key",
            "LAKECTL_CREDENTIALS_ACCESS_KEY_ID / LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY",
        ),
        (
            "tracking",
            "token",
            "MLFLOW_TRACKING_TOKEN (or MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD)",
        ),
        (
            "kubernetes",
            "password",
            "your kubeconfig (KUBECONFIG) and Kubernetes Secrets via secretKeyRef",
        ),
        (
            "data",
            "apikey",
            "LAKECTL_CREDENTIALS_ACCESS_KEY_ID / LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY",
        ),
    ],
)
def test_secret_in_file_is_refused(tmp_path: Path, section: str, key: str, home: str) -> None:
    path = write(tmp_path, f'[{section}]\n{key} = "hunter2"\n')
    with pytest.raises(SecretInConfigError) as info:
        config.load(tmp_path, env={})
    message = str(info.value)
    assert message == (
        f"{path}: [{section}] {key} looks like a secret and secrets are never read from "
        f"mlops.toml; remove it and set {home} instead"
    )
    assert "hunter2" not in message


def test_ecosystem_variables_override_the_file(tmp_path: Path) -> None:
    write(tmp_path, '[tracking]\nuri = "sqlite:///other.db"\n')
    env = {
        "MLFLOW_TRACKING_URI": "http://mlflow:5000",
        "LAKECTL_SERVER_ENDPOINT_URL": "http://lakefs:8000",
        "RAY_ADDRESS": "http://ray-head:8265",
        "KUBECONFIG": "/tmp/kc",
        "MLOPS_DATA_BACKEND": "lakefs",
        "MLOPS_DRIFT_THRESHOLD": "0.5",
    }
    loaded = config.load(tmp_path, env=env)
    assert loaded.tracking.uri == "http://mlflow:5000"
    assert loaded.data.endpoint == "http://lakefs:8000"
    assert loaded.data.backend == "lakefs"
    assert loaded.training.address == "http://ray-head:8265"
    assert loaded.training.backend == "ray-remote"
    assert loaded.kubernetes.kubeconfig == "/tmp/kc"
    assert loaded.drift.threshold == 0.5
    assert loaded.overrides["tracking.uri"] == "MLFLOW_TRACKING_URI"


def test_ray_address_does_not_override_kubernetes_backend(tmp_path: Path) -> None:
    write(tmp_path, '[training]\nbackend = "kubernetes"\n')
    loaded = config.load(tmp_path, env={"RAY_ADDRESS": "http://x:8265"})
    assert loaded.training.backend == "kubernetes"


def test_default_file_round_trips(tmp_path: Path) -> None:
    write(tmp_path, config.render_default())
    loaded = config.load(tmp_path, env={})
    assert loaded.file is not None
    defaults = config.Config(root=tmp_path, file=None)
    for name in config.SECTIONS:
        assert getattr(loaded, name) == getattr(defaults, name)


def test_every_key_is_documented_in_the_default_file() -> None:
    text = config.render_default()
    for name, cls in config.SECTIONS.items():
        assert f"[{name}]" in text
        for field in (f.name for f in dataclasses.fields(cls)):
            assert f"# {field} = " in text


def test_errors_pickle_with_their_fields() -> None:
    error = NotFoundError("branch 'x' not found; list them with %mlops data branches", ref="x")
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is NotFoundError and str(clone) == str(error)
    assert clone.fields == {"ref": "x"}
    assert isinstance(clone, LabError) and clone.http_status == 404


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[training]\ndashboard_port = 80.5\n", "[training] dashboard_port must be a int"),
        ("[training]\ndashboard_port = 70000\n", "[training] dashboard_port must be a port"),
        ('[serving]\nbackend = "slurm"\n', "unknown serving backend 'slurm'; use one of"),
        ('[data]\nbackend = "s3"\n', "[data] backend = 's3' is not known; known: local, lakefs"),
        ('[data]\ndefault_branch = "../x"\n', "[data] default_branch: invalid branch name"),
    ],
)
def test_values_checked_when_the_project_opens(tmp_path: Path, text: str, expected: str) -> None:
    import mlops_lab

    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        mlops_lab.connect(tmp_path)
    assert str(info.value).startswith(str(path)) and expected in str(info.value)
    assert "\n" not in str(info.value)


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "mlops.toml").write_bytes(b'\xef\xbb\xbf[tracking]\nexperiment = "bom"\n')
    assert config.load(tmp_path, env={}).tracking.experiment == "bom"


def test_non_utf8_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "mlops.toml"
    path.write_bytes(b'[tracking]\nexperiment = "caf\xe9"\n')
    with pytest.raises(ConfigError) as info:
        config.load(tmp_path, env={})
    assert str(info.value) == f"{path} is not UTF-8 text (byte 28); save it as UTF-8 and retry"


NOBODY = 65534


def test_unsearchable_parent_during_walk_up_is_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    locked = tmp_path / "locked"
    deep = locked / "a"
    deep.mkdir(parents=True)
    locked.chmod(0o700)  # root's; the walk below runs as nobody from inside it
    code = (
        "import os\n"
        "from mlops_lab import config\n"
        "from mlops_lab.errors import LabError\n"
        f"os.chdir({str(deep)!r}); os.setgid({NOBODY}); os.setuid({NOBODY})\n"
        "try:\n    config.load(env={})\n"
        "except LabError as exc:\n    print(exc.one_line())\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(root), "HOME": str(tmp_path)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        f"ConfigError: cannot look for {deep} (Permission denied); run from a "
        "folder you can read, or pass the project folder explicitly\n"
    )


def test_file_of_another_user_above_is_refused_until_trusted(tmp_path: Path) -> None:
    import os

    path = write(tmp_path, '[tracking]\nuri = "http://attacker.example:5000"\n')
    os.chown(path, NOBODY, NOBODY)
    deep = tmp_path / "mine"
    deep.mkdir()
    with pytest.raises(ConfigError) as info:
        config.load(deep, env={})
    assert str(info.value) == (
        f"{path} belongs to another user (uid {NOBODY}) and was found above the working folder; "
        f"refusing it. If you trust it, add {tmp_path} to MLOPS_SAFE_DIRECTORIES or to "
        "~/.config/mlops-lab/safe_directories"
    )
    trusted = config.load(deep, env={"MLOPS_SAFE_DIRECTORIES": str(tmp_path)})
    assert trusted.tracking.uri == "http://attacker.example:5000"
    # Opened on purpose (the folder itself, not found by walking up), it is read.
    assert config.load(tmp_path, env={}).file == path
