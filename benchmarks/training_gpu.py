"""GPU training throughput: the body `%%mlops train --gpus 1` runs vs the same loop in plain PyTorch.

Both sides run one training function on the same GPU, in one script: an MLP 64-1024-1024-1
over synthetic tabular data held on the GPU, batch 8192, fp32. The lab side runs it through
``train_helpers.fit_torch`` with the scaling a ``--gpus 1`` job gets from its environment
(one Ray Train worker holding the GPU), reporting once per epoch as a cell body does.
Samples/s are timed inside the loop after a warm-up epoch, so Ray's start-up is not counted
(it is printed separately); plain PyTorch runs before and after the lab and is averaged.

    python benchmarks/training_gpu.py [--rows 4194304] [--epochs 6]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

BATCH = 8192
FEATURES = 64


def make_model(torch: Any) -> Any:
    return torch.nn.Sequential(
        torch.nn.Linear(FEATURES, 1024),
        torch.nn.ReLU(),
        torch.nn.Linear(1024, 1024),
        torch.nn.ReLU(),
        torch.nn.Linear(1024, 1),
    )


def train(model: Any, device: Any, rows: int, epochs: int, on_epoch: Any = None) -> float:
    """Trains ``epochs`` + 1 epochs (the first is warm-up); samples/s over the timed ones."""
    import torch

    generator = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(rows, FEATURES, device=device, generator=generator)
    y = (x[:, :4].sum(1, keepdim=True) > 0).float()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    start = 0.0
    for epoch in range(epochs + 1):
        if epoch == 1:
            torch.cuda.synchronize(device)
            start = time.perf_counter()
        for i in range(0, rows, BATCH):
            loss = loss_fn(model(x[i : i + BATCH]), y[i : i + BATCH])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if on_epoch is not None:
            on_epoch(epoch, loss)
    torch.cuda.synchronize(device)
    return rows * epochs / (time.perf_counter() - start)


def plain(rows: int, epochs: int) -> float:
    import torch

    device = torch.device("cuda:0")
    return train(make_model(torch).to(device), device, rows, epochs)


def lab_loop(config: dict[str, Any]) -> None:
    import torch

    from mlops_lab import train_helpers as th

    model = th.prepare_model(make_model(torch))

    def on_epoch(epoch: int, loss: Any) -> None:
        th.report({"epoch": epoch, "loss": loss.item()})

    rate = train(model, th.device(), config["rows"], config["epochs"], on_epoch)
    if th.rank() == 0:
        Path(config["out"]).write_text(str(rate), encoding="utf-8")


def lab(rows: int, epochs: int) -> tuple[float, float]:
    import ray

    from mlops_lab import train_helpers as th
    from mlops_lab.jobenv import JobEnv

    os.environ.update(JobEnv(workers="1", gpus="1", cpus="1").to_env())
    out = Path(tempfile.mkdtemp()) / "samples_per_s"
    started = time.perf_counter()
    ray.init(num_gpus=1, include_dashboard=False, log_to_driver=False)
    try:
        th.fit_torch(lab_loop, {"rows": rows, "epochs": epochs, "out": str(out)}, name="gpu-bench")
    finally:
        ray.shutdown()
    return float(out.read_text(encoding="utf-8")), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4 * 1024 * 1024)
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("training_gpu: no CUDA device here; run this on a GPU machine")
    print(f"GPU: {torch.cuda.get_device_name(0)}; {args.rows:,} rows x {args.epochs} epochs")
    before = plain(args.rows, args.epochs)
    lab_rate, wall = lab(args.rows, args.epochs)
    after = plain(args.rows, args.epochs)
    torch_rate = (before + after) / 2
    print(
        f"plain PyTorch           {torch_rate / 1e6:7.2f} M samples/s  (before and after the lab: "
        f"{before / 1e6:.2f}, {after / 1e6:.2f})"
    )
    print(f"%%mlops train --gpus 1  {lab_rate / 1e6:7.2f} M samples/s  (whole fit {wall:.1f} s)")
    print(f"ratio lab/plain: {lab_rate / torch_rate:.3f} (goal >= 0.95)")


if __name__ == "__main__":
    main()
