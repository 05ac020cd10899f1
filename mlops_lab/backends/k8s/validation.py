"""The one validation path for manifests: core objects against the Kubernetes schema
(kubernetes-validate, strict), custom resources against their CRD's OpenAPI schema (the
file given, or the one under ``MLOPS_SPECS_DIR``; none found means structural checks only)."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops_lab.errors import ConfigError, UsageError, require

KUBERNETES_VERSION = "1.30.0"
"""Schema version core manifests are validated against (kubernetes-validate)."""

# kind -> (CRD file under $MLOPS_SPECS_DIR, served version)
CUSTOM_RESOURCES = {
    "RayJob": ("kuberay/ray.io_rayjobs.yaml", "v1"),
    "RayService": ("kuberay/ray.io_rayservices.yaml", "v1"),
}


def validate(
    manifest: Mapping[str, Any], schema_path: str | os.PathLike[str] | None = None
) -> None:
    """Raise UsageError naming the first field the schema of the manifest's kind refuses."""
    kind = str(manifest.get("kind", "manifest"))
    if kind in CUSTOM_RESOURCES:
        _validate_custom(dict(manifest), kind, schema_path)
        return
    kv = require("kubernetes_validate")
    try:
        kv.validate(dict(manifest), KUBERNETES_VERSION, strict=True)
    except kv.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path) or "(root)"
        raise UsageError(f"the {kind} manifest is invalid at {path}: {exc.message}") from None


def _validate_custom(
    manifest: dict[str, Any], kind: str, schema_path: str | os.PathLike[str] | None
) -> None:
    relative, version = CUSTOM_RESOURCES[kind]
    if schema_path is None:
        specs = os.environ.get("MLOPS_SPECS_DIR")
        candidate = Path(specs) / relative if specs else None
        if candidate is None or not candidate.is_file():
            return
        schema_path = candidate
    jsonschema = require("jsonschema")
    schema = _crd_schema(str(schema_path), kind, version)
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(manifest), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in first.absolute_path) or "(root)"
        raise UsageError(f"invalid {kind} manifest at {where}: {first.message[:200]}")


@functools.lru_cache(maxsize=4)
def _crd_schema(path: str, kind: str, version: str) -> dict[str, Any]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as handle:
        crd = yaml.load(handle, Loader=loader)
    for served in crd["spec"]["versions"]:
        if served["name"] == version:
            return dict(served["schema"]["openAPIV3Schema"])
    raise ConfigError(f"{path} has no {version} schema for {kind}")


def to_yaml(docs: Any) -> str:
    """Manifests as YAML documents: no anchors, multi-line strings as literal blocks."""
    import yaml

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    def text(dumper: yaml.SafeDumper, value: str) -> Any:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return str(
        yaml.dump_all(
            [dict(d) for d in docs],
            Dumper=Dumper,
            sort_keys=False,
            default_flow_style=False,
            allow_unicode=True,
        )
    )
