"""Built-in cities as readable scenario files."""

from __future__ import annotations

import tomllib
from importlib import resources

DEFAULT = "beijing"


def names() -> list[str]:
    return sorted(p.name.removesuffix(".toml") for p in resources.files(__name__).iterdir()
                  if p.name.endswith(".toml"))


def text(name: str) -> str:
    return resources.files(__name__).joinpath(f"{name}.toml").read_text(encoding="utf-8")


def path(name: str) -> str:
    return str(resources.files(__name__).joinpath(f"{name}.toml"))


def summary(name: str) -> str:
    """The preset's one-line description (its ``city.description``)."""
    data = tomllib.loads(text(name))
    return data.get("city", {}).get("description", "").strip().splitlines()[0:1][0] \
        if data.get("city", {}).get("description") else ""
