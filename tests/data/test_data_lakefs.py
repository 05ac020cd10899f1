"""lakeFS only: the contract checking itself, and every failure lakeFS can answer with
mapped to one actionable line (credentials, protection, outages, timeouts)."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import urllib3
from conftest import ACCESS_KEY, SECRET_KEY, lakefs_env
from lakefs_server import LakeFSServer

import mlops_lab
from mlops_lab.backends.data import lakefs as lakefs_backend
from mlops_lab.errors import (
    AccessDeniedError,
    BackendError,
    ConfigError,
    UnreachableError,
)
from mlops_lab.lab import Lab


def _auth() -> dict[str, str]:
    token = base64.b64encode(f"{ACCESS_KEY}:{SECRET_KEY}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_server_rejects_requests_the_contract_forbids(lakefs_contract: Path) -> None:
    with LakeFSServer(lakefs_contract, ACCESS_KEY, SECRET_KEY) as server:
        server.create_repository("repo-a")
        http = urllib3.PoolManager()
        base = f"{server.endpoint}/api/v1/repositories/repo-a"
        # BranchCreation requires "source"
        bad_body = http.request(
            "POST",
            f"{base}/branches",
            body=json.dumps({"name": "x"}),
            headers={**_auth(), "Content-Type": "application/json"},
        )
        # amount must be an integer <= 1000
        bad_query = http.request("GET", f"{base}/branches?amount=5000", headers=_auth())
        # every operation requires authentication
        no_auth = http.request("GET", f"{base}/branches")
        # an operation that does not exist
        unknown = http.request("PATCH", f"{base}/branches/main", headers=_auth())
        good = http.request(
            "POST",
            f"{base}/branches",
            body=json.dumps({"name": "x", "source": "main"}),
            headers={**_auth(), "Content-Type": "application/json"},
        )
    assert [r.status for r in (bad_body, bad_query, no_auth, unknown)] == [400, 400, 400, 400]
    assert "contract" in json.loads(bad_body.data)["message"]
    assert len(server.violations) == 4
    assert "request POST /api/v1/repositories/repo-a/branches" in server.violations[0]
    assert good.status == 201 and len(server.violations) == 4
    assert set(server.repos["repo-a"].branches) == {"main", "x"}


def test_server_rejects_responses_the_contract_forbids(lakefs_contract: Path) -> None:
    class Broken(LakeFSServer):
        def op_getBranch(
            self, params: dict[str, Any], body: Any, repository: str, branch: str
        ) -> Any:
            from lakefs_server import _json

            return _json(200, {"id": branch})  # commit_id is required

    with Broken(lakefs_contract, ACCESS_KEY, SECRET_KEY) as server:
        server.create_repository("repo-b")
        response = urllib3.PoolManager().request(
            "GET", f"{server.endpoint}/api/v1/repositories/repo-b/branches/main", headers=_auth()
        )
    assert response.status == 500
    assert server.violations and server.violations[0].startswith("response 200 to GET")


def test_wrong_credentials_are_one_line_without_the_secret(
    project: Lab, lakefs_server: LakeFSServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    lakefs_server.create_repository("repo-creds")
    lakefs_env(
        monkeypatch, lakefs_server.endpoint, "repo-creds", key="someone", secret="s3cr3t-value"
    )
    lab = mlops_lab.connect(project.root)
    with pytest.raises(AccessDeniedError) as caught:
        lab.data.branches()
    message = str(caught.value)
    assert "401" in message and "LAKECTL_CREDENTIALS_ACCESS_KEY_ID" in message
    assert "s3cr3t-value" not in message and "\n" not in message
    assert "s3cr3t-value" not in repr(lab.data) + repr(lab.data.backend.__dict__.get("endpoint"))


def test_credentials_come_from_env_or_a_lakectl_file_never_from_mlops_toml(
    project: Lab, lakefs_server: LakeFSServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lakefs_server.create_repository("repo-file")
    monkeypatch.setenv("MLOPS_DATA_BACKEND", "lakefs")
    monkeypatch.setenv("MLOPS_DATA_REPOSITORY", "repo-file")
    with pytest.raises(ConfigError, match="no lakeFS credentials"):
        _ = mlops_lab.connect(project.root).data.backend
    lakectl = tmp_path / "lakectl.yaml"
    lakectl.write_text(
        f"credentials:\n  access_key_id: {ACCESS_KEY}\n  secret_access_key: {SECRET_KEY}\n"
        f"server:\n  endpoint_url: {lakefs_server.endpoint}\n"
    )
    monkeypatch.setenv("MLOPS_DATA_CREDENTIALS_FILE", str(lakectl))
    lab = mlops_lab.connect(project.root)
    assert [b.name for b in lab.data.branches()] == ["main"]
    monkeypatch.delenv("MLOPS_DATA_CREDENTIALS_FILE")
    monkeypatch.setenv("LAKEFS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("LAKEFS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("LAKEFS_ENDPOINT", lakefs_server.endpoint)
    assert [b.name for b in mlops_lab.connect(project.root).data.branches()] == ["main"]


def test_write_to_a_protected_branch_is_refused_and_stages_nothing(
    lakefs_lab: Lab, lakefs_server: LakeFSServer
) -> None:
    data = lakefs_lab.data
    data.create_branch("work")
    lakefs_server.protect(data.backend.repository, "main")  # set by an admin, outside the lab
    with pytest.raises(AccessDeniedError) as caught:
        data.write_table(pd.DataFrame({"a": [1]}), "a.parquet", "main")
    assert "protected" in str(caught.value) and "merge" in str(caught.value)
    assert list(data.diff("main")) == []
    # the way in is a merge
    data.write_table(pd.DataFrame({"a": [1]}), "a.parquet", "work")
    data.commit("work", "a")
    data.merge("work", "main")
    assert [o.path for o in data.ls("main")] == ["a.parquet"]


def test_server_failures_are_backend_errors(lakefs_lab: Lab, lakefs_server: LakeFSServer) -> None:
    lakefs_server.fail_next.append(503)
    with pytest.raises(BackendError, match="503"):
        lakefs_lab.data.branches()
    assert [b.name for b in lakefs_lab.data.branches()] == ["main"]


def test_unknown_repository_says_so(
    project: Lab, lakefs_server: LakeFSServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    lakefs_env(monkeypatch, lakefs_server.endpoint, "no-such-repo")
    with pytest.raises(mlops_lab.errors.NotFoundError, match="no-such-repo") as caught:
        mlops_lab.connect(project.root).data.branches()
    assert "lakectl repo create lakefs://no-such-repo" in str(caught.value)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """Accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


@pytest.mark.parametrize("kind", ["refused", "silent"])
def test_unreachable_lakefs_fails_within_five_seconds_naming_the_endpoint(
    project: Lab, monkeypatch: pytest.MonkeyPatch, silent_endpoint: str, kind: str
) -> None:
    endpoint = silent_endpoint if kind == "silent" else f"http://127.0.0.1:{_closed_port()}"
    lakefs_env(monkeypatch, endpoint, "repo")
    data = mlops_lab.connect(project.root).data
    started = time.monotonic()
    with pytest.raises(UnreachableError) as caught:
        data.write_table(
            pd.DataFrame({"a": [1]}), "a.parquet", "main"
        ) if kind == "refused" else data.branches()
    assert time.monotonic() - started <= 5.0
    assert endpoint in str(caught.value) and "\n" not in str(caught.value)


def test_listings_follow_pagination(
    lakefs_lab: Lab, monkeypatch: pytest.MonkeyPatch, lakefs_server: LakeFSServer
) -> None:
    monkeypatch.setattr(lakefs_backend, "PAGE", 2)
    data = lakefs_lab.data
    for i in range(5):
        data.write_file(f"{i}".encode(), f"p/{i}.txt")
        data.create_branch(f"b{i}")
    data.commit("main", "five files")
    assert [o.path for o in data.ls("main")] == [f"p/{i}.txt" for i in range(5)]
    assert len(data.branches()) == 6
    assert len(data.diff(data.log("main")[1].id, "main")) == 5
    assert len(data.log("main")) == 2
    pages = [r for r in lakefs_server.requests if "/objects/ls" in r]
    assert len(pages) >= 3


def test_official_sdk_reads_what_the_lab_wrote(lakefs_lab: Lab) -> None:
    """The repository is plain lakeFS: the high-level lakefs SDK sees the same commits."""
    import lakefs

    data = lakefs_lab.data
    data.write_table(pd.DataFrame({"a": [1, 2]}), "t.parquet")
    commit = data.commit("main", "t", metadata={"k": "v"})
    repo = lakefs.Repository(data.backend.repository, client=data.backend.client)
    ref = repo.ref(commit)
    assert ref.get_commit().metadata["k"] == "v"
    assert ref.object("t.parquet").stat().size_bytes == data.stat("t.parquet").size


def test_refusals_by_hooks_and_rate_limits_are_mapped(
    lakefs_lab: Lab, lakefs_server: LakeFSServer
) -> None:
    data = lakefs_lab.data
    data.write_file(b"x", "x.bin")
    lakefs_server.fail_next.append(412)
    with pytest.raises(AccessDeniedError, match="precondition failed"):
        data.commit("main", "blocked by a hook")
    lakefs_server.fail_next.append(429)
    with pytest.raises(BackendError, match="rate limiting"):
        data.commit("main", "rate limited")
    head = data.commit("main", "goes through")
    assert data.resolve("main") == head


# ------------------------------------------------------------------ the test server answers as lakeFS v1.84 does


class Raw:
    """Plain HTTP to one repository of the test server, for answers the lab hides."""

    def __init__(self, server: LakeFSServer, repository: str) -> None:
        self.http = urllib3.PoolManager()
        self.base = f"{server.endpoint}/api/v1"
        self.repo = f"{self.base}/repositories/{repository}"

    def __call__(self, method: str, url: str, body: Any = None) -> tuple[int, Any]:
        headers = _auth()
        data = None
        if isinstance(body, bytes):
            headers["Content-Type"] = "application/octet-stream"
            data = body
        elif body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        response = self.http.request(method, url, body=data, headers=headers)
        text = response.data
        try:
            return response.status, json.loads(text) if text else None
        except ValueError:
            return response.status, text

    def put(self, branch: str, path: str, data: bytes) -> None:
        status, _ = self("POST", f"{self.repo}/branches/{branch}/objects?path={path}", data)
        assert status == 201

    def commit(self, branch: str, message: str, **extra: Any) -> tuple[int, Any]:
        return self("POST", f"{self.repo}/branches/{branch}/commits", {"message": message, **extra})


@pytest.fixture
def raw(lakefs_server: LakeFSServer) -> Raw:
    name = f"raw-{time.monotonic_ns()}"
    lakefs_server.create_repository(name)
    return Raw(lakefs_server, name)


def test_server_merge_conflict_body_and_merge_commits(raw: Raw) -> None:
    raw.put("main", "x", b"base")
    raw.commit("main", "base")
    assert raw("POST", f"{raw.repo}/branches", {"name": "b", "source": "main"})[0] == 201
    raw.put("b", "x", b"b")
    raw.commit("b", "b")
    raw.put("main", "x", b"main")
    raw.commit("main", "main")
    status, body = raw("POST", f"{raw.repo}/refs/b/merge/main", {})
    assert (status, body) == (409, {"reference": ""})
    status, body = raw("POST", f"{raw.repo}/refs/b/merge/main", {"strategy": "dest-wins"})
    assert status == 200
    _, commit = raw("GET", f"{raw.repo}/commits/{body['reference']}")
    assert len(commit["parents"]) == 2
    assert commit["metadata"][".lakefs.merge.strategy"] == "dest-wins"
    status, body = raw("POST", f"{raw.repo}/refs/b/merge/main", {})
    assert status == 400 and "no changes" in body["message"]
    status, body = raw("POST", f"{raw.repo}/refs/b/merge/main", {"allow_empty": True})
    assert status == 200


def test_server_deletes_as_lakefs_does(raw: Raw, lakefs_server: LakeFSServer) -> None:
    repository = raw.repo.rsplit("/", 1)[1]
    raw("POST", f"{raw.repo}/branches", {"name": "release-1", "source": "main"})
    lakefs_server.protect(repository, "release-*")
    lakefs_server.protect(repository, "main")
    assert raw("DELETE", f"{raw.repo}/branches/release-1")[0] == 204  # lakeFS issue #6372
    status, body = raw("DELETE", f"{raw.repo}/branches/main")
    assert status == 403 and "default branch" in body["message"]
    raw("POST", f"{raw.repo}/branches", {"name": "w", "source": "main"})
    assert raw("DELETE", f"{raw.repo}/branches/w/objects?path=never-written")[0] == 204


def test_server_names_refs_and_paging_as_lakefs_does(raw: Raw) -> None:
    raw.put("main", "x", b"1")
    _, first = raw.commit("main", "one")
    status, _ = raw.commit("main", "nothing staged")
    assert status == 400
    status, empty = raw.commit("main", "empty on purpose", allow_empty=True)
    assert status == 201 and empty["parents"] == [first["id"]]
    assert raw("POST", f"{raw.repo}/tags", {"id": "v1.0", "ref": "main~1"})[0] == 201
    assert raw("GET", f"{raw.repo}/tags/v1.0")[1]["commit_id"] == first["id"]
    assert raw("POST", f"{raw.repo}/branches", {"name": "v1.0", "source": "main"})[0] == 400
    assert raw("POST", f"{raw.repo}/branches", {"name": "rel", "source": "v1.0"})[0] == 201
    assert raw("POST", f"{raw.repo}/tags", {"id": "rel", "ref": "main"})[0] == 409
    assert raw("POST", f"{raw.repo}/tags", {"id": "v1.0", "ref": "main"})[0] == 409
    assert raw("POST", f"{raw.repo}/branches", {"name": first["id"], "source": "main"})[0] == 409
    assert raw("POST", f"{raw.repo}/tags", {"id": "a/b", "ref": "main"})[0] == 400
    for ref, expected in (("main@", empty["id"]), ("main~1", first["id"]), ("main^", first["id"])):
        status, page = raw("GET", f"{raw.repo}/refs/{ref}/commits?amount=1")
        assert status == 200 and page["results"][0]["id"] == expected, ref
    status, page = raw("GET", f"{raw.repo}/branches?amount=0")
    assert status == 200 and len(page["results"]) == 2  # amount <= 0 means the default, 100
    raw.put("main", "empty", b"")
    status, data = raw("GET", f"{raw.repo}/refs/main/objects?path=empty")
    assert status == 200 and not data
    status, config = raw("GET", f"{raw.base}/config")
    assert status == 200 and config["storage_config"]["blockstore_type"]


def test_official_high_level_sdk_uploads_and_reads(lakefs_lab: Lab) -> None:
    import lakefs

    backend = lakefs_lab.data.backend
    branch = lakefs.Repository(backend.repository, client=backend.client).branch("main")  # type: ignore[attr-defined]
    branch.object("sdk/hello.txt").upload(data=b"hello")
    with branch.object("sdk/hello.txt").reader() as fh:
        assert fh.read() == b"hello"
    assert lakefs_lab.data.stat("sdk/hello.txt").size == 5


def test_check_on_lakefs_says_there_is_nothing_to_check(lakefs_lab: Lab) -> None:
    from mlops_lab.errors import NotAvailableError

    with pytest.raises(NotAvailableError, match="lakeFS checks its own store"):
        lakefs_lab.data.check()
