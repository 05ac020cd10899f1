"""Cron expressions as Kubernetes CronJobs read them: five fields or a macro, checked up
front (one line naming the bad field), and the next time one fires."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from mlops_lab import limits
from mlops_lab.errors import UsageError

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    (
        "month",
        1,
        12,
        {
            n: i + 1
            for i, n in enumerate(
                ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
            )
        },
    ),
    (
        "day of week",
        0,
        7,
        {n: i for i, n in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])},
    ),
)


@dataclass(frozen=True)
class Cron:
    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool
    any_weekday: bool

    def matches(self, when: dt.datetime) -> bool:
        if when.minute not in self.minutes or when.hour not in self.hours:
            return False
        if when.month not in self.months:
            return False
        day_ok = when.day in self.days
        weekday_ok = (when.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return day_ok and weekday_ok
        return day_ok or weekday_ok  # cron: either day field matches when both are restricted

    def next_after(self, when: dt.datetime) -> dt.datetime | None:
        """The first minute strictly after ``when`` the schedule fires (within 5 years)."""
        current = when.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        limit = current + dt.timedelta(days=366 * 5)
        while current < limit:
            if current.month not in self.months:
                year, month = current.year + current.month // 12, current.month % 12 + 1
                current = current.replace(year=year, month=month, day=1, hour=0, minute=0)
                continue
            if not self._day_ok(current):
                current = (current + dt.timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if current.hour not in self.hours:
                current = (current + dt.timedelta(hours=1)).replace(minute=0)
                continue
            if current.minute not in self.minutes:
                current += dt.timedelta(minutes=1)
                continue
            return current
        return None

    def _day_ok(self, when: dt.datetime) -> bool:
        day_ok = when.day in self.days
        weekday_ok = (when.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return day_ok and weekday_ok
        return day_ok or weekday_ok


def parse(expression: str) -> Cron:
    """Parse a five-field cron expression or a macro such as ``@daily``."""
    limits.check_name(expression, "cron expression")
    text = " ".join(expression.split())
    hint = 'e.g. "0 2 * * *" (02:00 every day) or @daily'
    if not text:
        raise UsageError(f"empty cron expression; give five fields, {hint}")
    if text.startswith("@"):
        if text.lower() not in MACROS:
            raise UsageError(
                f"invalid cron expression '{expression}': unknown macro {text}; "
                f"use one of {', '.join(MACROS)} or five fields"
            )
        fields = MACROS[text.lower()].split()
    else:
        if text.upper().startswith(("TZ=", "CRON_TZ=")):
            raise UsageError(
                f"invalid cron expression '{expression}': put the time zone in "
                "--timezone, not in the expression"
            )
        fields = text.split(" ")
        if len(fields) != 5:
            raise UsageError(
                f"invalid cron expression '{expression}': {len(fields)} fields, "
                f"need 5 (minute hour day-of-month month day-of-week), {hint}"
            )
    sets = [
        _field(value, *spec, expression=expression)
        for value, spec in zip(fields, _FIELDS, strict=True)
    ]
    weekdays = frozenset(0 if d == 7 else d for d in sets[4])  # 7 is Sunday too
    return Cron(
        expression=text,
        minutes=sets[0],
        hours=sets[1],
        days=sets[2],
        months=sets[3],
        weekdays=weekdays,
        any_day=fields[2] in ("*", "?"),
        any_weekday=fields[4] in ("*", "?"),
    )


def _field(
    value: str, name: str, low: int, high: int, names: dict[str, int], expression: str
) -> frozenset[int]:
    def bad(why: str) -> UsageError:
        return UsageError(f"invalid cron expression '{expression}': {name} field '{value}' {why}")

    def number(token: str) -> int:
        lowered = token.lower()
        if lowered in names:
            return names[lowered]
        if not token.isdigit():
            raise bad(
                f"has '{token}', not a number" + (f" or name ({', '.join(names)})" if names else "")
            )
        n = int(token)
        if not low <= n <= high:
            raise bad(f"has {n}, outside {low}-{high}")
        return n

    out: set[int] = set()
    for part in value.split(","):
        if not part:
            raise bad("has an empty list item")
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise bad(f"has step '{step_text}', need a positive number")
            step = int(step_text)
        if base in ("*", "?"):
            start, end = low, high
        elif "-" in base:
            left, _, right = base.partition("-")
            start, end = number(left), number(right)
            if start > end:
                raise bad(f"has range {base} running backwards")
        else:
            start = number(base)
            end = high if step_text else start
        out.update(range(start, end + 1, step))
    return frozenset(out)
