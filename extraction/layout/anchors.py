"""The sequence of printed anchors (headings, sections, headers, row labels) a format expects.

Built from the schema; labelers align a document's tokens to it. The order is the statutory
printing order, so an alignment that keeps it ignores narrative mentions of the same words.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from extraction.layout.tokenize import match_key, normalize
from extraction.schema import FormatKey, layout
from extraction.schema import formats as F


@dataclass(frozen=True)
class AnchorSpec:
    index: int
    kind: str  # heading | section | column | row | end
    key: str  # row id, section key, column key, heading key
    table: str
    cores: tuple[str, ...]  # match keys (normalised, punctuation-free)
    weight: float
    short: bool  # a core of ≤ 3 characters: needs context to count


def _keys(aliases) -> tuple[str, ...]:
    out: list[str] = []
    for a in aliases:
        k = match_key(normalize(a))
        if k and k not in out:
            out.append(k)
    return tuple(sorted(out, key=len, reverse=True))


@cache
def anchor_sequence(fmt: FormatKey, single_other_row: bool = False) -> tuple[AnchorSpec, ...]:
    """Expected anchors in printing order. For 2021 the （六） group is kept; whether it is a row
    (the single-row variant) is decided by reconstruction from where the values are."""
    lay = layout(fmt)
    specs: list[tuple[str, str, str, tuple[str, ...], float]] = []

    def add(kind: str, key: str, table: str, aliases, weight: float) -> None:
        specs.append((kind, key, table, _keys(aliases), weight))

    _title, aliases = F.SECTION_HEADINGS["proactive"]
    add("heading", "proactive", "proactive", aliases, 1.0)
    proactive = lay.table("proactive")
    for section in proactive.sections:
        add("section", section.key, "proactive", [section.label], 1.0)
        add("column", "信息内容", "proactive", ["信息内容"], 0.3)
        for col in section.header:
            add("column", col.key, "proactive", col.aliases, 0.4)
        for row in proactive.rows:
            if row.group == section.key:
                add("row", row.id, "proactive", row.aliases, 1.0)
    _title, aliases = F.SECTION_HEADINGS["applications"]
    add("heading", "applications", "applications", aliases, 1.0)
    add("column", "note", "applications", ["本列数据的勾稽关系为", "第一项加第二项之和"], 0.3)
    add("column", "applicant", "applications", ["申请人情况"], 0.3)
    for key, label, _ in F.APPLICANT_COLUMNS[:1]:
        add("column", key, "applications", [label], 0.2)
    add("column", "legal_person", "applications", ["法人或其他组织"], 0.2)
    for key, label, _ in F.APPLICANT_COLUMNS[1:5]:
        add("column", key, "applications", [label], 0.2)
    apps = lay.table("applications")
    seen_groups: set[str] = set()
    for key, _label, aliases, group, formats in F.APPLICATION_ROWS:
        if group and group not in seen_groups and group in F.APPLICATION_GROUPS:
            seen_groups.add(group)
            if not (group == "other" and fmt == "2019"):
                _glabel, galiases = F.APPLICATION_GROUPS[group]
                add("section", f"group.{group}", "applications", galiases, 0.6)
        if key == "other":
            if fmt == "2019":
                add("row", "applications.other", "applications", aliases, 1.0)
            continue
        if fmt not in formats:
            continue
        row = next(r for r in apps.rows if r.key == key)
        add("row", row.id, "applications", row.aliases, 1.0)
    _title, aliases = F.SECTION_HEADINGS["appeals"]
    add("heading", "appeals", "appeals", aliases, 1.0)
    add("column", "review", "appeals", ["行政复议"], 0.3)
    add("column", "litigation", "appeals", ["行政诉讼"], 0.3)
    for key, label, _ in F.APPEALS_COLUMNS:
        add("column", key, "appeals", [label], 0.1)
    add("column", "litigation_direct", "appeals", ["未经复议直接起诉"], 0.3)
    add("column", "litigation_after_review", "appeals", ["复议后起诉"], 0.3)
    for key in ("problems", "other_matters"):
        _title, aliases = F.SECTION_HEADINGS[key]
        add("end", key, "", aliases, 0.5)
    return tuple(
        AnchorSpec(i, kind, key, table, cores, weight, max(len(c) for c in cores) <= 3)
        for i, (kind, key, table, cores, weight) in enumerate(specs)
    )
