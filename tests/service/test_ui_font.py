"""The UI's own font covers every character the UI shows from its own text (pages, statutory labels,
rule and error messages): a machine without CJK fonts renders it (tests/service/test_browser_review.py checks
that in Chromium). Rebuild with scripts/build_ui_font.py after changing those texts."""

from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import ROOT

pytest.importorskip("fontTools")
pytest.importorskip("brotli")  # WOFF2


def build_script():
    spec = importlib.util.spec_from_file_location("build_ui_font", ROOT / "scripts" / "build_ui_font.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def cmap(path) -> set[str]:
    from fontTools.ttLib import TTFont

    return {chr(c) for c in TTFont(str(path)).getBestCmap()}


def test_the_ui_font_covers_the_uis_text():
    script = build_script()
    core = cmap(script.OUT)
    missing = sorted(script.needed() - core)
    assert not missing, f"rebuild the UI font (scripts/build_ui_font.py): missing {''.join(missing[:50])}"
    for label in ("（三）不予公开", "（四）无法提供", "（五）不予处理", "（六）其他处理", "三、收到和处理政府信息公开申请情况"):
        assert set(label) <= core
    assert script.OUT.stat().st_size < 400 * 1024, "the core font is fetched by every page: keep it small"


def test_the_common_font_covers_gb2312_level_1():
    script = build_script()
    assert script.gb2312_level1() <= cmap(script.OUT) | cmap(script.OUT_COMMON)
