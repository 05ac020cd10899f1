"""The validation gate: is a candidate model version good enough to deploy?

MLflow does the judging. ``mlflow.models.evaluate`` scores the candidate and the baseline
(the version behind ``against``, by default ``@champion``) on the same holdout, and
``mlflow.validate_evaluation_results`` checks each ``MetricThreshold`` (an absolute
threshold, a minimum absolute or relative change against the baseline, and the metric's
direction). The gate adds a latency budget (p99 of one-row predictions, measured on the
served endpoint when a ``predict`` callable is given, else on the loaded model in this
process) and an optional slice check (the metric per value of a column; the largest gap).

The evaluation is one MLflow run (the baseline's and each slice's evaluation are its child
runs). The verdict, a one-line summary, that run and the holdout's data commit are set as
tags on the model version; serving reads the verdict before it deploys.

The rules (metric names, thresholds, the magic's flags) are in validation_rules, the
verdict and its rendering in validation_report.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from mlops_lab import lineage
from mlops_lab.backends.tracking.mlflow import quiet
from mlops_lab.errors import LabError, NotFoundError, UsageError, require
from mlops_lab.services.validation_report import Check, ValidationResult, figure, mark
from mlops_lab.services.validation_rules import (
    METRICS,
    PRIMARY,
    Rule,
    check_metric,
    is_number,
    parse_thresholds,
)

if TYPE_CHECKING:
    from mlops_lab.lab import Lab
    from mlops_lab.services.models import VersionInfo

# Tags on the model version (see CONTRACTS: serving reads VERDICT).
VERDICT = "mlops.validation.verdict"
SUMMARY = "mlops.validation.summary"
RUN = "mlops.validation.run"
DATA_COMMIT = "mlops.validation.data_commit"
BASELINE = "mlops.validation.baseline"
LATENCY_REQUESTS = 200


# --- the gate ----------------------------------------------------------------------------


class Gate:
    """Runs one validation for ``ModelRegistry.validate``."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab

    def run(
        self,
        ref: str,
        data: Any,
        *,
        target: str,
        thresholds: Mapping[str, Mapping[str, Any]] | None = None,
        against: str | None = "champion",
        data_ref: str | None = None,
        model_type: str | None = None,
        latency_budget_ms: float | None = None,
        predict: Callable[[Any], Any] | None = None,
        slice_column: str | None = None,
        max_slice_gap: float | None = None,
        slice_metric: str | None = None,
    ) -> ValidationResult:
        models = self.lab.models
        candidate = models.get(ref)
        frame, commit, path = self._holdout(data, data_ref)
        if not isinstance(target, str) or target not in frame.columns:
            raise UsageError(
                f"the holdout has no target column '{target}' (columns: "
                f"{_columns(frame)}); pass target=<label column>"
            )
        if len(frame) < 2:
            raise UsageError(f"the holdout has {len(frame)} row(s); give at least 2 to evaluate")
        kind = model_type or _infer_type(frame[target])
        if kind not in METRICS:
            raise UsageError(f"model_type must be 'classifier' or 'regressor', got '{kind}'")
        rules = parse_thresholds(thresholds, kind)
        if latency_budget_ms is not None and (
            not is_number(latency_budget_ms) or latency_budget_ms <= 0
        ):
            raise UsageError(
                f"latency_budget_ms must be a positive number, got {latency_budget_ms}"
            )
        if max_slice_gap is not None and slice_column is None:
            raise UsageError("max_slice_gap needs slice_column: the column whose values to compare")
        if slice_column is not None and slice_column not in frame.columns:
            raise UsageError(
                f"the holdout has no slice column '{slice_column}' (columns: {_columns(frame)})"
            )
        if slice_column is not None and slice_column == target:
            raise UsageError("slice_column cannot be the target column")
        notes: list[str] = []
        baseline = self._baseline(candidate, against, notes)
        if not rules:
            if baseline is None and latency_budget_ms is None and slice_column is None:
                raise UsageError(
                    "nothing to validate against: no baseline "
                    f"({candidate.name}@{against} is not set) and no thresholds; pass "
                    "thresholds={'roc_auc': {'threshold': 0.8}} or a latency budget"
                )
            if baseline is not None:
                primary = PRIMARY[kind]
                rules = [Rule(primary, METRICS[kind][primary], min_absolute_change=0.0)]
                notes.append(f"no thresholds given: {primary} must not be worse than the baseline")
        if slice_column is not None:
            slice_metric = slice_metric or (rules[0].metric if rules else PRIMARY[kind])
            check_metric(slice_metric, kind)
        model = models.load(candidate.ref)
        baseline_model = models.load(baseline.ref) if baseline is not None else None
        features = frame.drop(columns=[target])

        run_tags = {
            lineage.MODEL_NAME: candidate.name,
            lineage.MODEL_VERSION: str(candidate.version),
            **({BASELINE: baseline.ref} if baseline is not None else {}),
            **({lineage.DATA_COMMIT: commit} if commit else {}),
            **({lineage.DATA_PATHS: path} if path else {}),
        }
        tracking = self.lab.tracking
        nested = tracking.active_run_id() is not None
        run = tracking.start_run(f"validate {candidate.ref}", tags=run_tags, nested=nested)
        try:
            with run:
                scores = _evaluate(model, frame, target, kind)
                for rule in rules:
                    if rule.metric not in scores.metrics:
                        raise UsageError(
                            f"MLflow's evaluation of {candidate.ref} reported no '{rule.metric}' "
                            f"(it reported {', '.join(sorted(scores.metrics))}); choose one of those"
                        )
                base_scores = None
                if baseline_model is not None and baseline is not None:
                    with tracking.start_run(
                        f"baseline {baseline.ref}",
                        nested=True,
                        tags={
                            lineage.MODEL_NAME: baseline.name,
                            lineage.MODEL_VERSION: str(baseline.version),
                        },
                    ):
                        base_scores = _evaluate(baseline_model, frame, target, kind)
                checks = [
                    check for rule in rules for check in _judge(rule, scores, base_scores, baseline)
                ]
                result = ValidationResult(
                    model=candidate.name,
                    version=candidate.version,
                    baseline=baseline.ref if baseline is not None else None,
                    checks=checks,
                    run_id=run.id,
                    data_commit=commit,
                    metrics={k: float(v) for k, v in scores.metrics.items() if is_number(v)},
                    notes=notes,
                )
                if latency_budget_ms is not None or predict is not None:
                    result.latency = _latency(
                        predict or model.predict,
                        _model_inputs(model, features),
                        predict is not None,
                    )
                    run.log_metrics(
                        {
                            "latency_p50_ms": result.latency["p50"],
                            "latency_p99_ms": result.latency["p99"],
                        }
                    )
                    result.checks.append(
                        Check("latency p50 ms", result.latency["p50"], None, "", None, "")
                    )
                    result.checks.append(_latency_check(result.latency, latency_budget_ms))
                if slice_column is not None and slice_metric is not None:
                    result.slices = self._slices(
                        model, frame, target, kind, slice_column, slice_metric
                    )
                    gap = _gap(result.slices)
                    if gap is not None:
                        run.log_metric(f"slice_gap_{slice_metric}", gap)
                    result.checks.append(
                        _slice_check(slice_metric, slice_column, gap, max_slice_gap)
                    )
                    result.notes.append(
                        f"{slice_metric} by {slice_column}: "
                        + ", ".join(f"{k}={figure(v)}" for k, v in result.slices.items())
                    )
                summary = result.summary or "no criteria checked"
                run.set_tags({VERDICT: result.verdict, SUMMARY: summary})
        except BaseException:
            self._discard(run)  # an evaluation that did not finish leaves no run behind
            raise
        version_tags = {
            VERDICT: result.verdict,
            SUMMARY: summary,
            RUN: result.run_id,
            BASELINE: baseline.ref if baseline is not None else "",
        }
        if commit:
            version_tags[DATA_COMMIT] = commit
        models.set_version_tags(candidate.name, candidate.version, version_tags)
        return result

    # -- steps ---------------------------------------------------------------------------
    def _holdout(self, data: Any, data_ref: str | None) -> tuple[Any, str | None, str | None]:
        """(frame, data commit, path): a DataFrame as given, or a table read through lab.data
        at the commit ``data_ref`` resolves to now (pinned, so the tag names what was read)."""
        pd = require("pandas")
        if isinstance(data, pd.DataFrame):
            if data_ref is not None:
                raise UsageError("data_ref applies to a data path; a DataFrame is used as given")
            return data, None, None
        if isinstance(data, str) and data:
            commit = self.lab.data.resolve(data_ref)
            return self.lab.data.read_table(data, ref=commit), commit, data
        raise UsageError(
            f"data must be a pandas DataFrame or a path in the data store, got "
            f"{type(data).__name__}"
        )

    def _baseline(
        self, candidate: VersionInfo, against: str | None, notes: list[str]
    ) -> VersionInfo | None:
        if against is None:
            notes.append("no baseline asked for: thresholds only")
            return None
        ref = against if ("@" in against or "/" in against) else f"{candidate.name}@{against}"
        try:
            baseline = self.lab.models.get(ref)
        except NotFoundError:
            if "@" not in ref:
                raise
            notes.append(f"{ref} is not set: validated against thresholds only")
            return None
        if baseline.name == candidate.name and baseline.version == candidate.version:
            notes.append(f"{ref} is the candidate itself: changes are 0 by definition")
        return baseline

    def _slices(
        self, model: Any, frame: Any, target: str, kind: str, column: str, metric: str
    ) -> dict[str, float | None]:
        """``metric`` of the candidate on each value of ``column``, each slice evaluated by
        MLflow in a child run; None where MLflow could not compute it (e.g. one class)."""
        out: dict[str, float | None] = {}
        for value, part in frame.groupby(column, sort=True, dropna=False):
            label = str(value)
            with self.lab.tracking.start_run(
                f"slice {column}={label}", nested=True, tags={"mlops.validation.slice": label}
            ):
                try:
                    scores = _evaluate(model, part, target, kind)
                    figure = scores.metrics.get(metric)
                except LabError:
                    figure = None
            out[label] = float(figure) if is_number(figure) and figure == figure else None
        return out

    def _discard(self, run: Any) -> None:
        client = self.lab.tracking.client
        with contextlib.suppress(Exception):
            children = client.search_runs(
                [run.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{run.id}'"
            )
            for child in children:
                client.delete_run(child.info.run_id)
            client.delete_run(run.id)


# --- MLflow --------------------------------------------------------------------------------


def _evaluate(model: Any, frame: Any, target: str, kind: str) -> Any:
    """MLflow's default evaluator on ``frame``, logged to the active run, quietly. Only the
    columns the model's signature takes are passed (MLflow scores scikit-learn models on
    every column it is given)."""
    mlflow = require("mlflow")
    frame = _model_inputs(model, frame.drop(columns=[target])).assign(**{target: frame[target]})
    with _quiet():
        try:
            return mlflow.models.evaluate(
                model=model,
                data=frame,
                targets=target,
                model_type=kind,
                evaluators=["default"],
                evaluator_config={"default": {"log_model_explainability": False}},
            )
        except Exception as exc:
            message = str(getattr(exc, "message", exc)).strip().splitlines()
            reason = message[0] if message else type(exc).__name__
            raise UsageError(
                f"MLflow could not evaluate the model on the holdout: {reason}"
            ) from None


def _judge(rule: Rule, scores: Any, base: Any, baseline: VersionInfo | None) -> list[Check]:
    """One Check per criterion of ``rule``, each decided by mlflow.validate_evaluation_results."""
    value = float(scores.metrics[rule.metric])
    before = float(base.metrics[rule.metric]) if base is not None else None
    against = f"v{baseline.version}" if baseline is not None else "baseline"
    sign = "≥" if rule.greater_is_better else "≤"
    checks = []
    if rule.threshold is not None:
        passed = _holds({"threshold": rule.threshold}, rule, scores, None)
        checks.append(
            Check(
                rule.metric,
                value,
                before,
                f"{sign} {rule.threshold:g}",
                passed,
                f"{rule.metric} {value:.3f} {sign} {rule.threshold:g} {mark(passed)}",
                limit=rule.threshold,
            )
        )
    changes = {
        "min_absolute_change": (
            rule.min_absolute_change,
            lambda x: f"{_plus(rule, x)} vs {against}",
        ),
        "min_relative_change": (
            rule.min_relative_change,
            lambda x: f"{_plus(rule, x * 100)}% vs {against}",
        ),
    }
    for key, (needed, text) in changes.items():
        if needed is None:
            continue
        rule_text = f"change {sign} {text(needed)}"
        if base is None:
            checks.append(Check(rule.metric, value, None, rule_text, None, ""))
            continue
        passed = _holds({key: needed}, rule, scores, base)
        assert before is not None
        shown = (
            value - before
            if key == "min_absolute_change"
            else ((value - before) / abs(before) * 100 if before else float("inf"))
        )
        unit = "%" if key == "min_relative_change" else ""
        step = needed if key == "min_absolute_change" else abs(before) * needed
        checks.append(
            Check(
                rule.metric,
                value,
                before,
                rule_text,
                passed,
                f"{rule.metric} {shown:+.3f}{unit} vs {against} {mark(passed)}",
                limit=before + step if rule.greater_is_better else before - step,
            )
        )
    return checks


def _holds(criterion: dict[str, float], rule: Rule, scores: Any, base: Any) -> bool:
    mlflow = require("mlflow")
    from mlflow.models.evaluation.validation import ModelValidationFailedException

    values = dict(criterion)
    if values.get("min_absolute_change") == 0:
        # MLflow asks an absolute change to be positive; "at least as good as the baseline"
        # is the baseline's value as the threshold.
        values = {"threshold": float(base.metrics[rule.metric])}
    threshold = mlflow.models.MetricThreshold(greater_is_better=rule.greater_is_better, **values)
    try:
        with _quiet():
            mlflow.validate_evaluation_results(
                validation_thresholds={rule.metric: threshold},
                candidate_result=scores,
                baseline_result=base,
            )
    except ModelValidationFailedException:
        return False
    return True


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep MLflow's and its plotting libraries' log lines and warnings out of notebooks."""
    before = _figures()
    try:
        with quiet("mlflow", "matplotlib", "shap"):
            yield
    finally:
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:
            for number in _figures() - before:  # the evaluator's plots, logged as artifacts
                pyplot.close(number)


def _figures() -> set[int]:
    """Open matplotlib figures (a notebook shows each as an output when the cell ends)."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    return set(pyplot.get_fignums()) if pyplot is not None else set()


# --- latency and slices --------------------------------------------------------------------


def _latency(predict: Callable[[Any], Any], features: Any, served: bool) -> dict[str, Any]:
    """p50/p99 (ms) of one-row predictions cycling through the holdout's rows."""
    rows = [features.iloc[[i]] for i in range(min(len(features), 50))]
    where = "the predict function given (e.g. an endpoint)" if served else "the model loaded here"
    with _quiet():
        return _timed(predict, rows, where)


def _timed(predict: Callable[[Any], Any], rows: list[Any], where: str) -> dict[str, Any]:
    np = require("numpy")
    try:
        for row in rows[:5]:  # warm up
            predict(row)
        times = []
        for i in range(LATENCY_REQUESTS):
            started = time.perf_counter()
            predict(rows[i % len(rows)])
            times.append((time.perf_counter() - started) * 1000)
    except LabError:
        raise
    except Exception as exc:
        raise UsageError(f"measuring latency on {where} failed: {exc}") from None
    return {
        "p50": float(np.percentile(times, 50)),
        "p99": float(np.percentile(times, 99)),
        "requests": LATENCY_REQUESTS,
        "measured_on": where,
    }


def _model_inputs(model: Any, features: Any) -> Any:
    """The columns the model's signature takes (others, e.g. a slice column, are dropped
    rather than sent and warned about on every request)."""
    schema = model.metadata.get_input_schema() if getattr(model, "metadata", None) else None
    names = schema.input_names() if schema is not None and schema.has_input_names() else []
    kept = [n for n in names if n in features.columns]
    return features[kept] if kept else features


def _latency_check(latency: dict[str, Any], budget: float | None) -> Check:
    p99 = latency["p99"]
    if budget is None:
        return Check("latency p99 ms", p99, None, "(no budget)", None, "")
    passed = p99 <= budget
    return Check(
        "latency p99 ms",
        p99,
        None,
        f"≤ {budget:g}",
        passed,
        f"p99 {p99:.1f} ms ≤ {budget:g} {mark(passed)}",
        limit=budget,
    )


def _gap(slices: dict[str, float | None]) -> float | None:
    values = [v for v in slices.values() if v is not None]
    return max(values) - min(values) if len(values) >= 2 else None


def _slice_check(metric: str, column: str, gap: float | None, allowed: float | None) -> Check:
    name = f"{metric} gap by {column}"
    if allowed is None or gap is None:
        rule = "(no limit)" if allowed is None else f"≤ {allowed:g} (fewer than 2 slices scored)"
        return Check(name, gap, None, rule, None, "")
    passed = gap <= allowed
    return Check(
        name,
        gap,
        None,
        f"≤ {allowed:g}",
        passed,
        f"{metric} gap by {column} {gap:.3f} ≤ {allowed:g} {mark(passed)}",
        limit=allowed,
    )


# --- small helpers -------------------------------------------------------------------------


def _infer_type(labels: Any) -> str:
    pd = require("pandas")
    if pd.api.types.is_float_dtype(labels) and labels.nunique() > 20:
        return "regressor"
    if pd.api.types.is_numeric_dtype(labels) and not pd.api.types.is_bool_dtype(labels):
        return "classifier" if labels.nunique() <= 20 else "regressor"
    return "classifier"


def _columns(frame: Any) -> str:
    names = [str(c) for c in frame.columns]
    return ", ".join(names[:12]) + (f", ... ({len(names)} in all)" if len(names) > 12 else "")


def _plus(rule: Rule, amount: float) -> str:
    return f"{'+' if rule.greater_is_better else '-'}{amount:g}" if amount else "0"
