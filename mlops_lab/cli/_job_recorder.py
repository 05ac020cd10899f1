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
    # Import MLflow before the first call, and nothing more: the store is opened by that
    # call, so a command that ends before recording anything (bad input) leaves no trace.
    import_mlflow(config.tracking.uri)
    for line in sys.stdin:
        request = json.loads(line)
        args = request["args"]
        try:
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


def import_mlflow(uri: str) -> None:
    """MLflow's client and the modules of the store at ``uri``: for a database, MLflow's
    SQLAlchemy stores (2 s, as long as MLflow itself); for a tracking server, its
    request-header plugins.

    MLflow loads every ``mlflow.request_header_provider`` plugin at its first request to a
    server. Feast registers one, and loading it imports all of Feast (and torch): 3 to 10 s
    before the job's run could be opened. It adds a header only inside Feast's own token
    scope, which this process never enters, so it is left out here; other plugins (a
    server's authentication) load as usual.
    """
    import mlflow
    from mlflow.store.db.db_types import DATABASE_ENGINES

    if uri.split(":", 1)[0].split("+", 1)[0] in DATABASE_ENGINES:
        import mlflow.store.model_registry.sqlalchemy_store
        import mlflow.store.tracking.sqlalchemy_store
    if not uri.startswith(("http://", "https://")):
        return
    if "mlflow.tracking.request_header.registry" in sys.modules:
        return
    from mlflow.utils import plugins

    every_plugin = plugins.get_entry_points

    def without_feast(group: str) -> list[Any]:
        return [e for e in every_plugin(group) if not e.value.startswith("feast.")]

    plugins.get_entry_points = without_feast
    try:
        import mlflow.tracking.request_header.registry  # noqa: F401
    finally:
        plugins.get_entry_points = every_plugin


if __name__ == "__main__":
    serve()
