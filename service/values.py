"""A value typed in by a person (a reviewer's correction, an imported label), checked against the cell's
statutory type before anything is stored.

Counts are whole numbers, never negative (format 2019's 本年增/减 column, `signed_count`, may be
negative); amounts (万元) are non-negative decimals with at most `AMOUNT_DECIMALS` places (to the
元). Every refusal says why in Chinese, with the English beside it (`CellValueError`), and names a
`reason` a client can act on. Every way a value enters (POST …/correct, POST /labeled) goes through
`validate_cell_value`: the one validator.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from extraction.schema import layout

# 万元 to the 元: 0.0001. More places is a typo or a value in the wrong unit.
AMOUNT_DECIMALS = 4
# No disclosure report prints a count or an amount (万元) this large: a slip of the keyboard.
MAX_CELL_VALUE = 100_000_000
# A typed value longer than this is no figure: refused before any parsing, and not echoed back whole.
MAX_VALUE_CHARS = 64
# What an error message repeats of the value it refuses.
ECHO_CHARS = 40
# What a person types for a cell the report leaves blank (null in the result).
BLANK_MARKS = frozenset({"-", "—", "－", "–", "/", "null", "无"})

Reason = Literal[
    "empty",
    "wrong_type",
    "too_long",
    "not_a_number",
    "not_finite",
    "negative",
    "not_whole",
    "too_precise",
    "too_large",
    "unknown_cell",
]


class CellValueError(ValueError):
    """A value refused for a cell: `reason`, a Chinese message and its English."""

    def __init__(self, cell_id: str, reason: Reason, message: str, message_en: str) -> None:
        super().__init__(message_en)
        self.cell_id, self.reason, self.message, self.message_en = cell_id, reason, message, message_en

    def to_detail(self) -> dict[str, Any]:
        return {"cell_id": self.cell_id, "reason": self.reason, "message": self.message, "message_en": self.message_en}


def cell_kind(fmt: str, variants: Iterable[str], cell_id: str) -> str:
    """The statutory column kind of a cell (count, signed_count, amount); KeyError if no such cell."""
    lay = layout(fmt, tuple(variants))
    if cell_id not in lay.cells:
        raise KeyError(cell_id)
    return lay.cells[cell_id].kind


def validate_cell_value(fmt: str, variants: Iterable[str], cell_id: str, raw: Any) -> int | float | None:
    """`raw` as the cell's value (int for counts, int or float for amounts, None for a blank cell), or
    CellValueError. JSON null and the blank marks (`-`, `—`, …) mean a blank cell; an empty (or
    all-space) string is refused (an Enter on an empty field is a slip, not a reading). Refused too:
    anything but a number, a string or null (true/false, lists, objects: `wrong_type`); strings over
    MAX_VALUE_CHARS (`too_long`); NaN and ±Infinity, also as text or as JSON's 1e400 (`not_finite`);
    beyond ±MAX_CELL_VALUE (`too_large`); negative but in a signed column, 本年增/减 (`negative`);
    a count that is not whole (`not_whole`); an amount with more than AMOUNT_DECIMALS places."""
    try:
        kind = cell_kind(fmt, variants, cell_id)
    except KeyError:
        raise CellValueError(cell_id, "unknown_cell", f"没有单元格 {cell_id}", f"no cell {cell_id}") from None
    text = None if raw is None else _typed_text(cell_id, raw)
    if text is None:  # null, or a blank mark
        return None
    return _of_kind(cell_id, kind, raw, _number(cell_id, raw, text))


def _typed_text(cell_id: str, raw: Any) -> str | None:
    """The figure's text: a string normalized (full-width digits and signs, no thousands separators), a
    JSON number as written; None for a blank mark. Anything else is refused."""
    if isinstance(raw, bool):
        raise CellValueError(
            cell_id, "wrong_type", "请输入数字，而不是是/否", "a cell value is a number (or null), not true/false"
        )
    if isinstance(raw, int | float):
        return repr(raw)
    if not isinstance(raw, str):
        raise CellValueError(
            cell_id, "wrong_type", "请输入数字（或留空）", f"a cell value is a number or null, not {type(raw).__name__}"
        )
    if len(raw) > MAX_VALUE_CHARS:  # before any normalizing of a huge string
        raise CellValueError(
            cell_id,
            "too_long",
            f"数值过长（超过 {MAX_VALUE_CHARS} 个字符）：{_short(raw)}",
            f"a value of over {MAX_VALUE_CHARS} characters is no figure: {_short(raw)}",
        )
    text = unicodedata.normalize("NFKC", raw).strip()  # full-width digits and signs
    if text in BLANK_MARKS:
        return None
    if not text:
        raise CellValueError(
            cell_id,
            "empty",
            "未输入数值；若报告中该格为空，请输入“-”",
            "no value was typed; type '-' for a cell the report leaves blank",
        )
    return text.replace(",", "").replace(" ", "")


def _number(cell_id: str, raw: Any, text: str) -> Decimal:
    """The text as a finite number within ±MAX_CELL_VALUE."""
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise CellValueError(
            cell_id, "not_a_number", f"“{_short(raw)}”不是数字", f"{_short(raw)!r} is not a number"
        ) from None
    if not number.is_finite():
        raise CellValueError(cell_id, "not_finite", f"“{_short(raw)}”不是有限的数", f"{_short(raw)!r} is not finite")
    if abs(number) > MAX_CELL_VALUE:
        raise CellValueError(
            cell_id,
            "too_large",
            f"{_short(raw)} 超出合理范围（绝对值不超过 {MAX_CELL_VALUE:,}）",
            f"{_short(raw)} is out of range (at most {MAX_CELL_VALUE:,})",
        )
    return number


def _of_kind(cell_id: str, kind: str, raw: Any, number: Decimal) -> int | float:
    """The number as the column's kind: a count whole, an amount to AMOUNT_DECIMALS places; negative
    only in a signed column (本年增/减)."""
    if number < 0 and kind != "signed_count":
        what, what_en = ("金额", "an amount") if kind == "amount" else ("件数", "a count")
        raise CellValueError(
            cell_id, "negative", f"{what}不能为负数：{_short(raw)}", f"{what_en} cannot be negative: {_short(raw)}"
        )
    if kind == "amount":
        exponent = number.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > AMOUNT_DECIMALS:
            raise CellValueError(
                cell_id,
                "too_precise",
                f"金额（万元）最多保留 {AMOUNT_DECIMALS} 位小数：{_short(raw)}",
                f"an amount (万元) has at most {AMOUNT_DECIMALS} decimal places: {_short(raw)}",
            )
        return int(number) if number == number.to_integral_value() else float(number)
    if number != number.to_integral_value():
        raise CellValueError(
            cell_id, "not_whole", f"件数必须是整数：{_short(raw)}", f"a count is a whole number: {_short(raw)}"
        )
    return int(number)


def _short(raw: Any) -> str:
    """At most ECHO_CHARS of the refused value: an error never echoes a request's content whole."""
    text = str(raw)[: ECHO_CHARS + 1]
    return text if len(text) <= ECHO_CHARS else text[:ECHO_CHARS] + "…"


__all__ = [
    "AMOUNT_DECIMALS",
    "BLANK_MARKS",
    "ECHO_CHARS",
    "MAX_CELL_VALUE",
    "MAX_VALUE_CHARS",
    "CellValueError",
    "cell_kind",
    "validate_cell_value",
]
