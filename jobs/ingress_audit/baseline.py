"""The ingress baseline: the Ingress manifests the GitOps repository holds, for drift checks."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from .errors import ConfigError


def baseline_files(folder: Path) -> list[Path]:
    """The manifests of a baseline folder, in a stable order."""
    return sorted([*folder.rglob("*.yaml"), *folder.rglob("*.yml")])


def load_baseline(folder: Path) -> list[tuple[str, str, str, str]]:
    """(namespace, name, manifest JSON, file) for every Ingress in the folder's YAML files."""
    rows = []
    for path in baseline_files(folder):
        try:
            documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"baseline manifest {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
        for doc in documents:
            for item in _items(doc):
                if item.get("kind") != "Ingress":
                    continue
                meta = item.get("metadata") or {}
                if not meta.get("name"):
                    raise ConfigError(f"baseline manifest {path}: an Ingress without metadata.name")
                rows.append((meta.get("namespace") or "default", meta["name"], json.dumps(item, sort_keys=True), str(path)))
    return rows


def _items(doc) -> list[dict]:
    if not isinstance(doc, dict):
        return []
    if doc.get("kind") == "List":
        return [i for i in doc.get("items") or [] if isinstance(i, dict)]
    return [doc]
