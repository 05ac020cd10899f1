"""Embedded data store against plain files.

1. commit of a multi-file parquet dataset (stage the folder + commit) vs ``cp -r`` of the
   same files (goal <= 1.5x);
2. re-commit of the unchanged dataset vs the first commit (goal <= 5%);
3. ``read_table`` at a commit vs ``pandas.read_parquet`` on the plain file (goal <= 1.1x).

    python benchmarks/data_local.py [--size-mb 1024] [--files 16] [--dir /tmp]
    python benchmarks/data_local.py --size-mb 128 --files 4000   # many small files

The commit hashes on as many threads as there are CPUs: on a machine whose other core is
busy it gets one core, and copy + sha256 is then about 2.5x ``cp -r``'s copy alone.

Needs about three times --size-mb of free disk (dataset, copy, store); all removed after.
Also prints the CPU seconds of each side and of sha256 alone over the dataset: a commit
must hash every byte, so on a machine without idle cores the hash sets the floor.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_dataset(folder: Path, size_mb: int, files: int) -> int:
    import numpy as np
    import pandas as pd

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    columns = 7  # plus the id column: 8 x 8 bytes a row
    rows = max(1000, size_mb * (1 << 20) // files // (8 * (columns + 1)))
    total = 0
    for i in range(files):
        frame = pd.DataFrame(rng.random((rows, columns)), columns=[f"c{j}" for j in range(columns)])
        frame["id"] = np.arange(i * rows, (i + 1) * rows)
        path = folder / f"part-{i:04d}.parquet"
        frame.to_parquet(path, compression=None)
        total += path.stat().st_size
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size-mb", type=int, default=1024, help="dataset size (default 1024 = 1 GB)"
    )
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of copy/commit (median)")
    parser.add_argument("--dir", default=None, help="where to put the temporary data")
    parser.add_argument(
        "--reads", type=int, default=21, help="repetitions of each read (interleaved)"
    )
    args = parser.parse_args()

    import pandas as pd

    import mlops_lab

    work = Path(tempfile.mkdtemp(prefix="mlops-bench-", dir=args.dir))
    try:
        dataset = work / "dataset"
        size = make_dataset(dataset, args.size_mb, args.files)
        time.sleep(0.2)  # past the stat cache's racy window, as for any file not just written
        print(f"dataset: {args.files} parquet files, {size / (1 << 20):.0f} MB in {work}")

        copies, commits, recommits, copy_cpu, commit_cpu = [], [], [], [], []
        for round_ in range(args.rounds):  # fresh copy and fresh store each round; medians
            os.sync()  # each timed step starts with no dirty pages of the previous one
            children = _children_cpu()
            started = time.perf_counter()
            subprocess.run(["cp", "-r", str(dataset), str(work / "copy")], check=True)
            copies.append(time.perf_counter() - started)
            copy_cpu.append(_children_cpu() - children)
            shutil.rmtree(work / "copy")

            project = work / f"project-{round_}"
            project.mkdir()
            lab = mlops_lab.connect(project)
            lab.init()
            data = lab.data
            data.branches()  # create the store outside the timing
            os.sync()
            cpu = time.process_time()
            started = time.perf_counter()
            data.write_file(dataset, "ds")
            commit = data.commit("main", "dataset")
            commits.append(time.perf_counter() - started)
            commit_cpu.append(time.process_time() - cpu)

            started = time.perf_counter()
            data.write_file(dataset, "ds")
            again = data.commit("main", "dataset, unchanged")
            recommits.append(time.perf_counter() - started)
            assert again == commit, "an unchanged dataset made a new commit"
            if round_ < args.rounds - 1:
                subprocess.run(["chmod", "-R", "u+w", str(project)], check=True)
                shutil.rmtree(project)
        copy_s, commit_s, recommit_s = (statistics.median(x) for x in (copies, commits, recommits))
        cpu = time.process_time()
        for part in sorted(dataset.iterdir()):
            with open(part, "rb") as fh:
                hashlib.file_digest(fh, "sha256")
        hash_cpu = time.process_time() - cpu

        plain = dataset / "part-0000.parquet"
        lab_reads, raw_reads = [], []
        pd.read_parquet(plain)
        data.read_table("ds/part-0000.parquet", commit)  # both warm
        for i in range(args.reads):
            for which in ("raw", "lab") if i % 2 else ("lab", "raw"):  # alternate the order
                started = time.perf_counter()
                if which == "raw":
                    pd.read_parquet(plain)
                else:
                    data.read_table("ds/part-0000.parquet", commit)
                (raw_reads if which == "raw" else lab_reads).append(time.perf_counter() - started)
        raw_read, lab_read = statistics.median(raw_reads), statistics.median(lab_reads)

        print(
            f"cp -r: {copy_s:.2f} s   commit: {commit_s:.2f} s   re-commit: {recommit_s * 1000:.1f} ms"
            f" (median of {args.rounds} rounds; commit = stage the folder + commit)"
        )
        print(
            f"CPU seconds: cp -r {statistics.median(copy_cpu):.2f}   commit "
            f"{statistics.median(commit_cpu):.2f}   sha256 of the dataset alone {hash_cpu:.2f} "
            f"({os.cpu_count()} CPUs)"
        )
        print(
            f"read_parquet: {raw_read * 1000:.1f} ms   read_table: {lab_read * 1000:.1f} ms (median of {args.reads})"
        )
        ratios = [
            ("commit/cp -r", commit_s / copy_s, 1.5),
            ("re-commit/commit", recommit_s / commit_s, 0.05),
            ("read_table/read_parquet", lab_read / raw_read, 1.1),
        ]
        for name, ratio, goal in ratios:
            print(f"ratio {name} = {ratio:.3f} (goal <= {goal:g})")
        return 0
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(work)], check=False)
        shutil.rmtree(work, ignore_errors=True)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    sys.exit(main())
