"""The MLflow side of a notebook job in a process of its own.

`mlops-lab run` starts a recorder process first thing, before it reads the notebook's
parameters: it imports MLflow (seconds) while the CLI imports papermill and starts the
kernel, then opens the tracking store and the job's run; in a thread it would wait on the
CLI's own imports (one interpreter lock). The CLI asks it for the run before the first cell,
and to collect and finish the run after the last one, over its stdin/stdout, one JSON line
per call. A command that ends before its first call (bad input) stops it at once: until
then it has only imported modules.

A process that has MLflow imported already (a kernel, a pipeline's second job) records in a
thread instead: there is nothing left to overlap.
"""

from __future__ import annotations

import base64
import contextlib
import json
import pickle
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_lab.backends.tracking.mlflow import JobRecorder
from mlops_lab.errors import BackendError

if TYPE_CHECKING:
    from mlops_lab.config import Config
    from mlops_lab.lab import Lab


@contextlib.contextmanager
def job_recorder(lab: Lab) -> Iterator[JobRecorder | RecorderProcess]:
    """The job's recorder: a process of its own unless this one has imported MLflow."""
    if "mlflow" in sys.modules:
        yield JobRecorder(lab.tracking)
        return
    process = RecorderProcess(lab.config)
    try:
        yield process
    finally:
        process.close()


class RecorderProcess:
    """A JobRecorder in a child process: same calls, made over a pipe. Started at once, so
    it imports MLflow while the caller goes on to start the kernel."""

    def __init__(self, config: Config) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "mlops_lab.cli._job_recorder"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=str(config.root),
        )
        self._lock = threading.Lock()
        self._called = False
        self._send({"config": base64.b64encode(pickle.dumps(config)).decode()})

    def start(
        self,
        name: str,
        tags: dict[str, str],
        params: dict[str, Any],
        parent_run_id: str | None,
        experiment: str | None = None,
    ) -> str:
        return str(self._call("start", name, tags, params, parent_run_id, experiment))

    def collect(
        self, run_id: str, source: str, started: float, job_id: str = ""
    ) -> tuple[dict[str, list[str]], dict[str, float], dict[str, str], dict[str, str]]:
        produced, metrics, params, tags = self._call("collect", run_id, source, started, job_id)
        return produced, metrics, params, tags

    def finish(self, run_id: str, output: Path | None, status: str, tags: dict[str, str]) -> None:
        self._call("finish", run_id, str(output) if output else None, status, tags)

    def close(self) -> None:
        """Ends the process: at the end of its input once it was asked anything (it has
        answered every call by then), at once when it was not (it only imported MLflow)."""
        if not self._called:
            self._process.kill()
        if self._process.stdin and not self._process.stdin.closed:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout:
            self._process.stdout.close()

    def _send(self, message: dict[str, Any]) -> None:
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(json.dumps(message, default=str) + "\n")
            self._process.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass  # it exited: the reply's read says so

    def _call(self, call: str, *args: Any) -> Any:
        assert self._process.stdout is not None
        with self._lock:
            self._called = True
            self._send({"call": call, "args": args})
            line = self._process.stdout.readline()
        if not line:
            code = self._process.poll()
            raise BackendError(
                f"the notebook job's MLflow recorder exited (code {code}) before it "
                f"answered '{call}'"
            )
        reply = json.loads(line)
        if "error" in reply:
            raise RecordingFailed(reply["error"])
        return reply["result"]


class RecordingFailed(Exception):
    """A recorder call failed in the child: its message is 'ErrorType: first line'."""
