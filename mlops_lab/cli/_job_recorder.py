"""The recorder process of `mlops-lab run` (see services/notebooks/recorder.py): it reads
the job's configuration, then one JSON call per line on stdin (start, collect, finish of the
job's MLflow run) and answers each with one JSON line on stdout, until its input ends."""

from __future__ import annotations

import base64
import json
import logging
import os
import pickle
import signal
import sys
from pathlib import Path
from typing import Any

from mlops_lab.backends.tracking.mlflow import JobRecorder


def serve() -> None:
    # Ctrl-C is for the CLI: it still records the interrupted job through this process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Replies own stdout; whatever MLflow or a library prints goes to stderr instead.
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    from mlops_lab.lab import Lab
    from mlops_lab.notices import quiet_kernel

    quiet_kernel()
    # MLflow logs a failing store write with its traceback before raising; the reply says it
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
    config = pickle.loads(base64.b64decode(json.loads(sys.stdin.readline())["config"]))
    recorder = JobRecorder(Lab(config).tracking)
    opening: Exception | None = None
    try:  # import MLflow and open the store before the first call
        recorder.client  # noqa: B018
    except Exception as exc:
        opening = exc
    for line in sys.stdin:
        request = json.loads(line)
        args = request["args"]
        try:
            if opening is not None:
                raise opening
            if request["call"] == "finish" and args[1] is not None:
                args[1] = Path(args[1])
            result = getattr(recorder, request["call"])(*args)
            reply: dict[str, Any] = {"result": result}
        except Exception as exc:
            text = str(exc).strip().splitlines()
            reply = {"error": f"{type(exc).__name__}: {text[0] if text else ''}"}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()
    os._exit(0)  # not the interpreter's teardown of MLflow's modules


if __name__ == "__main__":
    serve()
