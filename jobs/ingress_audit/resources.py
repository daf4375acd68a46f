"""Find the SQL and templates that ship with the package.

In a wheel, hatchling's force-include puts queries/ and report_templates/ inside the package;
in an editable install they stay at the top of the checkout (the project's fixed layout).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


@cache
def resource_dir(name: str) -> Path:
    for candidate in (_PACKAGE_DIR / name, _PACKAGE_DIR.parent.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"{name}/ is missing from the installation (looked in {_PACKAGE_DIR})")


def queries_dir() -> Path:
    return resource_dir("queries")


def templates_dir() -> Path:
    return resource_dir("report_templates")
