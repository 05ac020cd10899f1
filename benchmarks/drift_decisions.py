"""Per-column drift decisions and scores of mlops-lab against Evidently 0.7 on the same data.

Covers every branch of the default test choice (small and large reference, <= 5 and
<= 20 distinct values, binary and many categories, NaN and ±inf, unseen categories,
equal and unequal sample sizes), then PSI and Jensen-Shannon forced on every column
(Sturges bins). Evidently runs in its own environment (it needs pandas < 3):

    python -m venv .venv-evidently
    .venv-evidently/bin/pip install "evidently==0.7.*" "pandas<3" pyarrow
    .venv/bin/python benchmarks/drift_decisions.py [--evidently-python PATH]

Exits 1 when a decision differs or a score differs by more than 1e-6.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from drift_support.data import branch_cases  # noqa: E402

from mlops_lab.backends.drift import compare  # noqa: E402
from mlops_lab.backends.drift.engine import Options  # noqa: E402

TOLERANCE = 1e-6


def evidently(python: str, reference: Path, current: Path, method: str | None) -> dict:
    command = [
        python,
        str(HERE / "drift_support" / "evidently_peer.py"),
        str(reference),
        str(current),
    ]
    if method:
        command += ["--method", method]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"Evidently failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default = HERE.parent / ".venv-evidently" / "bin" / "python"
    parser.add_argument("--evidently-python", default=str(default))
    args = parser.parse_args()
    failures = 0
    compared = 0
    methods_seen: set[tuple[str, str]] = set()
    with tempfile.TemporaryDirectory() as folder:
        for case, reference, current in branch_cases():
            ref_file, cur_file = (
                Path(folder) / "reference.parquet",
                Path(folder) / "current.parquet",
            )
            reference.to_parquet(ref_file)
            current.to_parquet(cur_file)
            for method in (None, "psi", "jensenshannon"):
                peer = evidently(args.evidently_python, ref_file, cur_file, method)
                ours = compare(reference, current, options=Options(method=method))
                print(f"\n== {case}" + (f" — method={method}" if method else " — defaults"))
                print(
                    f"   {'column':<14} {'test':<14} {'mlops-lab':>12} {'Evidently':>12} "
                    f"{'|diff|':>9}  drift(ours/theirs)"
                )
                for column in ours.columns:
                    theirs = peer["columns"].get(column.column)
                    if theirs is None:
                        print(f"   {column.column:<14} not tested by Evidently")
                        failures += 1
                        continue
                    diff = abs(column.score - theirs["score"])
                    same = (
                        column.method == theirs["method"]
                        and column.drifted == theirs["drifted"]
                        and diff <= TOLERANCE
                    )
                    compared += 1
                    failures += not same
                    methods_seen.add((column.kind, column.method))
                    print(
                        f"   {column.column:<14} {column.method:<14} {column.score:>12.6g} "
                        f"{theirs['score']:>12.6g} {diff:>9.1e}  "
                        f"{'yes' if column.drifted else 'no'}/{'yes' if theirs['drifted'] else 'no'}"
                        + ("" if same else f"   <-- DIFFERS (Evidently: {theirs['method']})")
                    )
                missing = set(peer["columns"]) - set(ours.names)
                for name in sorted(missing):
                    print(f"   {name:<14} tested by Evidently only")
                    failures += 1
                print(
                    f"   dataset share {ours.share:.3f} vs {peer['share']:.3f}; "
                    f"unseen reported: "
                    + ", ".join(f"{c.column}={c.unseen_count}" for c in ours.columns if c.unseen)
                )
    print(f"\nbranches covered: {sorted(methods_seen)}")
    print(
        f"{compared} column decisions compared, {failures} differ "
        f"(decisions identical, scores within {TOLERANCE:g}: {'yes' if not failures else 'NO'})"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
