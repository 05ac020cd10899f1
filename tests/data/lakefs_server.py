"""A lakeFS-speaking HTTP server for tests: the endpoints the lab's lakeFS backend uses,
with lakeFS semantics (per-branch staging, immutable commits, three-way merge with
conflicts, tags, branch protection), in memory, on a thread.

Where lakeFS v1.84 is strict or particular, so is this server (pkg/api/controller.go and
pkg/graveler/ are the reference): a merge is refused as "no changes" only when the source's
tree equals the merge base, and otherwise always makes a two-parent commit carrying
``.lakefs.merge.strategy``; a merge conflict's 409 body is ``{"reference": ""}``; only the
default branch cannot be deleted (protection does not stop a branch deletion); deleting a
missing object is a 204; a log filtered by path skips merge commits; branch, tag and commit
names never collide (409); refs resolve as full commit id, branch, tag, commit id prefix,
then the modifiers ``~N ^N @ $``; tags follow git's rules; ``amount <= 0`` means 100.

Every request and every response is checked against the official OpenAPI contract
(``swagger.yml``) with openapi-core. A request the contract does not allow is answered
400 and recorded in ``violations``; a response the contract does not allow is replaced by
a 500 and recorded too. Test fixtures fail the test when ``violations`` is not empty.
"""

from __future__ import annotations

import base64
import fnmatch
import functools
import hashlib
import json
import re
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

# openapi-core warns on each use of the contract's (deprecated) allowEmptyValue.
warnings.filterwarnings("ignore", message="Use of allowEmptyValue", category=DeprecationWarning)

NAME = re.compile(r"^\w[-\w]*$", re.ASCII)
FULL_COMMIT = re.compile(r"^[0-9a-fA-F]{64}$")
HASH = re.compile(r"^[0-9a-fA-F]{1,64}$")
MODIFIERS = re.compile(r"(^|[~^@$])[^~^@$]*")
MERGE_STRATEGY_KEY = ".lakefs.merge.strategy"


@functools.lru_cache(maxsize=2)
def load_contract(path: str) -> Any:
    from openapi_core import OpenAPI

    return OpenAPI.from_file_path(path)


@dataclass(frozen=True)
class Obj:
    checksum: str
    size: int
    address: str
    mtime: int
    content_type: str = "application/octet-stream"


@dataclass
class Commit:
    id: str
    parents: list[str]
    committer: str
    message: str
    creation_date: int
    metadata: dict[str, str]
    tree: dict[str, Obj]
    generation: int
    meta_range_id: str

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "parents": self.parents,
            "committer": self.committer,
            "message": self.message,
            "creation_date": self.creation_date,
            "meta_range_id": self.meta_range_id,
            "metadata": self.metadata,
            "generation": self.generation,
            "version": 1,
        }


@dataclass
class Repo:
    name: str
    storage_namespace: str
    default_branch: str
    creation_date: int
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    staging: dict[str, dict[str, Obj | None]] = field(default_factory=dict)
    protected: list[str] = field(default_factory=list)


class ApiError(Exception):
    def __init__(self, status: int, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body or {"message": message}


def _routes() -> Map:
    r = "/api/v1/repositories/<repository>"
    return Map(
        [
            Rule("/api/v1/healthcheck", methods=["GET"], endpoint="healthCheck"),
            Rule("/api/v1/config", methods=["GET"], endpoint="getConfig"),
            Rule("/api/v1/repositories", methods=["POST"], endpoint="createRepository"),
            Rule(r, methods=["GET"], endpoint="getRepository"),
            Rule(r, methods=["DELETE"], endpoint="deleteRepository"),
            Rule(
                f"{r}/settings/branch_protection",
                methods=["GET"],
                endpoint="getBranchProtectionRules",
            ),
            Rule(
                f"{r}/settings/branch_protection",
                methods=["PUT"],
                endpoint="setBranchProtectionRules",
            ),
            Rule(f"{r}/branches", methods=["GET"], endpoint="listBranches"),
            Rule(f"{r}/branches", methods=["POST"], endpoint="createBranch"),
            Rule(f"{r}/branches/<branch>", methods=["GET"], endpoint="getBranch"),
            Rule(f"{r}/branches/<branch>", methods=["DELETE"], endpoint="deleteBranch"),
            Rule(f"{r}/branches/<branch>", methods=["PUT"], endpoint="resetBranch"),
            Rule(f"{r}/branches/<branch>/objects", methods=["POST"], endpoint="uploadObject"),
            Rule(f"{r}/branches/<branch>/objects", methods=["DELETE"], endpoint="deleteObject"),
            Rule(f"{r}/branches/<branch>/commits", methods=["POST"], endpoint="commit"),
            Rule(f"{r}/branches/<branch>/diff", methods=["GET"], endpoint="diffBranch"),
            Rule(f"{r}/refs/<ref>/objects", methods=["GET"], endpoint="getObject"),
            Rule(f"{r}/refs/<ref>/objects/stat", methods=["GET"], endpoint="statObject"),
            Rule(f"{r}/refs/<ref>/objects/ls", methods=["GET"], endpoint="listObjects"),
            Rule(f"{r}/refs/<ref>/commits", methods=["GET"], endpoint="logCommits"),
            Rule(f"{r}/commits/<commit_id>", methods=["GET"], endpoint="getCommit"),
            Rule(f"{r}/refs/<left>/diff/<right>", methods=["GET"], endpoint="diffRefs"),
            Rule(f"{r}/refs/<source>/merge/<dest>", methods=["POST"], endpoint="mergeIntoBranch"),
            Rule(f"{r}/refs/<source>/merge/<dest>", methods=["GET"], endpoint="findMergeBase"),
            Rule(f"{r}/tags", methods=["GET"], endpoint="listTags"),
            Rule(f"{r}/tags", methods=["POST"], endpoint="createTag"),
            Rule(f"{r}/tags/<tag>", methods=["GET"], endpoint="getTag"),
        ]
    )


class LakeFSServer:
    """``with LakeFSServer(spec) as server:`` serves on ``server.endpoint`` (127.0.0.1)."""

    def __init__(
        self,
        contract: str | Path,
        access_key_id: str = "AKIAIOSFODNN7EXAMPLE",
        secret_access_key: str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        validate: bool = True,
    ) -> None:
        self.api = load_contract(str(contract)) if validate else None
        self.credentials = (access_key_id, secret_access_key)
        self.violations: list[str] = []
        self.requests: list[str] = []
        self.repos: dict[str, Repo] = {}
        self.blobs: dict[str, bytes] = {}
        self.fail_next: list[int] = []
        """Statuses to answer the next requests with (e.g. 503), for error-path tests."""
        self.lock = threading.RLock()
        self._map = _routes()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle

    @property
    def endpoint(self) -> str:
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> LakeFSServer:
        self._server = make_server("127.0.0.1", 0, self, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LakeFSServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- test helpers

    def create_repository(self, name: str, default_branch: str = "main") -> Repo:
        with self.lock:
            return self._create_repo(name, f"local://data/{name}/", default_branch)

    def protect(self, repository: str, pattern: str) -> None:
        with self.lock:
            self.repos[repository].protected.append(pattern)

    # ---------------------------------------------------------------- WSGI

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = Request(environ)
        response = self._handle(request)
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse

        label = f"{request.method} {request.full_path.rstrip('?')}"
        self.requests.append(label)
        openapi_request = WerkzeugOpenAPIRequest(request) if self.api is not None else None
        params: dict[str, Any] = {}
        body: Any = None
        if self.api is not None:
            result = self.api.unmarshal_request(openapi_request)
            if result.errors:
                detail = "; ".join(_explain(e) for e in result.errors)
                self.violations.append(f"request {label}: {detail}")
                return _json(
                    400, {"message": f"request violates the lakeFS API contract: {detail}"}
                )
            params = dict(result.parameters.query)
            params.update(result.parameters.header)
        if request.mimetype == "application/json":
            body = request.get_json(silent=True)
        response = self._dispatch(request, params, body)
        if self.api is not None:
            from openapi_core.validation.response.exceptions import MissingData

            checked = self.api.unmarshal_response(
                openapi_request, WerkzeugOpenAPIResponse(response)
            )
            # openapi-core takes any empty body for a missing one; an empty octet-stream is
            # a 0-byte object, which lakeFS serves as an empty 200.
            empty_object = response.mimetype == "application/octet-stream" and not response.data
            errors = [
                e for e in checked.errors if not (empty_object and isinstance(e, MissingData))
            ]
            if errors:
                detail = "; ".join(_explain(e) for e in errors)
                self.violations.append(f"response {response.status_code} to {label}: {detail}")
                return _json(500, {"message": f"server answered outside the contract: {detail}"})
        return response

    def _dispatch(self, request: Request, params: dict[str, Any], body: Any) -> Response:
        try:
            endpoint, args = self._map.bind_to_environ(request.environ).match()
        except (NotFound, MethodNotAllowed) as exc:
            return _json(exc.code or 404, {"message": "no such endpoint in this test server"})
        except HTTPException as exc:
            return _json(exc.code or 400, {"message": str(exc)})
        if endpoint != "healthCheck" and not self._authorised(request):
            return _json(401, {"message": "error authenticating request"})
        with self.lock:
            if self.fail_next:
                status = self.fail_next.pop(0)
                return _json(status, {"message": f"injected failure {status}"})
            try:
                handler = getattr(self, f"op_{endpoint}")
                if endpoint == "uploadObject":
                    body = _upload_bytes(request)
                return handler(params=params, body=body, **args)
            except ApiError as exc:
                return _json(exc.status, exc.body)
            except Exception:
                self.violations.append(
                    f"server failure on {request.method} {request.path}: " + traceback.format_exc()
                )
                return _json(500, {"message": "test server failure"})

    def _authorised(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return (user, password) == self.credentials

    # ---------------------------------------------------------------- semantics

    def _repo(self, name: str) -> Repo:
        repo = self.repos.get(name)
        if repo is None:
            raise ApiError(404, f"repository not found: {name}")
        return repo

    def _create_repo(self, name: str, namespace: str, default_branch: str) -> Repo:
        if name in self.repos:
            raise ApiError(409, f"repository already exists: {name}")
        repo = Repo(name, namespace, default_branch, int(time.time()))
        first = self._new_commit(repo, [], "Repository created", {}, {}, committer="")
        repo.branches[default_branch] = first.id
        self.repos[name] = repo
        return repo

    def _new_commit(
        self,
        repo: Repo,
        parents: list[str],
        message: str,
        metadata: dict[str, str],
        tree: dict[str, Obj],
        committer: str = "tester",
    ) -> Commit:
        generation = 1 + max((repo.commits[p].generation for p in parents), default=0)
        commit = Commit(
            id=hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
            parents=parents,
            committer=committer,
            message=message,
            creation_date=int(time.time()),
            metadata=dict(metadata),
            tree=dict(tree),
            generation=generation,
            meta_range_id=hashlib.sha256(
                json.dumps(sorted((p, o.checksum) for p, o in tree.items())).encode()
            ).hexdigest(),
        )
        repo.commits[commit.id] = commit
        return commit

    def _resolve(self, repo: Repo, ref: str) -> Commit:
        """graveler/ref: full commit id, branch, tag, commit id prefix; then modifiers."""
        base, modifiers = _parse_ref(ref)
        commit = self._resolve_base(repo, base)
        if commit is None:
            raise ApiError(404, f"not found: ref {ref}")
        for kind, count in modifiers:
            if kind in "@$":
                if base not in repo.branches or len(modifiers) != 1:
                    raise ApiError(400, f"invalid ref: {ref}")
            elif kind == "~":
                for _ in range(count):
                    if not commit.parents:
                        raise ApiError(404, f"not found: ref {ref}")
                    commit = repo.commits[commit.parents[0]]
            elif count > 0:
                if count > len(commit.parents):
                    raise ApiError(400, f"invalid ref: {ref}")
                commit = repo.commits[commit.parents[count - 1]]
        return commit

    def _resolve_base(self, repo: Repo, ref: str) -> Commit | None:
        if FULL_COMMIT.match(ref) and ref.lower() in repo.commits:
            return repo.commits[ref.lower()]
        if ref in repo.branches:
            return repo.commits[repo.branches[ref]]
        if ref in repo.tags:
            return repo.commits[repo.tags[ref]]
        if HASH.match(ref):
            found = [c for c in repo.commits if c.startswith(ref.lower())]
            if len(found) == 1:
                return repo.commits[found[0]]
        return None

    def _branch(self, repo: Repo, name: str) -> Commit:
        if name not in repo.branches:
            raise ApiError(404, f"branch not found: {name}")
        return repo.commits[repo.branches[name]]

    def _view(self, repo: Repo, ref: str) -> dict[str, Obj]:
        """Reading a branch (or ``branch$``) shows its staged changes, as lakeFS does;
        ``branch@`` is its committed state."""
        tree = dict(self._resolve(repo, ref).tree)
        base, modifiers = _parse_ref(ref)
        commit_first = FULL_COMMIT.match(base) and base.lower() in repo.commits
        if base in repo.branches and not commit_first and modifiers in ([], [("$", 1)]):
            for path, obj in repo.staging.get(base, {}).items():
                if obj is None:
                    tree.pop(path, None)
                else:
                    tree[path] = obj
        return tree

    def _check_not_commit(self, repo: Repo, name: str) -> None:
        if name in repo.commits:
            raise ApiError(409, f"commit ID {name}: conflict found")

    def _protected(self, repo: Repo, branch: str) -> bool:
        return any(fnmatch.fnmatchcase(branch, pattern) for pattern in repo.protected)

    def _check_writable(self, repo: Repo, branch: str) -> None:
        if self._protected(repo, branch):
            raise ApiError(403, f"cannot write to protected branch: {branch}")

    def _ancestors(self, repo: Repo, start: str, first_parent: bool = False) -> list[Commit]:
        seen = {start}
        frontier = [repo.commits[start]]
        out = []
        while frontier:
            frontier.sort(key=lambda c: (c.creation_date, c.generation))
            current = frontier.pop()
            out.append(current)
            parents = current.parents[:1] if first_parent else current.parents
            for parent in parents:
                if parent not in seen:
                    seen.add(parent)
                    frontier.append(repo.commits[parent])
        return out

    def _merge_base(self, repo: Repo, a: str, b: str) -> Commit | None:
        left = {c.id for c in self._ancestors(repo, a)}
        for commit in self._ancestors(repo, b):
            if commit.id in left:
                return commit
        return None

    # ---------------------------------------------------------------- endpoints

    def op_healthCheck(self, params: dict[str, Any], body: Any) -> Response:
        return Response(status=204)

    def op_getConfig(self, params: dict[str, Any], body: Any) -> Response:
        storage = {
            "blockstore_type": "local",
            "blockstore_namespace_example": "local://path/to/repo",
            "blockstore_namespace_ValidityRegex": "^local://",
            "default_namespace_prefix": "local://data/",
            "pre_sign_support": False,
            "pre_sign_support_ui": False,
            "import_support": False,
            "import_validity_regex": "^local://",
            "pre_sign_multipart_upload": False,
            "blockstore_id": "",
            "blockstore_description": "",
        }
        return _json(
            200,
            {
                "version_config": {"version": "1.84.0", "upgrade_recommended": False},
                "storage_config": storage,
                "storage_config_list": [storage],
                "ui_config": {},
                "capabilities_config": {},
            },
        )

    def op_createRepository(self, params: dict[str, Any], body: Any) -> Response:
        repo = self._create_repo(
            body["name"], body["storage_namespace"], body.get("default_branch") or "main"
        )
        return _json(201, self._repo_json(repo))

    def _repo_json(self, repo: Repo) -> dict[str, Any]:
        return {
            "id": repo.name,
            "creation_date": repo.creation_date,
            "default_branch": repo.default_branch,
            "storage_namespace": repo.storage_namespace,
            "read_only": False,
        }

    def op_getRepository(self, params: dict[str, Any], body: Any, repository: str) -> Response:
        return _json(200, self._repo_json(self._repo(repository)))

    def op_deleteRepository(self, params: dict[str, Any], body: Any, repository: str) -> Response:
        self._repo(repository)
        del self.repos[repository]
        return Response(status=204)

    def op_getBranchProtectionRules(
        self, params: dict[str, Any], body: Any, repository: str
    ) -> Response:
        repo = self._repo(repository)
        return _json(200, [{"pattern": p} for p in repo.protected])

    def op_setBranchProtectionRules(
        self, params: dict[str, Any], body: Any, repository: str
    ) -> Response:
        repo = self._repo(repository)
        repo.protected = [rule["pattern"] for rule in body]
        return Response(status=204)

    def op_listBranches(self, params: dict[str, Any], body: Any, repository: str) -> Response:
        repo = self._repo(repository)
        refs = [{"id": n, "commit_id": c} for n, c in sorted(repo.branches.items())]
        return _json(200, _page(refs, params, key="id"))

    def op_createBranch(self, params: dict[str, Any], body: Any, repository: str) -> Response:
        repo = self._repo(repository)
        name = body["name"]
        if not NAME.match(name):
            raise ApiError(
                400,
                "branch id: invalid value: branch id must consist of letters, digits, "
                "underscores and dashes, and cannot start with a dash",
            )
        self._check_not_commit(repo, name)
        if name in repo.tags:
            raise ApiError(409, f"tag ID {name}: conflict found")
        commit = self._resolve(repo, body["source"])
        if name in repo.branches:
            raise ApiError(409, "branch already exists: not unique")
        repo.branches[name] = commit.id
        return Response(commit.id, status=201, content_type="text/html")

    def op_getBranch(
        self, params: dict[str, Any], body: Any, repository: str, branch: str
    ) -> Response:
        repo = self._repo(repository)
        return _json(200, {"id": branch, "commit_id": self._branch(repo, branch).id})

    def op_deleteBranch(
        self, params: dict[str, Any], body: Any, repository: str, branch: str
    ) -> Response:
        repo = self._repo(repository)
        if branch == repo.default_branch:
            raise ApiError(403, "cannot delete repository default branch")
        self._branch(repo, branch)
        # No protection check: lakeFS lets a protected branch be deleted (issue #6372).
        del repo.branches[branch]
        repo.staging.pop(branch, None)
        return Response(status=204)

    def op_resetBranch(
        self, params: dict[str, Any], body: Any, repository: str, branch: str
    ) -> Response:
        repo = self._repo(repository)
        self._branch(repo, branch)
        self._check_writable(repo, branch)
        staged = repo.staging.setdefault(branch, {})
        if body["type"] == "reset":
            staged.clear()
        elif body["type"] == "object":
            staged.pop(body.get("path", ""), None)
        else:
            for path in [p for p in staged if p.startswith(body.get("path") or "")]:
                del staged[path]
        return Response(status=204)

    def op_uploadObject(
        self, params: dict[str, Any], body: Any, repository: str, branch: str
    ) -> Response:
        repo = self._repo(repository)
        self._branch(repo, branch)
        self._check_writable(repo, branch)
        path = params["path"]
        if params.get("If-None-Match") == "*" and path in self._view(repo, branch):
            raise ApiError(412, "object already exists")
        data: bytes = body
        address = f"{repo.storage_namespace}data/{uuid.uuid4().hex}"
        self.blobs[address] = data
        obj = Obj(hashlib.md5(data).hexdigest(), len(data), address, int(time.time()))
        repo.staging.setdefault(branch, {})[path] = obj
        return _json(201, _stats(path, obj))

    def op_deleteObject(
        self, params: dict[str, Any], body: Any, repository: str, branch: str
    ) -> Response:
        repo = self._repo(repository)
        self._branch(repo, branch)
        self._check_writable(repo, branch)
        path = params["path"]
        if path in self._view(repo, branch):  # a path that is not there: 204 all the same
            repo.staging.setdefault(branch, {})[path] = None
        return Response(status=204)

    def op_commit(
        self, params: dict[str, Any], body: Any, repository: str, branch: str
    ) -> Response:
        repo = self._repo(repository)
        head = self._branch(repo, branch)
        self._check_writable(repo, branch)
        tree = self._view(repo, branch)
        if _same_tree(tree, head.tree) and not body.get("allow_empty"):
            raise ApiError(400, "commit: no changes")
        metadata = dict(body.get("metadata") or {})
        commit = self._new_commit(repo, [head.id], body["message"], metadata, tree)
        repo.branches[branch] = commit.id
        repo.staging.pop(branch, None)
        return _json(201, commit.json())

    def op_diffBranch(
        self, params: dict[str, Any], body: Any, repository: str, branch: str
    ) -> Response:
        repo = self._repo(repository)
        head = self._branch(repo, branch)
        changes = _diff(head.tree, self._view(repo, branch), params.get("prefix") or "")
        return _json(200, _page(changes, params, key="path"))

    def op_getObject(
        self, params: dict[str, Any], body: Any, repository: str, ref: str
    ) -> Response:
        repo = self._repo(repository)
        obj = self._view(repo, ref).get(params["path"])
        if obj is None:
            raise ApiError(404, f"not found: {params['path']}")
        response = Response(
            self.blobs[obj.address], status=200, content_type="application/octet-stream"
        )
        response.headers["ETag"] = f'"{obj.checksum}"'
        response.headers["Last-Modified"] = time.strftime(
            "%a, %d %b %Y %H:%M:%S GMT", time.gmtime(obj.mtime)
        )
        return response

    def op_statObject(
        self, params: dict[str, Any], body: Any, repository: str, ref: str
    ) -> Response:
        repo = self._repo(repository)
        obj = self._view(repo, ref).get(params["path"])
        if obj is None:
            raise ApiError(404, f"not found: {params['path']}")
        return _json(200, _stats(params["path"], obj))

    def op_listObjects(
        self, params: dict[str, Any], body: Any, repository: str, ref: str
    ) -> Response:
        repo = self._repo(repository)
        prefix = params.get("prefix") or ""
        delimiter = params.get("delimiter") or ""
        items: list[dict[str, Any]] = []
        prefixes: set[str] = set()
        for path, obj in sorted(self._view(repo, ref).items()):
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix) :]
            if delimiter and delimiter in rest:
                common = prefix + rest.split(delimiter)[0] + delimiter
                if common not in prefixes:
                    prefixes.add(common)
                    items.append(
                        {
                            "path": common,
                            "path_type": "common_prefix",
                            "checksum": "",
                            "physical_address": "",
                            "mtime": 0,
                        }
                    )
                continue
            items.append(_stats(path, obj))
        return _json(200, _page(items, params, key="path"))

    def op_logCommits(
        self, params: dict[str, Any], body: Any, repository: str, ref: str
    ) -> Response:
        repo = self._repo(repository)
        start = self._resolve(repo, ref)
        objects = params.get("objects") or []
        prefixes = params.get("prefixes") or []
        out = []
        for commit in self._ancestors(repo, start.id, bool(params.get("first_parent"))):
            if objects or prefixes:
                if len(commit.parents) != 1:
                    continue  # catalog.listCommitsWithPaths skips merge commits
                parent = repo.commits[commit.parents[0]].tree if commit.parents else {}
                touched = {
                    p for p in set(commit.tree) | set(parent) if commit.tree.get(p) != parent.get(p)
                }
                if not any(p in objects or any(p.startswith(x) for x in prefixes) for p in touched):
                    continue
            out.append(commit.json())
        return _json(200, _page(out, params, key="id", ordered=False))

    def op_getCommit(
        self, params: dict[str, Any], body: Any, repository: str, commit_id: str
    ) -> Response:
        repo = self._repo(repository)
        return _json(200, self._resolve(repo, commit_id).json())

    def op_diffRefs(
        self, params: dict[str, Any], body: Any, repository: str, left: str, right: str
    ) -> Response:
        repo = self._repo(repository)
        a, b = self._resolve(repo, left), self._resolve(repo, right)
        if params.get("type", "three_dot") == "three_dot":
            base = self._merge_base(repo, a.id, b.id)
            a = base if base is not None else a
        changes = _diff(a.tree, b.tree, params.get("prefix") or "")
        return _json(200, _page(changes, params, key="path"))

    def op_findMergeBase(
        self, params: dict[str, Any], body: Any, repository: str, source: str, dest: str
    ) -> Response:
        repo = self._repo(repository)
        src, dst = self._resolve(repo, source), self._branch(repo, dest)
        base = self._merge_base(repo, src.id, dst.id)
        if base is None:
            raise ApiError(404, "no merge base found")
        return _json(
            200,
            {
                "source_commit_id": src.id,
                "destination_commit_id": dst.id,
                "base_commit_id": base.id,
            },
        )

    def op_mergeIntoBranch(
        self, params: dict[str, Any], body: Any, repository: str, source: str, dest: str
    ) -> Response:
        """graveler.Merge and committedManager.Merge."""
        repo = self._repo(repository)
        body = body or {}
        dst = self._branch(repo, dest)
        # Merging into a protected branch is allowed: that is how protected branches change.
        if not _same_tree(self._view(repo, dest), dst.tree):
            raise ApiError(400, f"{dest}: uncommitted changes (dirty branch)")
        src = self._resolve(repo, source)
        base = self._merge_base(repo, src.id, dst.id)
        if base is None:
            raise ApiError(404, "no merge base found")
        strategy = body.get("strategy") or ""
        if strategy not in ("", "dest-wins", "source-wins"):
            raise ApiError(400, "invalid strategy")
        if _same_tree(src.tree, base.tree) and not (body.get("allow_empty") or body.get("force")):
            raise ApiError(400, "no changes")
        if _same_tree(dst.tree, base.tree):
            merged = dict(src.tree)  # changes only on the source
        else:
            merged = {}
            for path in sorted(set(base.tree) | set(src.tree) | set(dst.tree)):
                b, s, d = base.tree.get(path), src.tree.get(path), dst.tree.get(path)
                if _eq(s, d) or _eq(s, b):
                    chosen = d
                elif _eq(d, b) or strategy == "source-wins":
                    chosen = s
                elif strategy == "dest-wins":
                    chosen = d
                else:
                    return _json(409, {"reference": ""})
                if chosen is not None:
                    merged[path] = chosen
        metadata = {
            **(body.get("metadata") or {}),
            MERGE_STRATEGY_KEY: strategy or "default",
        }
        message = body.get("message") or f"Merge '{source}' into '{dest}'"
        commit = self._new_commit(repo, [dst.id, src.id], message, metadata, merged)
        repo.branches[dest] = commit.id
        return _json(200, {"reference": commit.id})

    def op_listTags(self, params: dict[str, Any], body: Any, repository: str) -> Response:
        repo = self._repo(repository)
        refs = [{"id": n, "commit_id": c} for n, c in sorted(repo.tags.items())]
        return _json(200, _page(refs, params, key="id"))

    def op_createTag(self, params: dict[str, Any], body: Any, repository: str) -> Response:
        repo = self._repo(repository)
        name = body["id"]
        if not _valid_tag(name):
            raise ApiError(400, "tag id: invalid value")
        if name in repo.branches:
            raise ApiError(409, f"branch name {name}: conflict found")
        self._check_not_commit(repo, name)
        commit = self._resolve(repo, body["ref"])
        if name in repo.tags:
            raise ApiError(409, "tag already exists: not unique")
        repo.tags[name] = commit.id
        return _json(201, {"id": body["id"], "commit_id": commit.id})

    def op_getTag(self, params: dict[str, Any], body: Any, repository: str, tag: str) -> Response:
        repo = self._repo(repository)
        if tag not in repo.tags:
            raise ApiError(404, f"tag not found: {tag}")
        return _json(200, {"id": tag, "commit_id": repo.tags[tag]})


# -------------------------------------------------------------------- helpers


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _explain(error: Exception) -> str:
    inner = getattr(error, "schema_errors", None) or []
    detail = "; ".join(str(getattr(e, "message", e))[:200] for e in inner)
    cause = error.__cause__
    if not detail and cause is not None:
        nested = getattr(cause, "schema_errors", None) or []
        detail = "; ".join(str(getattr(e, "message", e))[:200] for e in nested) or str(cause)[:300]
    return f"{type(error).__name__}: {error}" + (f" ({detail})" if detail else "")


def _upload_bytes(request: Request) -> bytes:
    content_type = request.headers.get("Content-Type", "")
    data = request.get_data()
    if content_type.startswith("multipart/form-data"):
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + data
        )
        for part in message.iter_parts():
            if part.get_param("name", header="content-disposition") == "content":
                payload = part.get_payload(decode=True)
                return bytes(payload) if isinstance(payload, bytes | bytearray) else b""
        raise ApiError(400, "multipart upload without a 'content' part")
    return data


def _stats(path: str, obj: Obj) -> dict[str, Any]:
    return {
        "path": path,
        "path_type": "object",
        "physical_address": obj.address,
        "checksum": obj.checksum,
        "size_bytes": obj.size,
        "mtime": obj.mtime,
        "content_type": obj.content_type,
        "metadata": {},
    }


def _parse_ref(ref: str) -> tuple[str, list[tuple[str, int]]]:
    """graveler/ref.ParseRef: ``main~2^1`` -> ("main", [("~", 2), ("^", 1)])."""
    parts = [m.group(0) for m in MODIFIERS.finditer(ref)]
    if not parts or not parts[0]:
        raise ApiError(400, f"invalid ref: {ref}")
    modifiers = []
    for part in parts[1:]:
        if (part[0] in "@$" and len(part) > 1) or (part[1:] and not part[1:].isdigit()):
            raise ApiError(400, f"invalid ref: {ref}")
        modifiers.append((part[0], int(part[1:]) if part[1:] else 1))
    return parts[0], modifiers


def _valid_tag(name: str) -> bool:
    """graveler.ValidateTagID (git-check-ref-format, '~' allowed)."""
    return not (
        not name
        or name == "@"
        or name.endswith((".", ".lock"))
        or any(bad in name for bad in ("..", "/", "@{"))
        or any(c in "^:?*[\\" for c in name)
        or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in name)
    )


def _eq(a: Obj | None, b: Obj | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.checksum == b.checksum


def _same_tree(a: dict[str, Obj], b: dict[str, Obj]) -> bool:
    return a.keys() == b.keys() and all(_eq(a[p], b[p]) for p in a)


def _diff(left: dict[str, Obj], right: dict[str, Obj], prefix: str) -> list[dict[str, Any]]:
    out = []
    for path in sorted(set(left) | set(right)):
        if not path.startswith(prefix):
            continue
        a, b = left.get(path), right.get(path)
        if a is None and b is not None:
            out.append({"type": "added", "path": path, "path_type": "object", "size_bytes": b.size})
        elif b is None and a is not None:
            out.append(
                {"type": "removed", "path": path, "path_type": "object", "size_bytes": a.size}
            )
        elif a is not None and b is not None and not _eq(a, b):
            out.append(
                {"type": "changed", "path": path, "path_type": "object", "size_bytes": b.size}
            )
    return out


def _page(
    items: list[dict[str, Any]], params: dict[str, Any], key: str, ordered: bool = True
) -> dict[str, Any]:
    amount = params.get("amount", 100)
    if amount is None or amount <= 0:
        amount = 100
    amount = min(amount, 1000)
    after = params.get("after") or ""
    if after:
        if ordered:
            items = [i for i in items if i[key] > after]
        else:
            keys = [i[key] for i in items]
            items = items[keys.index(after) + 1 :] if after in keys else []
    page = items[:amount]
    has_more = len(items) > amount
    return {
        "pagination": {
            "has_more": has_more,
            "next_offset": page[-1][key] if has_more and page else "",
            "results": len(page),
            "max_per_page": 1000,
        },
        "results": page,
    }


if __name__ == "__main__":  # a standalone server, e.g. to try `pytest -m live` against it
    import sys

    server = LakeFSServer(sys.argv[1]).start()
    print(server.endpoint, flush=True)
    threading.Event().wait()
