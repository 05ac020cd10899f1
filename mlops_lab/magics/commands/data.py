"""`%mlops data ...`: branch, commit, diff, merge and read versioned datasets."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from mlops_lab.display import Table
from mlops_lab.errors import UsageError
from mlops_lab.widgets.progress import ProgressLine

if TYPE_CHECKING:
    from mlops_lab.magics import Context

DESCRIPTION = (
    "Version data: branch, branches, commit, log, diff, merge, tag, ls, reset, read, write, "
    "browse, check."
)


class CommitId(str):
    """A commit id (use it as a string) that shows what happened."""

    note: str = ""

    def __repr__(self) -> str:
        if not self.note:
            return str(self)
        return f"{self.note} {self[:12]}" if self else self.note


def _commit_id(value: str, note: str) -> CommitId:
    result = CommitId(value)
    result.note = note
    return result


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = sub.add_parser("branch", help="create a branch (or delete one with -d)")
    p.add_argument("name")
    p.add_argument("--from", dest="source", default=None, help="ref to branch from (default: main)")
    p.add_argument("-d", "--delete", action="store_true", help="delete the branch instead")

    sub.add_parser("branches", help="list branches and their head commits")

    p = sub.add_parser("commit", help="commit a branch's staged changes")
    p.add_argument("branch", nargs="?", default=None)
    p.add_argument("-m", "--message", required=True)
    p.add_argument(
        "--meta",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="commit metadata (repeatable)",
    )

    p = sub.add_parser("log", help="commits reachable from a ref, newest first")
    p.add_argument("ref", nargs="?", default=None)
    p.add_argument("--path", default=None, help="only commits that changed this path (or prefix/)")
    p.add_argument("-n", "--limit", type=int, default=20)

    p = sub.add_parser("diff", help="changes between two refs, or a branch's uncommitted changes")
    p.add_argument("left", nargs="?", default=None)
    p.add_argument("right", nargs="?", default=None)

    p = sub.add_parser("merge", help="merge a ref into a branch")
    p.add_argument("source")
    p.add_argument("dest", nargs="?", default=None)
    p.add_argument("--strategy", choices=["fail", "source-wins", "dest-wins"], default="fail")
    p.add_argument("-m", "--message", default=None)

    p = sub.add_parser("tag", help="create a tag at a ref")
    p.add_argument("name")
    p.add_argument("ref", nargs="?", default=None)

    p = sub.add_parser(
        "protect", help="protect branches (name or pattern): they change only by merges"
    )
    p.add_argument("pattern", nargs="?", default=None, help="omit to list the rules")
    p.add_argument("--remove", action="store_true", help="remove the rule instead")

    p = sub.add_parser("ls", help="objects at a ref with sizes")
    p.add_argument("ref", nargs="?", default=None)
    p.add_argument("--prefix", default="")

    p = sub.add_parser("reset", help="drop a branch's uncommitted changes")
    p.add_argument("branch", nargs="?", default=None)

    p = sub.add_parser("read", help="df = %%mlops data read PATH [--ref REF]")
    p.add_argument("path")
    p.add_argument("--ref", default=None)

    p = sub.add_parser("write", help="stage a DataFrame (or bytes, or a local file path) variable")
    p.add_argument("variable")
    p.add_argument("path")
    p.add_argument("--branch", default=None)

    sub.add_parser("browse", help="the data browser widget")

    p = sub.add_parser("check", help="list every problem of the embedded store")
    p.add_argument("--deep", action="store_true", help="also re-hash every object")


def _metadata(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--meta {pair!r}: write KEY=VALUE")
        out[key] = value
    return out


def _progress(ctx: Context) -> Any:
    """A progress line in a notebook; nothing in a terminal (the command prints its result)."""
    return ProgressLine() if ctx.shell is not None else None


def exit_code(args: argparse.Namespace, result: Any) -> int:
    """`mlops-lab data check` fails a script when the store has problems."""
    return 1 if args.action == "check" and result.rows else 0


def run(ctx: Context, args: argparse.Namespace) -> Any:
    data = ctx.lab.data
    rows = ctx.max_rows
    action = args.action
    if action == "branch":
        if args.delete:
            data.delete_branch(args.name)
            return _commit_id("", f"deleted branch {args.name}")
        created = data.create_branch(args.name, args.source)
        return _commit_id(created.commit_id, f"branch {created.name} at")
    if action == "branches":
        return data.branches().table(rows)
    if action == "commit":
        branch = args.branch or data.default_branch
        before = data.resolve(branch)
        commit = data.commit(branch, args.message, _metadata(args.meta), _progress(ctx))
        note = (
            f"nothing to commit on {branch}; head stays"
            if commit == before
            else f"committed {branch} at"
        )
        return _commit_id(commit, note)
    if action == "log":
        return data.log(args.ref, args.path, args.limit).table(rows)
    if action == "diff":
        diff = data.diff(args.left, args.right)
        diff.max_rows = rows
        return diff
    if action == "merge":
        dest = args.dest or data.default_branch
        commit = data.merge(args.source, dest, args.strategy, args.message)
        return _commit_id(commit, f"merged {args.source} into {dest} at")
    if action == "tag":
        return _commit_id(data.tag(args.name, args.ref), f"tag {args.name} at")
    if action == "protect":
        if args.pattern is None:
            rules = data.protection()
        elif args.remove:
            rules = data.unprotect(args.pattern)
        else:
            rules = data.protect(args.pattern)
        return Table(["protected branches"], [[r] for r in rules], max_rows=rows)
    if action == "ls":
        return data.ls(args.ref, args.prefix).table(rows)
    if action == "reset":
        branch = args.branch or data.default_branch
        data.reset(branch)
        return _commit_id("", f"dropped uncommitted changes of {branch}")
    if action == "read":
        return data.read_table(args.path, args.ref)
    if action == "write":
        value = ctx.variable(args.variable)
        info: object
        if hasattr(value, "to_parquet"):
            info = data.write_table(value, args.path, args.branch)
        elif isinstance(value, bytes | bytearray | str):
            info = data.write_file(
                bytes(value) if isinstance(value, bytearray) else value, args.path, args.branch
            )
        else:
            raise UsageError(
                f"'{args.variable}' is a {type(value).__name__}; write a DataFrame, bytes or a file path"
            )
        branch = args.branch or data.default_branch
        staged = info if isinstance(info, list) else [info]
        return _commit_id(
            "",
            f"staged {len(staged)} file(s) under {args.path} on {branch}; "
            f"%mlops data commit {branch} -m '...' to commit",
        )
    if action == "browse":
        from mlops_lab.widgets.data import DataBrowser

        return DataBrowser(data)
    if action == "check":
        return data.check(args.deep).table(rows)
    raise UsageError(f"unknown action {action}")  # argparse already limits the choices
