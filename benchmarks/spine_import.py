"""`import mlops_lab` + `%load_ext mlops_lab` vs `import mlflow`, each in fresh interpreters.

Goal: lab median <= 0.3 s and <= 10% of `import mlflow`.
"""

from __future__ import annotations

import statistics
import subprocess
import sys

LAB = """
import time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
t = time.perf_counter()
import mlops_lab
shell.run_line_magic("load_ext", "mlops_lab")
print(time.perf_counter() - t)
"""

PEER = """
import time
t = time.perf_counter()
import mlflow
print(time.perf_counter() - t)
"""


def measure(code: str, runs: int) -> float:
    times = [
        float(
            subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            .stdout.strip()
            .splitlines()[-1]
        )
        for _ in range(runs)
    ]
    return statistics.median(times)


def main(runs: int = 11) -> None:
    measure(PEER, 1)  # warm the file cache for both
    measure(LAB, 1)
    lab, peer = measure(LAB, runs), measure(PEER, runs)
    print(f"import mlops_lab + %load_ext: median {lab * 1000:.1f} ms over {runs} runs")
    print(f"import mlflow:                median {peer * 1000:.1f} ms over {runs} runs")
    print(f"ratio lab/mlflow = {lab / peer:.3f} (goal <= 0.10; lab goal <= 300 ms)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 11)
