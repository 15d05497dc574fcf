"""The sequence of printed anchors (headings, sections, headers, row labels) a format expects.

Built from the schema; labelers align a document's tokens to it. The order is the statutory
printing order, so an alignment that keeps it ignores narrative mentions of the same words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from extraction.document import AnchorKind
from extraction.schema import FormatKey, layout
from extraction.schema import formats as F
from extraction.text import match_key, normalize


@dataclass(frozen=True)
class AnchorSpec:
    index: int
    kind: AnchorKind  # heading | section | column | row | end
    key: str  # row id, section key, column key, heading key
    table: str
    cores: tuple[str, ...]  # match keys (normalised, punctuation-free)
    weight: float
    short: bool  # a core of ≤ 3 characters: needs context to count
    enumerator: tuple[str, int] | None = None  # the printed "1." / "（四）" / "三、" (see `enumerator`)


_CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_ENUMERATORS = (
    ("paren", re.compile(r"^\s*[(（]\s*([一二三四五六七八九十]{1,3})\s*[)）]")),
    ("cn", re.compile(r"^\s*([一二三四五六七八九十]{1,3})\s*[、.．]")),
    ("arabic", re.compile(r"^\s*(\d{1,2})\s*[.．、,，](?!\d)")),
)


def _cn_number(text: str) -> int:
    if text == "十":
        return 10
    if "十" in text:
        tens, _, units = text.partition("十")
        return _CN_DIGITS.get(tens, 1) * 10 + _CN_DIGITS.get(units, 0)
    return _CN_DIGITS.get(text, 0)


def enumerator(text: str) -> tuple[str, int] | None:
    """The enumerator a label starts with: ("paren", 4) for "（四）", ("cn", 3) for "三、",
    ("arabic", 1) for "1."; None when it starts with none (or OCR garbled it: "L.", "70")."""
    for kind, pattern in _ENUMERATORS:
        m = pattern.match(text)
        if m:
            return kind, int(m.group(1)) if kind == "arabic" else _cn_number(m.group(1))
    return None


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
    specs: list[tuple[AnchorKind, str, str, tuple[str, ...], float, tuple[str, int] | None]] = []

    def add(kind: AnchorKind, key: str, table: str, aliases, weight: float, printed: str = "") -> None:
        specs.append((kind, key, table, _keys(aliases), weight, enumerator(printed)))

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
    for key, label, aliases, group, formats in F.APPLICATION_ROWS:
        if group and group not in seen_groups and group in F.APPLICATION_GROUPS:
            seen_groups.add(group)
            if not (group == "other" and fmt == "2019"):
                glabel, galiases = F.APPLICATION_GROUPS[group]
                add("section", f"group.{group}", "applications", galiases, 0.6, glabel)
        if key == "other":
            if fmt == "2019":
                add("row", "applications.other", "applications", aliases, 1.0, label)
            continue
        if fmt not in formats:
            continue
        row = next(r for r in apps.rows if r.key == key)
        add("row", row.id, "applications", row.aliases, 1.0, label)
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
        AnchorSpec(i, kind, key, table, cores, weight, max(len(c) for c in cores) <= 3, printed)
        for i, (kind, key, table, cores, weight, printed) in enumerate(specs)
    )
