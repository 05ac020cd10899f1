"""Drift check speed, memory and report size of mlops-lab against Evidently 0.7, same data.

Targets (issue 12): 1M rows x 25 columns in <= 1.5 s with the reference's statistics
cached and <= 2.5 s cold, peak memory <= 2x the data's size; 100k x 25 cold <= 0.2 s;
1M x 100 cached <= 6 s; report <= 100 KB for 25 columns. Evidently runs in its own
environment (see drift_decisions.py) on the same Parquet files, by default at 100k rows
(its 1M run takes minutes; pass --evidently-rows 1000000 to time it there too).

    .venv/bin/python benchmarks/drift_speed.py [--evidently-rows N] [--skip-evidently]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from drift_support.data import wide  # noqa: E402

from mlops_lab.backends.drift import ReferenceStats, compare  # noqa: E402


def best_of(runs: int, call) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        gc.collect()
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return min(times)


def peak_extra(call) -> int:  # type: ignore[no-untyped-def]
    """Bytes allocated above what existed before the call, at the peak (numpy reports its
    buffers to tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    call()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def size(frame) -> int:  # type: ignore[no-untyped-def]
    return int(frame.memory_usage(deep=True).sum())


def evidently(python: str, reference, current, folder: Path) -> dict:  # type: ignore[no-untyped-def]
    ref_file, cur_file = folder / "ev_reference.parquet", folder / "ev_current.parquet"
    reference.to_parquet(ref_file)
    current.to_parquet(cur_file)
    html = folder / "evidently.html"
    command = [
        python,
        str(HERE / "drift_support" / "evidently_peer.py"),
        str(ref_file),
        str(cur_file),
    ]
    done = subprocess.run(
        [*command, "--html", str(html)], capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"Evidently failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def hundred_columns_cached() -> float:
    stats = ReferenceStats.build(wide(1_000_000, 100, 0))  # the reference frame is dropped
    current = wide(1_000_000, 100, 1, shifted=True)
    return best_of(2, lambda: compare(stats, current))


def line(label: str, seconds: float, target: float) -> None:
    verdict = "ok" if seconds <= target else "OVER"
    print(f"{label:<44} {seconds:8.3f} s   target <= {target:g} s   {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--evidently-python", default=str(HERE.parent / ".venv-evidently/bin/python")
    )
    parser.add_argument("--evidently-rows", type=int, default=100_000)
    parser.add_argument("--skip-evidently", action="store_true")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    compare(wide(1000, 5), wide(1000, 5, 1))  # imports (scipy, pandas internals) once

    reference, current = wide(1_000_000, 25, 0), wide(1_000_000, 25, 1, shifted=True)
    data_bytes = size(reference) + size(current)
    cold = best_of(3, lambda: compare(reference, current))
    stats = ReferenceStats.build(reference)
    cached = best_of(3, lambda: compare(stats, current))
    cold_peak = peak_extra(lambda: compare(reference, current))
    cached_peak = peak_extra(lambda: compare(stats, current))
    result = compare(stats, current)

    small_ref, small_cur = reference.iloc[:100_000].copy(), current.iloc[:100_000].copy()
    small = best_of(5, lambda: compare(small_ref, small_cur))
    wide_cached = hundred_columns_cached()

    print(f"\ndata: 1M x 25 reference + current = {data_bytes / 2**20:.0f} MiB")
    line("1M x 25, reference statistics cached", cached, 1.5)
    line("1M x 25, cold (both samples prepared)", cold, 2.5)
    line("100k x 25, cold", small, 0.2)
    line("1M x 100, reference statistics cached", wide_cached, 6.0)
    for label, extra in (("cold", cold_peak), ("cached", cached_peak)):
        total = (data_bytes + extra) / data_bytes
        print(
            f"peak memory, {label:<6}: data + {extra / 2**20:.0f} MiB = {total:.2f}x the data "
            f"(target <= 2x)  {'ok' if total <= 2 else 'OVER'}"
        )
    report_bytes = len(result._repr_html_().encode("utf-8"))
    print(f"report, 25 columns: {report_bytes / 1024:.1f} KB (target <= 100 KB)")

    if args.skip_evidently:
        return 0
    rows = args.evidently_rows
    ours_at = small if rows == 100_000 else cold if rows == 1_000_000 else None
    with tempfile.TemporaryDirectory() as folder:
        ref_rows = wide(rows, 25, 0)
        cur_rows = wide(rows, 25, 1, shifted=True)
        if ours_at is None:
            ours_at = best_of(3, lambda: compare(ref_rows, cur_rows))
        peer = evidently(args.evidently_python, ref_rows, cur_rows, Path(folder))
    print(
        f"\nEvidently 0.7 DataDriftPreset at {rows:,} rows x 25: {peer['seconds']:.1f} s, "
        f"peak RSS {peer['peak_rss'] / 2**20:.0f} MiB, HTML {peer['html_bytes'] / 2**20:.2f} MB"
    )
    print(
        f"mlops-lab cold at {rows:,} rows x 25: {ours_at:.3f} s -> "
        f"{peer['seconds'] / ours_at:.0f}x faster; report {report_bytes / 1024:.1f} KB vs "
        f"{peer['html_bytes'] / 1024:.0f} KB ({peer['html_bytes'] / report_bytes:.0f}x smaller)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
