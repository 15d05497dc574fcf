"""Tests of the synthetic report generator (datasets/, imported as gongkai_datasets)."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from pathlib import Path

import pytest

from extraction.schema import constraints, layout
from extraction.schema.formats import VARIANT_OTHER_SINGLE_ROW

ROOT = Path(__file__).resolve().parents[2]


def _load_package():
    """Import gongkai_datasets; fall back to loading it from datasets/ when it is not installed
    (or installed before datasets/__init__.py existed, which makes it an empty namespace)."""
    try:
        import gongkai_datasets

        if hasattr(gongkai_datasets, "generate_one"):
            return gongkai_datasets
    except ImportError:
        pass
    for name in [m for m in sys.modules if m == "gongkai_datasets" or m.startswith("gongkai_datasets.")]:
        del sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        "gongkai_datasets", ROOT / "datasets" / "__init__.py", submodule_search_locations=[str(ROOT / "datasets")]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["gongkai_datasets"] = module
    spec.loader.exec_module(module)
    return module


gd = _load_package()
from gongkai_datasets.values import VIOLATION_KINDS, failing_rules  # noqa: E402

CASES = [("2021", ()), ("2021", (VARIANT_OTHER_SINGLE_ROW,)), ("2019", ())]
TRUTH_KEYS = ["report", "cells", "violations", "ambiguous", "notes", "flattener"]


def _hard_failures(fmt, variants, cells):
    lay = layout(fmt, tuple(variants))
    return sorted(c.rule for c in constraints(lay) if c.severity == "error" and not c.holds(cells))


@pytest.mark.parametrize("flattener", list(gd.ALL))
@pytest.mark.parametrize(("fmt", "variants"), CASES)
def test_clean_reports(fmt, variants, flattener):
    for i in range(3):
        g = gd.generate_one(i, 5, fmt=fmt, variants=variants, flattener=flattener, violation_rate=0.0, blank_rate=0.5)
        t = g.truth
        assert list(t) == TRUTH_KEYS
        assert t["report"]["format"] == fmt
        assert t["report"]["variants"] == list(variants)
        lo, hi = (2021, 2025) if fmt == "2021" else (2019, 2020)
        assert lo <= t["report"]["year"] <= hi
        assert t["report"]["agency"]
        assert list(t["cells"]) == layout(fmt, tuple(variants)).cell_ids
        assert t["violations"] == [] == _hard_failures(fmt, variants, t["cells"])
        assert t["flattener"] == flattener and t["notes"].startswith(flattener)
        for cid, v in t["cells"].items():
            assert v is None or isinstance(v, int | float)
            if v is not None and not cid.endswith(".change"):
                assert v >= 0, cid
        if fmt == "2021" and "soft rule broken" not in t["notes"]:
            for key in ("rules", "normative_documents"):
                assert (t["cells"][f"proactive.{key}.in_force"] or 0) >= (t["cells"][f"proactive.{key}.issued"] or 0)
        assert isinstance(g.content, bytes if flattener in ("html", "docx") else str)
        assert len(g.content) > 1000
        json.dumps(t, ensure_ascii=False)


@pytest.mark.parametrize("kind", VIOLATION_KINDS)
@pytest.mark.parametrize(("fmt", "variants"), CASES)
def test_injected_violations_are_listed(fmt, variants, kind):
    for i in range(4):
        g = gd.generate_one(i, 9, fmt=fmt, variants=variants, flattener="tabs", violation_rate=1.0, violation_kind=kind)
        t = g.truth
        assert t["violations"], g.values.injected
        assert (
            t["violations"] == _hard_failures(fmt, variants, t["cells"]) == failing_rules(g.values.layout, t["cells"])
        )
        assert "injected " + kind in t["notes"]
        if kind == "appeals.total":
            assert all(v.startswith("appeals.total.") for v in t["violations"])
        if kind == "applications.balance":
            assert all(v.startswith("applications.balance.") for v in t["violations"])


def test_violation_rate_mix():
    truths = [gd.generate_one(i, 3, flatteners=gd.TEXT_FLATTENERS).truth for i in range(120)]
    broken = [t for t in truths if t["violations"]]
    assert 5 < len(broken) < 60
    assert all("injected" in t["notes"] for t in broken)
    assert {t["report"]["format"] for t in truths} == {"2021", "2019"}
    assert any(t["report"]["variants"] for t in truths)


def test_one_line_is_one_line():
    for fmt, variants in CASES:
        for i in range(4):
            g = gd.generate_one(i, 2, fmt=fmt, variants=variants, flattener="one_line")
            assert "\n" not in g.content.rstrip("\n")
            assert "一、本年新收政府信息公开申请数量" in g.content.replace(" ", "")


def test_deterministic():
    for name in gd.ALL:
        a = gd.generate_one(4, 17, flattener=name)
        b = gd.generate_one(4, 17, flattener=name)
        assert a.content == b.content and a.truth == b.truth
    assert gd.generate_one(4, 17, flattener="tabs").content != gd.generate_one(4, 18, flattener="tabs").content


@pytest.mark.parametrize("flattener", [f for f in gd.ALL if f not in ("html", "docx")])
def test_printed_values_are_in_the_text(flattener):
    for i in range(4):
        g = gd.generate_one(i, 21, flattener=flattener)
        text = g.content.replace("\n", "")
        for grid in (b for b in g.document.blocks if isinstance(b, gd.Grid)):
            for c in grid.cells:
                if c.role == "value" and c.text:
                    assert c.text in text, (flattener, c.cell_id, c.text)


def test_non_positional_flatteners_blank_whole_rows_only():
    for flattener in ("pdf_text", "one_line"):
        for i in range(40):
            g = gd.generate_one(i, 8, flattener=flattener, blank_rate=1.0, violation_rate=0.0)
            lay = g.values.layout
            for table in lay.tables:
                for row in table.rows:
                    vals = [g.truth["cells"][c] for c in row.cell_ids]
                    assert all(v is None for v in vals) or all(v is not None for v in vals), (flattener, row.id)


def test_html_and_docx_tables():
    import docx as python_docx
    from bs4 import BeautifulSoup

    g = gd.generate_one(1, 4, flattener="html", fmt="2021", variants=())
    soup = BeautifulSoup(g.content, "html.parser")
    tables = soup.find_all("table")
    assert len(tables) == 3
    assert any(td.get("rowspan") for td in tables[1].find_all(["td", "th"]))
    g = gd.generate_one(1, 4, flattener="docx", fmt="2019")
    d = python_docx.Document(io.BytesIO(g.content))
    assert len(d.tables) == 3
    assert len(d.tables[1].rows) == 3 + len(layout("2019").table("applications").rows)
    assert [c.text for c in d.tables[2].rows[-1].cells] == [
        g.document.grid("appeals").row_cells(3)[j].text for j in range(15)
    ]


def test_generate_writes_files(tmp_path):
    written = gd.generate(10, tmp_path, seed=3, flatteners=("tabs", "pdf_text", "markdown", "html", "one_line"))
    assert len(written) == 10
    assert {w["flattener"] for w in written} == {"tabs", "pdf_text", "markdown", "html", "one_line"}
    for w in written:
        assert Path(w["input"]).exists()
        truth = json.loads(Path(w["truth"]).read_text(encoding="utf-8"))
        assert list(truth) == TRUTH_KEYS
        assert Path(w["truth"]).parent == tmp_path / "truth"
    again = tmp_path / "again"
    gd.generate(10, again, seed=3, flatteners=("tabs", "pdf_text", "markdown", "html", "one_line"))
    for w in written:
        assert (again / Path(w["input"]).name).read_bytes() == Path(w["input"]).read_bytes()


def test_cli_main(tmp_path):
    from gongkai_datasets.generate import main

    assert (
        main(
            [
                "--n",
                "4",
                "--out",
                str(tmp_path),
                "--seed",
                "7",
                "--flatteners",
                "tabs,one_per_line",
                "--formats",
                "2019",
            ]
        )
        == 0
    )
    truths = sorted((tmp_path / "truth").glob("*.json"))
    assert len(truths) == 4
    assert {json.loads(p.read_text(encoding="utf-8"))["report"]["format"] for p in truths} == {"2019"}


@pytest.mark.parametrize("folder", ["seeds", "real"])
def test_labeled_data(folder):
    base = ROOT / "datasets" / folder
    truths = sorted((base / "truth").glob("*.json"))
    assert len(truths) == (5 if folder == "seeds" else 3)
    for p in truths:
        assert (base / f"{p.stem}.txt").exists()
        t = json.loads(p.read_text(encoding="utf-8"))
        fmt = t["report"]["format"]
        variants = tuple(t["report"].get("variants", ()))
        assert list(t["cells"]) == layout(fmt, variants).cell_ids
        assert sorted(t["violations"]) == _hard_failures(fmt, variants, t["cells"])
    if folder == "real":
        assert (base / "SOURCES.tsv").exists()
