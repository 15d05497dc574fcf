"""Random, rule-consistent cell values for one synthetic report.

Everything about the tables (rows, columns, cell ids, rules) is read from `extraction.schema`;
this module only decides *numbers*. A report's values are drawn from a profile (most real
reports are all zeros; others have a few to several thousand applications, concentrated in one
applicant column), then optionally some cells are blanked (null; rules read them as 0) and some
hard rules are deliberately broken. The failing rules are always computed with
`extraction.schema.constraints`, never guessed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from extraction.schema import Layout, constraints, layout, outcome_rows
from extraction.schema.formats import VARIANT_OTHER_SINGLE_ROW

Value = int | float | None

APPLICANTS = ("natural_person", "commercial", "research", "public_welfare", "legal_services", "other_org")
APPEAL_PARTS = ("upheld", "corrected", "other", "pending")

# profile -> (probability, range of new applications (total))
PROFILES: dict[str, tuple[float, tuple[int, int]]] = {
    "zero": (0.34, (0, 0)),
    "tiny": (0.22, (1, 12)),
    "small": (0.20, (12, 120)),
    "medium": (0.14, (120, 1200)),
    "large": (0.10, (1200, 9000)),
}

# Relative frequency of each outcome row (rows missing here get a small default weight).
OUTCOME_WEIGHTS = {
    "granted": 0.36,
    "partially_granted": 0.12,
    "denied.state_secret": 0.004,
    "denied.prohibited_by_law": 0.01,
    "denied.security_stability": 0.004,
    "denied.third_party": 0.008,
    "denied.internal_affairs": 0.008,
    "denied.process_information": 0.012,
    "denied.enforcement_file": 0.008,
    "denied.administrative_query": 0.03,
    "unavailable.not_held": 0.22,
    "unavailable.needs_creation": 0.04,
    "unavailable.unclear": 0.02,
    "not_processed.petition": 0.04,
    "not_processed.duplicate": 0.02,
    "not_processed.publication": 0.004,
    "not_processed.excessive": 0.004,
    "not_processed.reconfirm": 0.008,
    "other.no_amendment": 0.025,
    "other.fee_unpaid": 0.003,
    "other.other": 0.035,
    "other": 0.06,
}

VIOLATION_KINDS = (
    "applications.total",  # a row's 总计 no longer equals the sum of its applicant columns
    "applications.cell",  # one applicant cell misprinted (breaks its row total and its column rules)
    "applications.balance",  # carried_forward off in one column and in 总计 (only the balance breaks)
    "applications.outcome_total",  # （七）总计 off in one column and in 总计
    "appeals.total",  # an appeals 总计 wrong (e.g. printed 0 like real-012)
)


@dataclass
class ReportValues:
    """The truth of one report: its format, variants and a value (or None) for every cell id."""

    format: str
    variants: tuple[str, ...]
    cells: dict[str, Value]
    profile: str = "zero"
    # amount cells whose printed form must be in 元 (their truth has more than 2 decimals in 万元)
    yuan_text: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    injected: list[str] = field(default_factory=list)
    soft_broken: list[str] = field(default_factory=list)

    @property
    def layout(self) -> Layout:
        return layout(self.format, self.variants)  # type: ignore[arg-type]

    def violations(self) -> list[str]:
        return failing_rules(self.layout, self.cells)


def failing_rules(lay: Layout, cells: dict[str, Value], severity: str = "error") -> list[str]:
    """Sorted ids of the rules of `severity` that do not hold on `cells` (blank cells count as 0)."""
    return sorted(c.rule for c in constraints(lay) if c.severity == severity and not c.holds(cells))


# ----------------------------------------------------------------------------- helpers


def _loguniform(rng: random.Random, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def _split(rng: random.Random, n: int, weights: list[float]) -> list[int]:
    """Split n into len(weights) non-negative ints, roughly proportional to weights (multinomial-like)."""
    k = len(weights)
    if n <= 0 or k == 0:
        return [0] * k
    total_w = sum(weights)
    if n <= 60:
        out = [0] * k
        for idx in rng.choices(range(k), weights=weights, k=n):
            out[idx] += 1
        return out
    noisy = [w / total_w * rng.gammavariate(3.0, 1 / 3.0) for w in weights]
    s = sum(noisy) or 1.0
    out = [int(n * w / s) for w in noisy]
    rest = n - sum(out)
    for idx in rng.choices(range(k), weights=weights, k=rest) if rest > 0 else []:
        out[idx] += 1
    return out


def _pick_profile(rng: random.Random, profile: str | None) -> str:
    if profile:
        return profile
    names = list(PROFILES)
    return rng.choices(names, weights=[PROFILES[p][0] for p in names])[0]


def _as_number(v: float, decimals: int) -> int | float:
    v = round(v, decimals)
    return int(v) if float(v).is_integer() else v


# ----------------------------------------------------------------------------- tables


def _applications(rng: random.Random, lay: Layout, profile: str, cells: dict[str, Value]) -> int:
    apps = lay.table("applications")
    lo, hi = PROFILES[profile][1]
    new_total = 0 if hi == 0 else int(_loguniform(rng, max(lo, 1), hi + 1))
    # Which applicant column holds most requests (natural persons usually; seed 004: 法律服务机构).
    main = rng.choices(APPLICANTS, weights=[0.82, 0.08, 0.005, 0.01, 0.05, 0.035])[0]
    shares = []
    for col in APPLICANTS:
        if col == main:
            shares.append(1.0)
        elif new_total > 20 and rng.random() < 0.45:
            shares.append(rng.uniform(0.002, 0.08))
        elif new_total <= 20 and rng.random() < 0.08:
            shares.append(0.05)
        else:
            shares.append(0.0)
    new = (
        dict(zip(APPLICANTS, _split(rng, new_total, shares), strict=True))
        if new_total
        else dict.fromkeys(APPLICANTS, 0)
    )
    outcomes = outcome_rows(apps)
    keys = [r.key for r in outcomes]
    # Some rows are never used by this body; the rest keep their statutory weights, jittered.
    row_w = []
    for k in keys:
        w = OUTCOME_WEIGHTS.get(k, 0.005)
        if k not in ("granted", "unavailable.not_held") and rng.random() < 0.35:
            w = 0.0
        row_w.append(w * rng.uniform(0.5, 1.6))
    if sum(row_w) == 0:
        row_w[0] = 1.0
    values: dict[str, dict[str, int]] = {r.key: {} for r in apps.rows}
    for col in APPLICANTS:
        n_new = new[col]
        carried = 0
        if n_new and rng.random() < 0.35:
            carried = rng.randint(0, max(1, n_new // 8))
        handled = n_new + carried
        forward = 0
        if handled and rng.random() < 0.4:
            forward = rng.randint(0, max(1, handled // 10))
        done = handled - forward
        split = _split(rng, done, row_w)
        values["new"][col] = n_new
        values["carried_over"][col] = carried
        values["carried_forward"][col] = forward
        values["outcome_total"][col] = done
        for k, v in zip(keys, split, strict=True):
            values[k][col] = v
    for row in apps.rows:
        row_vals = values[row.key]
        row_vals["total"] = sum(row_vals[c] for c in APPLICANTS)
        for col, v in row_vals.items():
            cells[f"applications.{row.key}.{col}"] = v
    return new_total


def _appeals(rng: random.Random, lay: Layout, profile: str, n_apps: int, cells: dict[str, Value]) -> None:
    active = {"zero": 0.06, "tiny": 0.15, "small": 0.4, "medium": 0.75, "large": 0.95}[profile]
    for row in lay.table("appeals").rows:
        parts = dict.fromkeys(APPEAL_PARTS, 0)
        if rng.random() < active:
            scale = {"review": 0.08, "litigation_direct": 0.012, "litigation_after_review": 0.008}.get(row.key, 0.01)
            n = max(1, int(max(n_apps, 3) * scale * rng.uniform(0.3, 2.0)))
            if rng.random() < 0.5:
                n = min(n, rng.randint(1, 6))
            split = _split(rng, n, [0.35, 0.15, 0.35, 0.15])
            parts = dict(zip(APPEAL_PARTS, split, strict=True))
        for p, v in parts.items():
            cells[f"appeals.{row.key}.{p}"] = v
        cells[f"appeals.{row.key}.total"] = sum(parts.values())


def _decisions(rng: random.Random, p_zero: float, hi: float) -> int:
    if rng.random() < p_zero:
        return 0
    return int(_loguniform(rng, 1, hi))


def _amount(rng: random.Random, p_zero: float, hi: float) -> int | float:
    if rng.random() < p_zero:
        return 0
    v = _loguniform(rng, 0.01, hi)
    decimals = rng.choices([0, 1, 2], weights=[0.3, 0.2, 0.5])[0]
    v = _as_number(v, decimals)
    return v if v else 0.01


def _proactive_2021(
    rng: random.Random, lay: Layout, profile: str, cells: dict[str, Value], soft_break: bool
) -> list[str]:
    big = profile in ("medium", "large")
    broken: list[str] = []
    for key in ("rules", "normative_documents"):
        p_zero = 0.9 if key == "rules" and not big else (0.55 if key == "rules" else 0.45)
        if rng.random() < p_zero:
            issued = repealed = 0
            in_force = 0 if key == "rules" or rng.random() < 0.5 else rng.randint(1, 40)
        else:
            issued = rng.randint(0, 6 if key == "rules" else 20)
            repealed = rng.randint(0, 3) if rng.random() < 0.5 else 0
            in_force = issued + rng.randint(0, 25 if key == "rules" else 90)
        if soft_break and key == "normative_documents":
            issued = max(issued, rng.randint(1, 9))
            in_force = rng.randint(0, issued - 1)
            broken.append(f"proactive.in_force.{key}")
        cells[f"proactive.{key}.issued"] = issued
        cells[f"proactive.{key}.repealed"] = repealed
        cells[f"proactive.{key}.in_force"] = in_force
    cells["proactive.licensing.decisions"] = _decisions(rng, 0.45 if not big else 0.1, 600000 if big else 3000)
    cells["proactive.penalty.decisions"] = _decisions(rng, 0.5 if not big else 0.1, 4500000 if big else 5000)
    cells["proactive.coercion.decisions"] = _decisions(rng, 0.65 if not big else 0.2, 100000 if big else 500)
    cells["proactive.fees.amount"] = _amount(rng, 0.6 if not big else 0.25, 120000 if big else 500)
    return broken


def _proactive_2019(rng: random.Random, lay: Layout, profile: str, cells: dict[str, Value]) -> None:
    big = profile in ("medium", "large")
    for key in ("rules", "normative_documents"):
        if rng.random() < (0.85 if key == "rules" else 0.45):
            made = published = 0
            total = 0 if key == "rules" or rng.random() < 0.5 else rng.randint(1, 60)
        else:
            made = rng.randint(0, 6 if key == "rules" else 25)
            published = made if rng.random() < 0.8 else rng.randint(0, made)
            total = published + rng.randint(0, 30 if key == "rules" else 200)
        cells[f"proactive.{key}.made"] = made
        cells[f"proactive.{key}.published"] = published
        cells[f"proactive.{key}.total_published"] = total
    for key, hi_items, hi_dec in (
        ("licensing", 600, 600000 if big else 3000),
        ("other_services", 300, 100000 if big else 2000),
        ("penalty", 4000, 4000000 if big else 5000),
        ("coercion", 200, 100000 if big else 300),
    ):
        if rng.random() < (0.35 if not big else 0.08):
            prev = change = dec = 0
        else:
            prev = rng.randint(0, hi_items)
            change = rng.randint(-min(prev, 40), 60) if rng.random() < 0.6 else 0
            if rng.random() < 0.05:
                change = rng.randint(100, 2000)
            dec = _decisions(rng, 0.1, hi_dec)
        cells[f"proactive.{key}.previous_items"] = prev
        cells[f"proactive.{key}.change"] = change
        cells[f"proactive.{key}.decisions"] = dec
    prev = 0 if rng.random() < 0.6 else rng.randint(1, 40)
    cells["proactive.fees.previous_items"] = prev
    cells["proactive.fees.change"] = rng.randint(-min(prev, 5), 3) if prev and rng.random() < 0.5 else 0
    if rng.random() < (0.5 if not big else 0.1):
        cells["proactive.procurement.items"] = 0
        cells["proactive.procurement.amount"] = 0
    else:
        cells["proactive.procurement.items"] = rng.randint(1, 600 if big else 40)
        cells["proactive.procurement.amount"] = _amount(rng, 0.0, 300000 if big else 2000)


# ----------------------------------------------------------------------------- blanks and violations


def _blank(rng: random.Random, rv: ReportValues, positional: bool) -> None:
    """Blank some cells. Without positional separators only whole rows are blanked (recoverable)."""
    lay = rv.layout
    cells = rv.cells
    patterns = ["proactive_row", "zero_rows"] + (
        ["zero_cells", "proactive_zero_cell", "appeals_zero"] if positional else []
    )
    pattern = rng.choice(patterns)
    if pattern == "proactive_row":
        row = rng.choice(lay.table("proactive").rows)
        for cid in row.cell_ids:
            cells[cid] = None
        rv.notes.append(f"blank row {row.id}")
    elif pattern == "zero_rows":
        rows = [r for r in lay.table("applications").rows if all(cells[c] == 0 for c in r.cell_ids)]
        rows = [r for r in rows if r.key not in ("new", "outcome_total")]
        if not rows:
            return
        chosen = rng.sample(rows, k=min(len(rows), rng.randint(1, 4)))
        for r in chosen:
            for cid in r.cell_ids:
                cells[cid] = None
        rv.notes.append("blank zero rows " + " ".join(sorted(r.key for r in chosen)))
    elif pattern == "zero_cells":
        zeros = [c for c in lay.table("applications").cell_ids if cells[c] == 0]
        if not zeros:
            return
        chosen = rng.sample(zeros, k=min(len(zeros), rng.randint(1, 6)))
        for cid in chosen:
            cells[cid] = None
        rv.notes.append(f"{len(chosen)} blank zero cells in applications")
    elif pattern == "proactive_zero_cell":
        zeros = [c for c in lay.table("proactive").cell_ids if cells[c] == 0]
        if zeros:
            cid = rng.choice(zeros)
            cells[cid] = None
            rv.notes.append(f"blank {cid}")
    else:
        zeros = [c for c in lay.table("appeals").cell_ids if cells[c] == 0]
        if zeros:
            chosen = rng.sample(zeros, k=min(len(zeros), rng.randint(1, 5)))
            for cid in chosen:
                cells[cid] = None
            rv.notes.append(f"{len(chosen)} blank zero cells in appeals")


def _bump(rng: random.Random, v: Value) -> int:
    """A different non-negative count near v (a typo-like misprint)."""
    v = int(v or 0)
    choices = [v + d for d in (1, 2, 3, 5, 10, 11) if v + d >= 0] + [v - d for d in (1, 2, 10) if v - d >= 0]
    if v >= 10:
        choices += [v // 10, v * 10, int(str(v)[::-1]) if str(v)[::-1] != str(v) else v + 1]
    if v > 0:
        choices.append(0)
    out = rng.choice([c for c in choices if c != v])
    return out


def inject_violation(rng: random.Random, rv: ReportValues, kind: str | None = None) -> str:
    """Change one or more cells so that a hard rule of `kind` breaks; returns a short description."""
    lay = rv.layout
    cells = rv.cells
    kind = kind or rng.choices(VIOLATION_KINDS, weights=[0.25, 0.25, 0.15, 0.15, 0.2])[0]
    apps = lay.table("applications")
    if kind == "applications.total":
        row = rng.choice(apps.rows)
        cid = f"applications.{row.key}.total"
        old = cells[cid]
        cells[cid] = _bump(rng, old)
        desc = f"{cid} {old}->{cells[cid]}"
    elif kind == "applications.cell":
        row = rng.choice(apps.rows)
        cid = f"applications.{row.key}.{rng.choices(APPLICANTS, weights=[6, 1, 1, 1, 1, 1])[0]}"
        old = cells[cid]
        cells[cid] = _bump(rng, old)
        desc = f"{cid} {old}->{cells[cid]}"
    elif kind in ("applications.balance", "applications.outcome_total"):
        row_key = "carried_forward" if kind == "applications.balance" else "outcome_total"
        col = rng.choices(APPLICANTS, weights=[6, 1, 1, 1, 1, 1])[0]
        cid = f"applications.{row_key}.{col}"
        old = int(cells[cid] or 0)
        new = _bump(rng, old)
        cells[cid] = new
        tid = f"applications.{row_key}.total"
        cells[tid] = int(cells[tid] or 0) + (new - old)
        if cells[tid] < 0:  # keep counts non-negative
            cells[tid] = 0
        desc = f"{cid} {old}->{new} (and its 总计)"
    elif kind == "appeals.total":
        row = rng.choice(lay.table("appeals").rows)
        cid = f"appeals.{row.key}.total"
        old = cells[cid]
        if old and rng.random() < 0.5:
            cells[cid] = 0
        else:
            cells[cid] = _bump(rng, old)
        desc = f"{cid} {old}->{cells[cid]}"
    else:
        raise ValueError(f"unknown violation kind {kind!r}; expected one of {VIOLATION_KINDS}")
    rv.injected.append(f"injected {kind}: {desc}")
    return desc


# ----------------------------------------------------------------------------- entry point


def random_values(
    rng: random.Random,
    fmt: str,
    variants: tuple[str, ...] = (),
    *,
    profile: str | None = None,
    blank_rate: float = 0.12,
    positional_blanks: bool = True,
    violation_rate: float = 0.0,
    violation_kind: str | None = None,
    soft_violation_rate: float = 0.03,
    yuan_rate: float = 0.08,
) -> ReportValues:
    """Draw the values of one report.

    `blank_rate`: probability that the report leaves some cells blank (null). `positional_blanks`:
    whether blanks may sit inside a row (only where the text keeps cell positions, e.g. tabs);
    otherwise only whole rows are blanked. `violation_rate`: probability of injecting a broken
    hard rule (`violation_kind` picks which, see VIOLATION_KINDS). `yuan_rate`: probability that a
    non-zero amount is printed in 元 (its truth then has up to 6 decimals in 万元).
    """
    variants = tuple(sorted(set(variants)))
    lay = layout(fmt, variants)  # type: ignore[arg-type]
    profile = _pick_profile(rng, profile)
    cells: dict[str, Value] = dict.fromkeys(lay.cell_ids)
    rv = ReportValues(fmt, variants, cells, profile)
    n_apps = _applications(rng, lay, profile, cells)
    _appeals(rng, lay, profile, n_apps, cells)
    if fmt == "2021":
        rv.soft_broken = _proactive_2021(rng, lay, profile, cells, rng.random() < soft_violation_rate)
    else:
        _proactive_2019(rng, lay, profile, cells)
    for cid in lay.cell_ids:
        col = lay.column_of(cid)
        v = cells[cid]
        if col.kind == "amount" and v and rng.random() < yuan_rate:
            cents = round(float(v) * 1_000_000) + rng.randint(0, 99)
            yuan = f"{cents // 100}.{cents % 100:02d}"
            cells[cid] = _as_number(cents / 1_000_000, 6)
            rv.yuan_text[cid] = yuan
    if rng.random() < blank_rate:
        _blank(rng, rv, positional_blanks)
    if rng.random() < violation_rate:
        for _ in range(20):
            inject_violation(rng, rv, violation_kind)
            if rv.violations():
                break
    assert set(cells) == set(lay.cell_ids)
    if VARIANT_OTHER_SINGLE_ROW in variants:
        rv.notes.append("（六）其他处理 printed as one row")
    return rv
