"""The one rule for Kubernetes names and quantities."""

from __future__ import annotations

import re

from mlops_lab.errors import UsageError

NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
"""A DNS-1123 subdomain without dots: what every object name the lab makes must match."""
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$")


def is_name(name: str, limit: int = 253) -> bool:
    return bool(name) and len(name) <= limit and bool(NAME.match(name))


def check_name(name: str, what: str) -> str:
    if not is_name(name):
        raise UsageError(
            f"{what} name '{name}' is not a valid Kubernetes name (lower-case "
            "letters, digits and '-', starting and ending with a letter or digit)"
        )
    return name


def quantity(value: float) -> str:
    """A CPU count as Kubernetes writes it: whole numbers plain, else millicores."""
    return str(int(value)) if float(value).is_integer() else f"{int(value * 1000)}m"
