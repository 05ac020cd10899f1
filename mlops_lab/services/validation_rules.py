"""What a validation checks, as rules: MLflow's metric names by model type, the thresholds
dict ``ModelRegistry.validate`` takes, and the ``%mlops validate`` flags that build it."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlops_lab.errors import UsageError

# What MLflow's default evaluator reports, by model type; whether greater is better.
METRICS: dict[str, dict[str, bool]] = {
    "classifier": {
        "roc_auc": True,
        "precision_recall_auc": True,
        "accuracy_score": True,
        "f1_score": True,
        "precision_score": True,
        "recall_score": True,
        "log_loss": False,
        "true_positives": True,
        "true_negatives": True,
        "false_positives": False,
        "false_negatives": False,
        "example_count": True,
        "score": True,
    },
    "regressor": {
        "root_mean_squared_error": False,
        "mean_squared_error": False,
        "mean_absolute_error": False,
        "mean_absolute_percentage_error": False,
        "max_error": False,
        "r2_score": True,
        "sum_on_target": True,
        "mean_on_target": True,
        "example_count": True,
        "score": True,
    },
}
# The metric a gate without thresholds compares with the baseline (no regression allowed).
PRIMARY = {"classifier": "roc_auc", "regressor": "root_mean_squared_error"}
THRESHOLD_KEYS = ("threshold", "min_absolute_change", "min_relative_change", "greater_is_better")


@dataclass(frozen=True)
class Rule:
    """One metric's criteria, as MLflow's ``MetricThreshold`` takes them."""

    metric: str
    greater_is_better: bool
    threshold: float | None = None
    min_absolute_change: float | None = None
    min_relative_change: float | None = None


def parse_thresholds(
    thresholds: Mapping[str, Mapping[str, Any]] | None, model_type: str
) -> list[Rule]:
    """``{"roc_auc": {"threshold": 0.8, "min_absolute_change": 0.0}}`` -> rules, with one
    line for an unknown metric (and the closest names) or an unknown key."""
    known = METRICS[model_type]
    rules = []
    for metric, spec in (thresholds or {}).items():
        check_metric(metric, model_type)
        if not isinstance(spec, Mapping):
            raise UsageError(
                f"threshold for '{metric}' must be a dict such as {{'threshold': 0.8}}, "
                f"got {spec!r}"
            )
        unknown = sorted(set(spec) - set(THRESHOLD_KEYS))
        if unknown:
            raise UsageError(
                f"unknown threshold key '{unknown[0]}' for '{metric}'; use "
                + ", ".join(THRESHOLD_KEYS)
            )
        values = {}
        for key in ("threshold", "min_absolute_change", "min_relative_change"):
            value = spec.get(key)
            if value is not None and (isinstance(value, bool) or not is_number(value)):
                raise UsageError(f"{metric} {key} must be a number, got {value!r}")
            values[key] = None if value is None else float(value)
        absolute, relative = values["min_absolute_change"], values["min_relative_change"]
        if absolute is not None and absolute < 0:
            raise UsageError(
                f"{metric} min_absolute_change must be 0 or more (how much better than the "
                f"baseline), got {absolute:g}"
            )
        if relative is not None and not 0 <= relative <= 1:
            raise UsageError(
                f"{metric} min_relative_change is a fraction of the baseline between 0 and 1 "
                f"(0.02 = 2%), got {relative:g}"
            )
        if all(v is None for v in values.values()):
            raise UsageError(
                f"threshold for '{metric}' sets nothing; give threshold, min_absolute_change "
                "or min_relative_change"
            )
        greater = spec.get("greater_is_better", known[metric])
        rules.append(Rule(metric, bool(greater), **values))
    return rules


def check_metric(metric: str, model_type: str) -> None:
    known = METRICS[model_type]
    if metric in known:
        return
    close = difflib.get_close_matches(metric, list(known), n=1, cutoff=0.5)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise UsageError(
        f"unknown {model_type} metric '{metric}'; {hint}known: {', '.join(sorted(known))}"
    )


def is_number(value: Any) -> bool:
    """Whether ``value`` reads as a number (a numeric string does not count)."""
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, str)


# --- the magic's flags -------------------------------------------------------------------

_THRESHOLD_FLAG = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(>=|<=)\s*([-+]?[\d.]+(?:e[-+]?\d+)?)\s*$")
_CHANGE_FLAG = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*=\s*([-+]?)([\d.]+(?:e[-+]?\d+)?)(%?)\s*$")


def thresholds_from_flags(
    thresholds: list[str] | None, changes: list[str] | None
) -> dict[str, dict[str, Any]]:
    """``["roc_auc>=0.8"]`` and ``["roc_auc=+0.01", "log_loss=-2%"]`` -> the thresholds dict.

    ``>=`` / ``<=`` say whether greater is better; a change's sign says the same (``+``: must
    rise by at least that much, ``-``: must fall), ``%`` makes it relative to the baseline,
    and ``+0`` means "no worse than the baseline"."""
    out: dict[str, dict[str, Any]] = {}
    for text in thresholds or []:
        match = _THRESHOLD_FLAG.match(text)
        if not match:
            raise UsageError(
                f"--threshold '{text}' is not METRIC>=VALUE or METRIC<=VALUE (e.g. roc_auc>=0.8)"
            )
        metric, operator, value = match.groups()
        spec = out.setdefault(metric, {})
        spec["threshold"] = float(value)
        spec["greater_is_better"] = operator == ">="
    for text in changes or []:
        match = _CHANGE_FLAG.match(text)
        if not match:
            raise UsageError(
                f"--min-change '{text}' is not METRIC=+AMOUNT, METRIC=-AMOUNT or METRIC=+PCT% "
                "(e.g. roc_auc=+0.01, log_loss=-2%)"
            )
        metric, sign, amount, percent = match.groups()
        spec = out.setdefault(metric, {})
        if sign:
            greater = sign == "+"
            if spec.get("greater_is_better", greater) != greater:
                raise UsageError(
                    f"--threshold and --min-change disagree on whether {metric} should rise "
                    "or fall; use >= with + and <= with -"
                )
            spec["greater_is_better"] = greater
        if percent:
            spec["min_relative_change"] = float(amount) / 100
        else:
            spec["min_absolute_change"] = float(amount)
    return out
