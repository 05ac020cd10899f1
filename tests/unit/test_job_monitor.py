"""The training monitor as a user sees it: a step indicator with a progress bar from the
moment the cell starts, the reported metrics drawn, framework noise folded away, colour
codes gone, and links instead of Stop once the job ends. Ray is replaced by a scripted
backend (the real one is exercised in tests/training)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mlops_lab.backends.training import base
from mlops_lab.services.training import Job
from mlops_lab.widgets.job import JobMonitor, split_noise, strip_ansi

RUN = "5f0c1d2e3a4b5c6d7e8f90a1b2c3d4e5"
LOG = [
    f"\x1b[36m(TrainController pid=4242)\x1b[0m [mlops] run {RUN} job fraud-mlp-1130-ab12",
    "[mlops] epochs 30",
    "/ray/train/_internal/session.py:123: RayDeprecationWarning: `ray.train.report` moved",
    "  warnings.warn(",
    "[2026-11-30 15:40:01,123 E 4242 4250] core_worker.cc:512: Failed to get object",
    '(RayTrainWorker pid=4300) [mlops] metrics {"epoch": 4, "loss": 0.52}',
    '[mlops] metrics {"epoch": 4, "loss": 0.52}',
    "Checkpoint successfully created at: Checkpoint(filesystem=local, path=/tmp/ckpt_000000)",
    "epoch 4 done on 2 workers",
    '(RayTrainWorker pid=4300) [mlops] metrics {"epoch": 9, "loss": 0.41}',
]


@dataclass
class ScriptedRay:
    """Answers like Ray's Job Submission client, from a script of (state, log lines)."""

    script: list[tuple[str, list[str]]]
    kind: str = "ray-local"
    target: str = "http://127.0.0.1:8265"
    polls: int = 0
    stopped: list[str] = field(default_factory=list)

    def _now(self) -> tuple[str, list[str]]:
        return self.script[min(self.polls, len(self.script) - 1)]

    def status(self, job_id: str) -> base.JobStatus:
        self.polls += 1
        return base.JobStatus(job_id, "fraud-mlp", self._now()[0])

    def logs(self, job_id: str) -> str:
        return "\n".join(self._now()[1]) + "\n"

    def stop(self, job_id: str) -> bool:
        self.stopped.append(job_id)
        return True


def _monitor(**kwargs: object) -> JobMonitor:
    return JobMonitor(None, name="fraud-mlp", **kwargs)  # type: ignore[arg-type]


def test_something_shows_before_the_job_exists() -> None:
    monitor = _monitor()
    assert "fraud-mlp" in monitor.header.value
    assert 'class="mlops-step-current">starting head<' in monitor.progress.value
    assert "mlops-progress" in monitor.progress.value  # a moving bar, amount unknown yet
    assert monitor.stop_button.disabled and repr(monitor) == "fraud-mlp: starting head"
    monitor.fail("could not start the local Ray head: port 8265 is taken")
    assert "port 8265 is taken" in monitor.header.value
    assert "#cf222e" in monitor.progress.value  # the step it failed at, in red


def test_running_epoch_k_of_n_with_a_bar_a_chart_and_quiet_logs() -> None:
    ray = ScriptedRay([(base.RUNNING, LOG)])
    monitor = _monitor().attach(Job(ray, "fraud-mlp-1130-ab12", "fraud-mlp"))  # type: ignore[arg-type]
    monitor.update(ray.status("x"), ray.logs("x"))

    assert 'class="mlops-step-current">running epoch 10/30<' in monitor.progress.value
    assert "&#10003; starting head" in monitor.progress.value
    assert 'aria-valuenow="33"' in monitor.progress.value
    assert [m["epoch"] for m in monitor.metrics] == [4, 9]  # the echoed line counted once
    assert monitor.chart.value.count("<svg") == 1 and "loss" in monitor.chart.value
    assert not monitor.stop_button.disabled and monitor.links.value == ""

    assert monitor.panel.selected_index is None  # logs folded by default
    logs = monitor.log_box.value
    assert "\x1b[" not in logs and "[36m" not in logs
    assert "epoch 4 done on 2 workers" in logs
    for noise in ("RayDeprecationWarning", "core_worker.cc", "Checkpoint successfully", "warn("):
        assert noise not in logs
    assert logs.count("[mlops] metrics {&quot;epoch&quot;: 4") == 1
    assert monitor.show_noise.description == "framework output (6 lines)"
    monitor.show_noise.value = True
    assert "core_worker.cc" in monitor.log_box.value
    assert "column-reverse" in monitor.log_box.value  # follows the newest line


def test_after_success_links_replace_stop_and_one_duration_is_shown() -> None:
    done = [*LOG, "[mlops] registering fraud", "[mlops] done in 64.7 s"]
    ray = ScriptedRay([(base.PENDING, []), (base.RUNNING, done[:3]), (base.SUCCEEDED, done)])
    monitor = _monitor(tracking_ui="http://mlflow.example:5000")
    monitor.attach(Job(ray, "fraud-mlp-1130-ab12", "fraud-mlp"))  # type: ignore[arg-type]
    monitor.poll = 0.0
    final = monitor.run()

    assert final.state == base.SUCCEEDED
    assert monitor.stop_button.disabled and monitor.stop_button.layout.display == "none"
    assert f'href="http://mlflow.example:5000/#/runs/{RUN}"' in monitor.links.value
    assert 'href="http://127.0.0.1:8265/#/jobs/fraud-mlp-1130-ab12"' in monitor.links.value
    assert "mlops-progress" not in monitor.progress.value
    assert monitor.progress.value.count("&#10003;") == 5  # every step done
    assert "64.7" not in monitor.log_box.value  # one duration: the monitor's
    seconds = re.findall(r"(\d+) s</span>", monitor.header.value)
    assert seconds == [f"{monitor.duration():.0f}"]
    assert repr(monitor).startswith("fraud-mlp-1130-ab12: succeeded, 0 s, epoch=9")


def test_registering_is_a_step_of_its_own() -> None:
    ray = ScriptedRay([(base.RUNNING, [*LOG, "[mlops] registering fraud"])])
    monitor = _monitor().attach(Job(ray, "j", "fraud-mlp"))  # type: ignore[arg-type]
    monitor.update(ray.status("j"), ray.logs("j"))
    assert 'class="mlops-step-current">registering<' in monitor.progress.value


def test_noise_and_colour_codes() -> None:
    assert strip_ansi("\x1b[1m\x1b[33mWARNING\x1b[0m x") == "WARNING x"
    kept, hidden = split_noise(["a", "FutureWarning: x", "", "b", "[E 1] gcs_client.cc:88: x"])
    assert (kept, hidden) == (["a", "b"], 3)


def test_the_scripts_own_warnings_stay_in_view() -> None:
    kept, hidden = split_noise(["Warning: 3% of labels are missing", "UserWarning: x"])
    assert (kept, hidden) == (["Warning: 3% of labels are missing"], 1)
