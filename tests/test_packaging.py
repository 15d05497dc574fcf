"""pyproject lists every package explicitly (the datasets/ → gongkai_datasets mapping needs it)."""

from __future__ import annotations

import tomllib

from tests.conftest import ROOT


def test_every_package_is_listed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for init in ROOT.glob("**/__init__.py"):
        rel = init.parent.relative_to(ROOT)
        if rel.parts and rel.parts[0] in {"extraction", "training", "service", "gongkai"}:
            found.add(".".join(rel.parts))
        elif rel.parts and rel.parts[0] == "datasets":
            found.add(".".join(("gongkai_datasets", *rel.parts[1:])))
    assert found <= listed, f"add to pyproject [tool.setuptools] packages: {sorted(found - listed)}"
