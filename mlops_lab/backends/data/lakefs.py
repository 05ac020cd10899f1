"""lakeFS behind the data protocol, through the official SDK (``lakefs`` / ``lakefs_sdk``).

Credentials come from the environment (lakectl's ``LAKECTL_CREDENTIALS_*`` or ``LAKEFS_*``)
or a lakectl.yaml named by ``[data] credentials_file``; never from mlops.toml. Every call
is bounded (connect and read timeouts, no silent retries), and every failure becomes one
of the lab's errors naming the endpoint and what to do.
"""

from __future__ import annotations

import io
import json
import os
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from mlops_lab.backends.data.base import (
    BranchInfo,
    Change,
    ChangeKind,
    CommitInfo,
    Metadata,
    ObjectInfo,
    Strategy,
    merge_conflict,
)
from mlops_lab.errors import (
    AccessDeniedError,
    BackendError,
    ConfigError,
    ConflictError,
    LabError,
    NotFoundError,
    UnreachableError,
    UsageError,
    require,
)

T = TypeVar("T")

KEY_VARIABLES = (
    ("LAKECTL_CREDENTIALS_ACCESS_KEY_ID", "LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY"),
    ("LAKEFS_ACCESS_KEY_ID", "LAKEFS_SECRET_ACCESS_KEY"),
)
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 4.0  # metadata calls; object transfers get TRANSFER_TIMEOUT to read
TRANSFER_TIMEOUT = 300.0
PAGE = 1000


def credentials(env: Mapping[str, str], credentials_file: Path | None) -> tuple[str, str, str]:
    """(access key id, secret, endpoint from the file or "") from env first, then the file."""
    for key_var, secret_var in KEY_VARIABLES:
        if env.get(key_var) and env.get(secret_var):
            return env[key_var], env[secret_var], ""
    if credentials_file is not None:
        yaml = require("yaml")
        try:
            data = yaml.safe_load(credentials_file.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise ConfigError(
                f"cannot read lakeFS credentials file {credentials_file}: {exc.strerror}"
            ) from None
        except yaml.YAMLError:
            raise ConfigError(
                f"{credentials_file} is not valid YAML; it should look like lakectl's "
                "~/.lakectl.yaml (credentials: access_key_id, secret_access_key)"
            ) from None
        creds = data.get("credentials") or {}
        server = data.get("server") or {}
        if creds.get("access_key_id") and creds.get("secret_access_key"):
            return (
                str(creds["access_key_id"]),
                str(creds["secret_access_key"]),
                str(server.get("endpoint_url") or ""),
            )
        raise ConfigError(
            f"{credentials_file} has no credentials.access_key_id / secret_access_key"
        )
    raise ConfigError(
        "no lakeFS credentials: set LAKECTL_CREDENTIALS_ACCESS_KEY_ID and "
        "LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY (or LAKEFS_ACCESS_KEY_ID / LAKEFS_SECRET_ACCESS_KEY), "
        "or point [data] credentials_file at a lakectl.yaml"
    )


class LakeFSBackend:
    kind = "lakefs"

    def __init__(
        self,
        endpoint: str,
        repository: str,
        access_key_id: str,
        secret_access_key: str,
        default_branch: str = "main",
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        if not endpoint:
            raise ConfigError(
                "no lakeFS endpoint: set LAKECTL_SERVER_ENDPOINT_URL (or LAKEFS_ENDPOINT, "
                "or [data] endpoint in mlops.toml)"
            )
        if not repository:
            raise ConfigError("no lakeFS repository: set [data] repository in mlops.toml")
        lakefs = require("lakefs")
        self.endpoint = endpoint.rstrip("/")
        self.repository = repository
        self.default_branch = default_branch
        self._timeout = (connect_timeout, read_timeout)
        self._transfer_timeout = (connect_timeout, TRANSFER_TIMEOUT)
        host = self.endpoint if self.endpoint.endswith("/api/v1") else self.endpoint + "/api/v1"
        self.client = lakefs.Client(host=host, username=access_key_id, password=secret_access_key)
        self.sdk = self.client.sdk_client
        # Fail fast: a dead endpoint must answer within the timeouts, not after retries.
        self.sdk._api.rest_client.pool_manager.connection_pool_kw["retries"] = False
        self._models = require("lakefs_sdk")

    @classmethod
    def from_config(cls, config: Any, env: Mapping[str, str] | None = None) -> LakeFSBackend:
        env = os.environ if env is None else env
        data = config.data
        file = config.resolve(data.credentials_file) if data.credentials_file else None
        key, secret, file_endpoint = credentials(env, file)
        return cls(
            data.endpoint or file_endpoint, data.repository, key, secret, data.default_branch
        )

    def describe(self) -> str:
        return f"lakefs://{self.repository} at {self.endpoint}"

    # ---------------------------------------------------------------- calls and errors

    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        urllib3 = require("urllib3")
        exceptions = self._models.exceptions
        kwargs.setdefault("_request_timeout", self._timeout)
        try:
            return fn(*args, **kwargs)
        except exceptions.ApiException as exc:
            raise self._error(what, int(exc.status or 0), exc.body) from None
        except urllib3.exceptions.HTTPError as exc:
            raise self._unreachable(exc) from None

    def _unreachable(self, exc: Exception) -> UnreachableError:
        reason = type(exc).__name__
        inner = getattr(exc, "reason", None)
        if inner is not None:
            reason = type(inner).__name__
        return UnreachableError(
            f"lakeFS at {self.endpoint} did not answer ({reason}, timeout "
            f"{self._timeout[0]:g}+{self._timeout[1]:g} s); check that the server runs and "
            "LAKECTL_SERVER_ENDPOINT_URL points at it",
            endpoint=self.endpoint,
        )

    def _error(self, what: str, status: int, body: Any) -> LabError:
        message = _message(body)
        where = f"lakeFS {self.endpoint} repository '{self.repository}'"
        if status == 401:
            return AccessDeniedError(
                f"{where} rejected the credentials (401) while trying to {what}; check "
                "LAKECTL_CREDENTIALS_ACCESS_KEY_ID / LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY",
                status=status,
            )
        if status == 403:
            hint = (
                "; the branch is protected: write on another branch and merge into it"
                if "protect" in message.lower()
                else "; ask for the permission or use another branch"
            )
            return AccessDeniedError(f"{where} refused to {what}: {message}{hint}", status=status)
        if status == 404:
            hint = (
                f"; create it (lakectl repo create lakefs://{self.repository} <storage namespace>) "
                "or fix [data] repository"
                if "repositor" in message.lower()
                else ""
            )
            return NotFoundError(f"cannot {what}: {message} ({where}){hint}", status=status)
        if status == 409:
            return ConflictError(f"cannot {what}: {message} ({where})", status=status)
        if status == 412:
            return AccessDeniedError(
                f"{where} refused to {what}: precondition failed ({message}); a hook or "
                "branch rule blocked it",
                status=status,
            )
        if status == 400:
            return UsageError(f"cannot {what}: {message} ({where})", status=status)
        if status == 429:
            return BackendError(
                f"{where} is rate limiting (429) {what}; retry shortly", status=status
            )
        return BackendError(
            f"{where} failed to {what} ({status}: {message}); retry, or check the server's logs",
            status=status,
        )

    def _pages(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
        after = ""
        while True:
            page = self._call(what, fn, *args, amount=PAGE, after=after, **kwargs)
            yield from page.results
            if not page.pagination.has_more:
                return
            after = page.pagination.next_offset

    # ---------------------------------------------------------------- refs

    def resolve(self, ref: str) -> str:
        return self.get_commit(ref).id

    def get_commit(self, ref: str) -> CommitInfo:
        page = self._call(
            f"resolve ref '{ref}'", self.sdk.refs_api.log_commits, self.repository, ref, amount=1
        )
        if not page.results:
            raise NotFoundError(
                f"ref '{ref}' has no commits in lakeFS repository '{self.repository}'"
            )
        return _commit(page.results[0])

    def create_branch(self, name: str, source: str) -> str:
        creation = self._models.BranchCreation(name=name, source=source)
        body = self._call(
            f"create branch '{name}' from '{source}'",
            self.sdk.branches_api.create_branch,
            self.repository,
            creation,
        )
        text = str(body or "").strip()
        return text if len(text) == 64 else self.resolve(name)

    def branches(self) -> list[BranchInfo]:
        return [
            BranchInfo(r.id, r.commit_id)
            for r in self._pages(
                "list branches", self.sdk.branches_api.list_branches, self.repository
            )
        ]

    def delete_branch(self, name: str) -> None:
        self._call(
            f"delete branch '{name}'", self.sdk.branches_api.delete_branch, self.repository, name
        )

    def tag(self, name: str, ref: str) -> str:
        creation = self._models.TagCreation(id=name, ref=ref)
        created = self._call(
            f"create tag '{name}' at '{ref}'",
            self.sdk.tags_api.create_tag,
            self.repository,
            creation,
        )
        return str(created.commit_id)

    def tags(self) -> list[BranchInfo]:
        return [
            BranchInfo(r.id, r.commit_id)
            for r in self._pages("list tags", self.sdk.tags_api.list_tags, self.repository)
        ]

    # ---------------------------------------------------------------- writes

    def put(self, path: str, branch: str, data: bytes | str) -> ObjectInfo:
        """Raw octet-stream upload, as the SDK's own non-presigned writer does, bounded."""
        urllib3 = require("urllib3")
        what = f"write '{path}' on branch '{branch}'"
        resource = urllib.parse.quote(f"/repositories/{self.repository}/branches/{branch}/objects")
        url = f"{self.client.config.host}{resource}?{urllib.parse.urlencode({'path': path})}"
        headers = {"Accept": "application/json", "Content-Type": "application/octet-stream"}
        api = self.sdk.objects_api.api_client
        api.update_params_for_auth(headers, None, ["basic_auth"], resource, "POST", None)
        body: Any = data if isinstance(data, bytes | bytearray) else open(data, "rb")  # noqa: SIM115
        try:
            response = api.rest_client.pool_manager.request(
                "POST",
                url,
                headers=headers,
                body=body,
                timeout=urllib3.Timeout(
                    connect=self._transfer_timeout[0], read=self._transfer_timeout[1]
                ),
            )
        except urllib3.exceptions.HTTPError as exc:
            raise self._unreachable(exc) from None
        finally:
            if not isinstance(data, bytes | bytearray):
                body.close()
        if response.status != 201:
            raise self._error(what, response.status, response.data)
        stats = json.loads(response.data)
        return ObjectInfo(path, int(stats.get("size_bytes") or 0), str(stats["checksum"]))

    def delete(self, path: str, branch: str) -> None:
        """lakeFS answers 204 for a path that is not there; the lab says so, as the
        embedded store does."""
        try:
            self.stat(branch, path)
        except NotFoundError:
            self._call(  # a missing branch is named as such
                f"find branch '{branch}'",
                self.sdk.branches_api.get_branch,
                self.repository,
                branch,
            )
            raise NotFoundError(
                f"'{path}' not found on branch '{branch}'; see lab.data.ls('{branch}')"
            ) from None
        self._call(
            f"delete '{path}' on branch '{branch}'",
            self.sdk.objects_api.delete_object,
            self.repository,
            branch,
            path,
        )

    def reset(self, branch: str) -> None:
        self._call(
            f"reset branch '{branch}'",
            self.sdk.branches_api.reset_branch,
            self.repository,
            branch,
            self._models.ResetCreation(type="reset"),
        )

    def protection(self) -> list[str]:
        rules = self._call(
            "read the branch protection rules",
            self.sdk.repositories_api.get_branch_protection_rules,
            self.repository,
        )
        return sorted(r.pattern for r in rules)

    def set_protection(self, patterns: list[str]) -> None:
        rules = [self._models.BranchProtectionRule(pattern=p) for p in sorted(set(patterns))]
        self._call(
            "set the branch protection rules",
            self.sdk.repositories_api.set_branch_protection_rules,
            self.repository,
            rules,
        )

    def commit(self, branch: str, message: str, metadata: Metadata) -> str:
        meta = metadata() if callable(metadata) else metadata
        creation = self._models.CommitCreation(message=message, metadata=dict(meta))
        try:
            made = self._call(
                f"commit branch '{branch}'",
                self.sdk.commits_api.commit,
                self.repository,
                branch,
                creation,
            )
        except UsageError as exc:
            if "no changes" in str(exc):
                return self.resolve(branch)
            raise
        return str(made.id)

    def merge(
        self, source: str, dest: str, strategy: Strategy, message: str, metadata: Mapping[str, str]
    ) -> str:
        merge = self._models.Merge(
            message=message,
            metadata=dict(metadata),
            strategy=None if strategy == "fail" else strategy,
        )
        what = f"merge '{source}' into '{dest}'"
        try:
            result = self._call(
                what,
                self.sdk.refs_api.merge_into_branch,
                self.repository,
                source,
                dest,
                merge=merge,
            )
        except ConflictError:
            raise merge_conflict(source, dest, self._conflicts(source, dest)) from None
        except UsageError as exc:
            text = str(exc).lower()
            if "no changes" in text:
                return self.resolve(dest)
            if "dirty" in text or "uncommitted" in text:
                raise ConflictError(
                    f"branch '{dest}' has uncommitted changes; commit or reset it before merging into it"
                ) from None
            raise
        return str(result.reference)

    def _conflicts(self, source: str, dest: str) -> list[str]:
        base = self._call(
            f"find the merge base of '{source}' and '{dest}'",
            self.sdk.refs_api.find_merge_base,
            self.repository,
            source,
            dest,
        )
        ours = {c.path for c in self._diff(base.base_commit_id, base.source_commit_id)}
        theirs = {c.path for c in self._diff(base.base_commit_id, base.destination_commit_id)}
        return sorted(ours & theirs)

    # ---------------------------------------------------------------- reads

    def stat(self, ref: str, path: str) -> ObjectInfo:
        stats = self._call(
            f"read '{path}' at '{ref}'",
            self.sdk.objects_api.stat_object,
            self.repository,
            ref,
            path,
        )
        return ObjectInfo(path, int(stats.size_bytes or 0), str(stats.checksum))

    def read_bytes(self, ref: str, path: str) -> bytes:
        data = self._call(
            f"read '{path}' at '{ref}'",
            self.sdk.objects_api.get_object,
            self.repository,
            ref,
            path,
            _request_timeout=self._transfer_timeout,
        )
        return bytes(data)

    def open(self, ref: str, path: str) -> BinaryIO:
        return io.BytesIO(self.read_bytes(ref, path))

    def local_file(self, ref: str, path: str) -> str | None:
        return None

    def ls(self, ref: str, prefix: str) -> list[ObjectInfo]:
        return [
            ObjectInfo(s.path, int(s.size_bytes or 0), str(s.checksum))
            for s in self._pages(
                f"list objects at '{ref}'",
                self.sdk.objects_api.list_objects,
                self.repository,
                ref,
                prefix=prefix or None,
            )
            if s.path_type == "object"
        ]

    def log(self, ref: str, path: str | None, limit: int) -> list[CommitInfo]:
        filters: dict[str, Any] = {}
        if path:
            filters = {"prefixes": [path]} if path.endswith("/") else {"objects": [path]}
        out: list[CommitInfo] = []
        after = ""
        while len(out) < limit:
            page = self._call(
                f"read the log of '{ref}'",
                self.sdk.refs_api.log_commits,
                self.repository,
                ref,
                amount=min(PAGE, limit - len(out)),
                after=after,
                **filters,
            )
            out += [_commit(c) for c in page.results]
            if not page.pagination.has_more:
                break
            after = page.pagination.next_offset
        return out[:limit]

    def _diff(self, left: str, right: str) -> list[Change]:
        return [
            _change(d)
            for d in self._pages(
                f"diff '{left}' and '{right}'",
                self.sdk.refs_api.diff_refs,
                self.repository,
                left,
                right,
                type="two_dot",  # the two states as they are (lakeFS defaults to three_dot)
            )
            if d.path_type == "object"
        ]

    def diff(self, left: str, right: str) -> list[Change]:
        return self._diff(left, right)

    def uncommitted(self, branch: str) -> list[Change]:
        return [
            _change(d)
            for d in self._pages(
                f"list uncommitted changes of '{branch}'",
                self.sdk.branches_api.diff_branch,
                self.repository,
                branch,
            )
            if d.path_type == "object"
        ]

    def uri(self, ref: str, path: str, s3: bool) -> str:
        scheme = "s3" if s3 else "lakefs"
        return f"{scheme}://{self.repository}/{ref}/{path}"


def _message(body: Any) -> str:
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            parsed = json.loads(body)
        except ValueError:
            return body.strip()[:200] or "no message"
        if isinstance(parsed, dict) and parsed.get("message"):
            return str(parsed["message"])[:300]
        return body.strip()[:200]
    return "no message"


def _commit(c: Any) -> CommitInfo:
    return CommitInfo(
        id=str(c.id),
        message=str(c.message),
        parents=tuple(c.parents or ()),
        committer=str(c.committer),
        created=float(c.creation_date),
        metadata=dict(c.metadata or {}),
    )


def _change(d: Any) -> Change:
    kinds: dict[str, ChangeKind] = {"added": "added", "removed": "removed"}
    return Change(
        str(d.path),
        kinds.get(d.type, "changed"),
        None if d.size_bytes is None else int(d.size_bytes),
    )
