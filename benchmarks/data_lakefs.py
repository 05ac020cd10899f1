"""lakeFS backend overhead: each lab.data operation against the same raw SDK call, both
against the contract-checking lakeFS test server (tests/data/lakefs_server.py).

    python benchmarks/data_lakefs.py [--repeat 30] [--no-validate]

Prints the median time of each operation both ways and the ratio of their sums (goal <= 1.1).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "data"))

KEY, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument(
        "--no-validate", action="store_true", help="skip the server's contract checks"
    )
    args = parser.parse_args()

    import logging

    import lakefs_sdk
    from lakefs_server import LakeFSServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log per request

    import mlops_lab

    specs = Path(os.environ.get("MLOPS_SPECS_DIR") or ROOT.parent / "shared" / "specs")
    server = LakeFSServer(
        specs / "lakefs" / "swagger.yml", KEY, SECRET, validate=not args.no_validate
    )
    server.start()
    project = Path(tempfile.mkdtemp(prefix="mlops-bench-"))
    try:
        server.create_repository("bench")
        os.environ.update(
            LAKECTL_SERVER_ENDPOINT_URL=server.endpoint,
            LAKECTL_CREDENTIALS_ACCESS_KEY_ID=KEY,
            LAKECTL_CREDENTIALS_SECRET_ACCESS_KEY=SECRET,
            MLOPS_DATA_BACKEND="lakefs",
            MLOPS_DATA_REPOSITORY="bench",
        )
        data = mlops_lab.connect(project).data
        sdk = data.backend.sdk  # the same official client, called directly
        payload = os.urandom(64 * 1024)
        data.write_file(payload, "base/object.bin")
        data.commit("main", "base")
        head = data.resolve("main")
        raw_file = project / "object.bin"
        raw_file.write_bytes(payload)

        def raw_upload(path: str) -> object:
            return sdk.objects_api.upload_object("bench", "main", path, content=str(raw_file))

        counter = iter(range(10**9))
        ops: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
            "write": (
                lambda: data.write_file(payload, f"w/lab-{next(counter)}.bin", "main"),
                lambda: raw_upload(f"w/raw-{next(counter)}.bin"),
            ),
            "read": (
                lambda: data.open("base/object.bin", head).read(),
                lambda: sdk.objects_api.get_object("bench", head, "base/object.bin"),
            ),
            "stat": (
                lambda: data.stat("base/object.bin", head),
                lambda: sdk.objects_api.stat_object("bench", head, "base/object.bin"),
            ),
            "ls": (
                lambda: data.ls(head),
                lambda: sdk.objects_api.list_objects("bench", head, amount=1000),
            ),
            "resolve": (
                lambda: data.resolve("main"),
                lambda: sdk.refs_api.log_commits("bench", "main", amount=1),
            ),
            "log": (
                lambda: data.log("main", limit=100),
                lambda: sdk.refs_api.log_commits("bench", "main", amount=100),
            ),
            "diff": (
                lambda: data.diff(head, "main"),
                lambda: sdk.refs_api.diff_refs("bench", head, "main", amount=1000, type="two_dot"),
            ),
            "branch": (
                lambda: data.create_branch(f"lab-{next(counter)}", head),
                lambda: sdk.branches_api.create_branch(
                    "bench", lakefs_sdk.BranchCreation(name=f"raw-{next(counter)}", source=head)
                ),
            ),
            "commit": (
                lambda: data.commit("main", "lab commit"),
                lambda: sdk.commits_api.commit(
                    "bench", "main", lakefs_sdk.CommitCreation(message="raw commit")
                ),
            ),
        }
        lab_total = raw_total = 0.0
        for name, (lab_op, raw_op) in ops.items():
            lab_times, raw_times = [], []
            for i in range(args.repeat):
                if name == "commit":  # each commit needs something staged
                    data.write_file(os.urandom(16), f"c/{next(counter)}.bin", "main")
                for which in ("lab", "raw") if i % 2 else ("raw", "lab"):
                    if name == "commit" and which == "raw":
                        data.write_file(os.urandom(16), f"c/{next(counter)}.bin", "main")
                    took = timed(lab_op if which == "lab" else raw_op)
                    (lab_times if which == "lab" else raw_times).append(took)
            lab_med, raw_med = statistics.median(lab_times), statistics.median(raw_times)
            lab_total += lab_med
            raw_total += raw_med
            print(
                f"{name:8s} lab {lab_med * 1000:7.2f} ms   raw SDK {raw_med * 1000:7.2f} ms   x{lab_med / raw_med:.2f}"
            )
        print(
            f"contract validation on the server: {'off' if args.no_validate else 'on'}; violations: {len(server.violations)}"
        )
        print(
            "(lab commits also record their origin: notebook path, git commit and dirty flag, "
            "which costs a git subprocess or two)"
        )
        print(f"ratio lab/raw = {lab_total / raw_total:.3f} (goal <= 1.1)")
        return 1 if server.violations else 0
    finally:
        server.stop()
        shutil.rmtree(project, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
