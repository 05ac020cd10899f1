"""A notebook's parameters: read from its ``parameters`` cell with their types, and the
values a job is given checked (known, typed right, not secret) and coerced to those types."""

from __future__ import annotations

import ast
import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops_lab import limits
from mlops_lab.backends.k8s.credentials import CREDENTIAL_VARIABLES
from mlops_lab.config import is_secret_name
from mlops_lab.display import Table
from mlops_lab.errors import NotFoundError, UsageError, closest, require
from mlops_lab.redact import URL, has_secret, redact_url, secret_rule

# Literal types a parameter can be checked against; anything else is taken as given.
_CHECKED_TYPES = ("int", "float", "bool", "str", "list", "dict")


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One variable of a notebook's ``parameters`` cell."""

    name: str
    type: str
    """"int", "float", "bool", "str", "list", "dict", or "any" when it cannot be told."""
    default: str
    help: str = ""
    annotated: bool = False
    """True when the type comes from an annotation, False when inferred from the default."""


@dataclasses.dataclass(frozen=True)
class NotebookParameters:
    notebook: Path
    parameters: tuple[Parameter, ...]

    def __getitem__(self, name: str) -> Parameter:
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        raise KeyError(name)

    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def table(self, max_rows: int = 50) -> Table:
        rows = [
            [
                p.name,
                p.type if p.annotated or p.type == "any" else f"{p.type} (from default)",
                p.default,
                p.help,
            ]
            for p in self.parameters
        ]
        return Table(
            ["name", "type", "default", "help"],
            rows,
            title=f"parameters of {self.notebook.name}",
            max_rows=max_rows,
        )

    def __repr__(self) -> str:
        return repr(self.table())

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()


def read_parameters(source: Path, kernel: str) -> NotebookParameters:
    """The notebook's parameters with their types, from its ``parameters``-tagged cell."""
    nb = load_notebook(source)
    cell = nb.cells[parameters_cell(nb, source)]
    translators = require("papermill.translators")
    try:
        translator = translators.papermill_translators.find_translator(kernel, "python")
        found = translator.inspect(cell)
    except Exception as exc:  # papermill's parser failing on the cell's code
        raise UsageError(f"{source}: cannot read the parameters cell: {exc}") from None
    return NotebookParameters(source, tuple(_parameter(p) for p in found))


def load_notebook(source: Path) -> Any:
    iorw = require("papermill.iorw")
    try:
        return iorw.load_notebook_node(str(source))
    except Exception as exc:  # nbformat's JSON and schema errors
        raise UsageError(f"{source} is not a readable notebook ({first_line(str(exc))})") from None


def parameters_cell(nb: Any, source: Path) -> int:
    for index, cell in enumerate(nb.cells):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            if cell.get("cell_type") != "code":
                raise UsageError(
                    f"{source}: the cell tagged 'parameters' (cell {index}) must be a code cell"
                )
            return index
    raise UsageError(
        f"{source} has no cell tagged 'parameters'; add the tag to the cell that sets the "
        "notebook's defaults (JupyterLab: Property Inspector > Cell Tags)"
    )


def _parameter(found: Any) -> Parameter:
    annotation = (found.inferred_type_name or "None").strip()
    default = found.default or ""
    kind = _annotation_type(annotation)
    annotated = kind is not None
    if kind is None:
        kind = _literal_type(default)
    return Parameter(found.name, kind, default, found.help or "", annotated)


def _annotation_type(annotation: str) -> str | None:
    if annotation in ("None", ""):
        return None
    parts = {p.strip() for p in annotation.replace("Optional[", "").rstrip("]").split("|")}
    parts.discard("None")
    if len(parts) == 1:
        name = parts.pop().split("[")[0].lower()
        return name if name in _CHECKED_TYPES else "any"
    return "any"


def _literal_type(default: str) -> str:
    try:
        value = ast.literal_eval(default)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return "any"
    for kind in (bool, int, float, str, list, dict):
        if isinstance(value, kind):
            return kind.__name__
    return "any"


def coerce_parameters(
    declared: NotebookParameters, values: Mapping[str, Any], text: bool = False
) -> dict[str, Any]:
    """Check names (unknown, secret-looking) and types; return values in the declared types."""
    names = declared.names()
    secrets = _secret_values()
    out: dict[str, Any] = {}
    for name, value in values.items():
        check_not_secret(name, value, secrets)
        if name not in names:
            close = closest(name, names)
            hint = (
                f"did you mean '{close}'?"
                if close
                else (f"known: {', '.join(names)}" if names else "the parameters cell sets none")
            )
            raise UsageError(f"{declared.notebook.name} has no parameter '{name}'; {hint}")
        out[name] = _coerce(declared[name], value, text, declared.notebook.name)
    return out


def load_parameters_file(file: str | os.PathLike[str]) -> dict[str, Any]:
    """A YAML (or JSON) mapping of parameter names to values."""
    import yaml

    path = Path(file).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(f"parameters file {file} not found; check the path") from None
    except OSError as exc:
        raise UsageError(f"cannot read parameters file {file}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"{file} is not valid YAML: {first_line(str(exc))}") from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise UsageError(f"{file} must be a mapping of parameter names to values")
    return data


def check_not_secret(name: str, value: Any, secrets: Mapping[str, str] | None = None) -> None:
    """Refuse a secret-looking name, a credential's value (anywhere inside the value, spaces
    around it or not), a URL carrying a password or token, and a value over the size limit."""
    rule = secret_rule(name)
    if rule is not None:
        raise UsageError(
            f"parameter '{name}' looks like a secret (its name has the {rule}) and secrets are "
            "never passed as parameters (they would be written into the executed notebook and "
            "MLflow); read it from an environment variable in the notebook, and in a schedule "
            "from a Kubernetes Secret (mlops-lab schedule --secret-env NAME=SECRET:KEY)"
        )
    limits.check_parameter(name, value)
    secrets = _secret_values() if secrets is None else secrets
    for text in _strings(value):
        for secret, variable in secrets.items():
            if secret in text:
                raise UsageError(
                    f"parameter '{name}' holds the value of {variable}, a credential; secrets "
                    "are never passed as parameters: read the variable in the notebook instead "
                    "(os.environ), and in a schedule map it with --secret-env"
                )
        for url in URL.findall(text) if "://" in text else ():
            if has_secret(url):
                raise UsageError(
                    f"parameter '{name}' holds a URL with a password or token "
                    f"({redact_url(url)}); pass the URL without it and let the notebook read "
                    "the credential from an environment variable"
                )


def _strings(value: Any) -> list[str]:
    """Every string inside ``value`` (itself, list items, dict keys and values), stripped."""
    if isinstance(value, str):
        return [value.strip()]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list | tuple | set):
        return [s for item in value for s in _strings(item)]
    return []


def _secret_values() -> dict[str, str]:
    """Values of the credential variables set in this process (stripped) -> the variable."""
    found: dict[str, str] = {}
    for variable, value in os.environ.items():
        value = value.strip()
        # The narrower rule of mlops.toml keys: the values are searched inside every string
        # parameter, so a variable such as SSH_AUTH_SOCK must not count.
        if len(value) >= 8 and (variable in CREDENTIAL_VARIABLES or is_secret_name(variable)):
            found.setdefault(value, variable)
    return found


def _coerce(parameter: Parameter, value: Any, text: bool, notebook: str) -> Any:
    kind = parameter.type

    def refuse() -> UsageError:
        return UsageError(
            f"parameter '{parameter.name}' of {notebook} is {kind} (default {parameter.default}) "
            f"but got {limits.shown(value)}; pass a value of type {kind}"
        )

    if text and isinstance(value, str):
        if kind == "any":
            return _resolve_text(value)
        if kind == "str":
            return value
        if kind == "bool":
            lowered = value.lower()
            if lowered in ("true", "yes", "1"):
                return True
            if lowered in ("false", "no", "0"):
                return False
            raise refuse()
        if kind in ("int", "float"):
            try:
                return int(value) if kind == "int" else float(value)
            except ValueError:
                raise refuse() from None
        try:
            parsed = json.loads(value)
        except ValueError:
            try:
                parsed = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                raise refuse() from None
        value = parsed
    if value is None:
        return None
    if kind == "any":
        return value
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        raise refuse()
    if kind == "float":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise refuse()
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise refuse()
    if kind == "str":
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise refuse()
    if kind == "list" and isinstance(value, list | tuple):
        return list(value)
    if kind == "dict" and isinstance(value, dict):
        return dict(value)
    raise refuse()


def _resolve_text(value: str) -> Any:
    """What a CLI string means when the parameter's type is unknown (as papermill's -p)."""
    if value in ("True", "true"):
        return True
    if value in ("False", "false"):
        return False
    if value in ("None", "none"):
        return None
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def first_line(text: str) -> str:
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[0] if lines else ""
