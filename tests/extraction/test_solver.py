"""The digit-run solver: glued cells are cut by the statutory sums, ambiguity is reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from extraction.ingest.text import split_lines
from extraction.reconstruct.solver import Segment, inside_checks, readings, split_runs
from extraction.schema import hard_constraints, layout
from extraction.tokenize import tokenize


def _tokens(text: str):
    return [t for t in tokenize(split_lines(text)) if t.kind == "number"]


def test_row_total_cuts_a_glued_row():
    lay = layout("2021")
    row = lay.row("applications.new")
    checks = inside_checks(row.cell_ids, list(hard_constraints(lay)))
    cuts = split_runs(_tokens("640020470"), 7, ["count"] * 7, checks, 1000)
    assert cuts == [["64", "0", "0", "2", "0", "4", "70"]]


def test_no_leading_zeros():
    cuts = split_runs(_tokens("1005"), 3, ["count"] * 3, [], 1000)
    assert cuts == [["10", "0", "5"]]


def test_signed_change_2019():
    toks = _tokens("行政许可20+1737")
    seg = Segment(["a", "b", "c"], toks, ["count", "signed_count", "count"])
    found = readings(seg)
    assert max(found, key=lambda r: r.prior).values == (20, 17, 37)
    assert all(r.values[0] == 20 for r in found)


def test_decimal_amount_kept_whole():
    toks = _tokens("行政事业性收费7730.28")
    seg = Segment(["proactive.fees.amount"], toks, ["amount"])
    assert [r.values for r in readings(seg)] == [(7730.28,)]


def test_enumerator_split_from_glued_run():
    toks = tokenize(split_lines("1.属于国家秘密00000002.其他法律行政法规禁止公开"))
    assert [t.text for t in toks if t.kind == "number"] == ["0000000"]
    assert any(t.kind == "text" and t.text.startswith("2.") for t in toks)


def test_enumerator_without_its_dot_is_no_figure():
    """A photo's OCR lost the dot of the next sub-row's enumerator ("1属于国家秘密"): read as a figure
    it joined the row above, one figure too many (seed 7171 horizontal_only photo: 7 rows of table 三
    sent to review whole as extra_values)."""
    from extraction.document import Field as F
    from extraction.document import Line

    def numbers(text: str, confidence: float) -> list[str]:
        line = Line([F("0", confidence=confidence), F(text, confidence=confidence)], delimited=True)
        return [t.text for t in tokenize([line]) if t.kind == "number"]

    assert numbers("1属于国家秘密", 0.95) == ["0"]
    assert numbers("3危及“三安全一稳定”", 0.71) == ["0"]
    assert numbers("1属于国家秘密", 1.0) == ["0"]  # glued: an enumerator in text as well
    assert numbers("1 信访举报投诉类申请", 0.31) == ["0"]  # OCR kept a space for the dot
    assert numbers("1 信访举报投诉类申请", 1.0) == ["0", "1"]  # text: a wrapped figure before a label
    assert numbers("4次业务培训", 0.9) == ["0", "4"]  # a count is prose, its figure kept
    assert numbers("12属于国家秘密", 0.9) == ["0", "12"]  # no enumerator has two digits
    assert numbers("6万元", 1.0) == ["0", "6"]  # a figure and its unit open no sub-row's label
    assert numbers("6万元", 0.9) == ["0", "6"]


def test_a_stray_from_another_line_out_of_order_is_unverified():
    """A photo's 行政规范性文件 16 | 0 | 87 under a seal: the 0 unread, the 8 hidden, and a seal's
    stroke read "1" on the line below, left of the 7. As many figures as cells, in printing order
    16 | 7 | 1: the 7 went to 本年废止 at 0.998. Figures of one line, or left to right, stay plain."""
    from extraction.document import Token

    def tok(i: int, text: str, line: int, x: float, kind: str = "number") -> Token:
        return Token(i, kind, text, line, 0, 1, (x, 100.0, x + 10, 120.0), 1.0)  # type: ignore[arg-type]

    cells = ["a", "b", "c"]
    stray = [tok(0, "16", 23, 852), tok(1, "", 23, 1069, "blank"), tok(2, "7", 23, 1343), tok(3, "1", 24, 1044)]
    assert readings(Segment(cells, stray, ["count"] * 3))[0].flags == {"unverified"}
    one_line = [tok(0, "16", 23, 852), tok(1, "0", 23, 1069), tok(2, "87", 23, 1343)]
    assert not readings(Segment(cells, one_line, ["count"] * 3))[0].flags
    in_order = [tok(0, "16", 23, 852), tok(1, "0", 24, 1069), tok(2, "87", 23, 1343)]
    assert not readings(Segment(cells, in_order, ["count"] * 3))[0].flags


def test_yuan_converted_to_wan():
    toks = _tokens("行政事业性收费 75394432.52元")
    seg = Segment(["proactive.fees.amount"], toks, ["amount"])
    assert abs(readings(seg)[0].values[0] - 7539.443252) < 1e-9


def test_remark_after_value_dropped():
    toks = _tokens("行政规范性文件\t22（其中修订16件）\t0\t30")
    assert [t.text for t in toks] == ["22", "0", "30"]


def test_ocr_alternative_chosen_by_the_sums_is_flagged():
    from extraction.document import DocumentState
    from extraction.document import Field as F
    from extraction.layout.baseline import BaselineLabeler
    from extraction.reconstruct.assemble import Reconstructor

    text = (Path(__file__).resolve().parents[2] / "datasets" / "seeds" / "004_bff1b9e23c617db0.txt").read_text()
    doc = DocumentState(name="x", sha256="", kind="txt")
    from extraction.ingest.text import split_lines

    doc.lines = split_lines(text)
    # OCR misread 53 as 58 in 本年新收 · 法律服务机构, with 53 as its second reading.
    for line in doc.lines:
        if line.fields and line.fields[0].text.startswith("一、本年新收"):
            k = next(i for i, f in enumerate(line.fields) if f.text == "53")  # legal_services, before total
            line.fields[k] = F("58", confidence=0.6, alternatives=["53"])
            break
    doc.tokens = tokenize(doc.lines)
    BaselineLabeler()(doc)
    Reconstructor()(doc)
    cell = doc.cells["applications.new.legal_services"]
    assert cell.value == 53
    assert "corrected_by_rule" in cell.flags
    assert cell.confidence <= 0.75
    assert doc.cells["applications.new.total"].value == 53
    assert "corrected_by_rule" not in doc.cells["applications.new.total"].flags


def test_two_ocr_alternatives_in_one_row_are_chosen_together_by_the_sums():
    """A photo misreads several figures of one row (a mono font's zeros read 8 over a page): one
    alternative a row fixed nothing when two of its figures were misread, and the row stayed wrong
    in review. Up to `MAX_SUBSTITUTIONS` alternatives are read at once; each cell so read is
    flagged (in review)."""
    from extraction.document import DocumentState
    from extraction.document import Field as F
    from extraction.ingest.text import split_lines
    from extraction.layout.baseline import BaselineLabeler
    from extraction.reconstruct.assemble import Reconstructor
    from extraction.reconstruct.solver import MAX_SUBSTITUTIONS

    assert MAX_SUBSTITUTIONS >= 2
    text = (Path(__file__).resolve().parents[2] / "datasets" / "seeds" / "004_bff1b9e23c617db0.txt").read_text()

    def read(misread: dict[int, tuple[str, str]]):
        doc = DocumentState(name="x", sha256="", kind="txt")
        doc.lines = split_lines(text)
        line = next(x for x in doc.lines if x.fields and x.fields[0].text.startswith("一、本年新收"))
        figures = [i for i, f in enumerate(line.fields) if f.text.isdigit()]
        for k, (shown, printed) in misread.items():
            assert line.fields[figures[k]].text == printed
            line.fields[figures[k]] = F(shown, confidence=0.6, alternatives=[printed])
        doc.tokens = tokenize(doc.lines)
        BaselineLabeler()(doc)
        Reconstructor()(doc)
        return doc

    # 本年新收 0 0 0 0 53 0 | 53: 法律服务机构 53 read 58, 其他 0 read 8
    doc = read({4: ("58", "53"), 5: ("8", "0")})
    for cid, want in (("applications.new.legal_services", 53), ("applications.new.other_org", 0)):
        cell = doc.cells[cid]
        assert cell.value == want and "corrected_by_rule" in cell.flags, (cid, cell.value, cell.flags)
    assert doc.cells["applications.new.total"].value == 53
    assert "corrected_by_rule" not in doc.cells["applications.new.total"].flags


def test_joint_solver_matches_brute_force_on_random_tables():
    """The array-based programme finds what trying every combination finds: the fewest broken
    rules, then the most plausible readings (random small tables with glued-run style readings)."""
    import itertools
    import random

    from extraction.reconstruct.solver import JointSolver, Reading
    from extraction.schema.rules import Constraint

    rng = random.Random(7)
    for _ in range(60):
        rows, cols = rng.randint(2, 4), rng.randint(2, 3)
        cells = [[f"t.r{r}.c{c}" for c in range(cols)] for r in range(rows)]
        hard = [
            Constraint(f"row{r}", "error", "eq", (cells[r][-1],), tuple(cells[r][:-1]), "", "") for r in range(rows)
        ] + [
            Constraint(f"col{c}", "error", "eq", (cells[-1][c],), tuple(cells[r][c] for r in range(rows - 1)), "", "")
            for c in range(cols)
        ]
        segments = []
        for r in range(rows):
            n_read = rng.randint(1, 4)
            readings = [
                Reading(
                    values=tuple(rng.choice([0, 1, 2, 3, None]) for _ in range(cols)),
                    prior=-rng.choice([0.0, 0.5, 1.0, 1.5]),
                    tokens=(None,) * cols,
                    texts=("",) * cols,
                )
                for _ in range(n_read)
            ]
            segments.append(Segment(cells=cells[r], slots=[], kinds=["count"] * cols, readings=readings))
        solver = JointSolver(segments, hard)
        banned = {0: {0}} if len(segments[0].readings) > 1 and rng.random() < 0.5 else {}
        got = solver.solve(banned)

        options = [
            [ri for ri in range(len(seg.readings)) if ri not in banned.get(k, ())] for k, seg in enumerate(segments)
        ]
        best = min(_score(segments, hard, choice) for choice in itertools.product(*options))
        assert _score(segments, hard, got.choice) == best
        assert (got.violations, -got.prior) == pytest.approx(best)
        assert all(ri not in banned.get(k, ()) for k, ri in enumerate(got.choice))


def _score(segments, hard, choice):
    """(broken rules, minus plausibility) of one reading per segment."""
    values = {
        cid: v
        for seg, ri in zip(segments, choice, strict=True)
        for cid, v in zip(seg.cells, seg.readings[ri].values, strict=True)
    }
    broken = sum(abs(sum(values[c] or 0 for c in h.left) - sum(values[c] or 0 for c in h.right)) > 1e-6 for h in hard)
    return broken, -sum(seg.readings[ri].prior for seg, ri in zip(segments, choice, strict=True))


def test_a_blank_cell_read_off_a_scan_goes_to_review():
    """On OCR'd pages an empty cell and a figure OCR missed look alike: a cell read as blank gets
    `unread_blank_confidence` (below the review threshold); from a text layer it keeps its own."""
    from extraction.document import PageInfo
    from extraction.ingest import Ingestor
    from extraction.layout.baseline import BaselineLabeler
    from extraction.metadata import extract_metadata
    from extraction.reconstruct.assemble import ReconstructOptions, Reconstructor
    from gongkai_datasets.generate import generate_one

    g = generate_one(9, 5, flatteners=("tabs",), blank_rate=1.0, violation_rate=0.0)
    blanks = {cid for cid, v in g.truth["cells"].items() if v is None}
    assert blanks
    confidence = {}
    for unit in ("pt", "px"):
        doc = Ingestor()(g.content.encode("utf-8"), "report.txt")
        doc.pages = [PageInfo(number=1, width=1000.0, height=1400.0, unit=unit)]
        doc.tokens = tokenize(doc.lines)
        extract_metadata(doc)
        BaselineLabeler()(doc)
        Reconstructor()(doc)
        assert {cid for cid, c in doc.cells.items() if c.value is None} == blanks
        confidence[unit] = {cid: doc.cells[cid].confidence for cid in blanks}
    limit = ReconstructOptions().unread_blank_confidence
    assert all(c <= limit for c in confidence["px"].values())
    assert any(c > limit for c in confidence["pt"].values())


def _boxed_zeros(xs: list[float]):
    from extraction.document import Token

    return [
        Token(index=i, kind="number", text="0", line=0, field=i, page=1, bbox=(x - 3, 492, x + 3, 508))
        for i, x in enumerate(xs)
    ]


def test_blank_cells_on_a_page_are_placed_where_the_gap_is():
    # 15 appeals cells, all zeros: the sums accept any placement of the two blanks; the figures'
    # positions (an even 87 px pitch with two columns empty) say which cells are blank
    columns = [211 + 87 * k for k in range(15)]
    seg = Segment([f"c{k}" for k in range(15)], _boxed_zeros(columns[:5] + columns[7:]), ["count"] * 15)
    best = max(readings(seg), key=lambda r: r.prior)
    assert [k for k, v in enumerate(best.values) if v is None] == [5, 6]
    assert "inferred_blank" in best.flags


def test_a_stray_mark_read_as_a_figure_is_dropped_by_position():
    columns = [211 + 87 * k for k in range(7)]
    xs = [*columns[:3], columns[3] - 40, *columns[3:]]  # a speck between the 3rd and 4th columns
    seg = Segment([f"c{k}" for k in range(7)], _boxed_zeros(xs), ["count"] * 7)
    best = max(readings(seg), key=lambda r: r.prior)
    assert 3 not in best.tokens and len(best.tokens) == 7 and "extra_values" in best.flags


def _seed_lines(name: str):
    text = (Path(__file__).resolve().parents[2] / "datasets" / "seeds" / name).read_text()
    return split_lines(text)


@pytest.mark.parametrize("lost_figures", [False, True])
def test_a_group_header_ocr_garbled_with_a_stray_figure_is_not_a_row_label(lost_figures):
    """OCR garbled six row labels around "(四)无法提供" and read a stray "1" after that header (the
    enumerator of its first row). The header's bracketed enumerator places it: the rows before it
    and after it are each counted on their own, so the header never takes a row's place. When a
    row after it was not read at all, those rows cannot be placed and stay unfound (review)."""
    from extraction.document import DocumentState
    from extraction.document import Field as F
    from extraction.layout.baseline import BaselineLabeler

    garbled = {
        "6. 属于四类过程性信息": "6.施于的关过程性统您",
        "7. 属于行政执法案卷": "离于行政扶法",
        "8. 属于行政查询事项": "其于行政告面",
        "(四) 无法提供": "(四) 无注提供",
        "1. 本机关不掌握相关政府信息": "L. 本机关不掌据相美点府优照",
        "2. 没有现成信息需要另行制作": "2. 注有理成优息",
        "3. 补正后申请内容仍不明确": "3. 补正总中表内",
    }
    doc = DocumentState(name="x", sha256="", kind="txt")
    doc.lines = _seed_lines("004_bff1b9e23c617db0.txt")
    for line in doc.lines:
        texts = [f.text.strip() for f in line.fields]
        if "(四) 无法提供" in texts:
            k = texts.index("(四) 无法提供")
            line.fields.insert(k + 1, F("1"))
        for f in line.fields:
            f.text = garbled.get(f.text.strip(), f.text)
    if lost_figures:  # OCR read nothing of the row 3.补正后申请内容仍不明确
        doc.lines = [line for line in doc.lines if "3. 补正总中表内" not in [f.text for f in line.fields]]
    doc.tokens = tokenize(doc.lines)
    BaselineLabeler()(doc)
    rows = {a.key: doc.tokens[a.token].text for a in doc.anchors if a.kind == "row"}
    assert rows["applications.denied.process_information"] == "6.施于的关过程性统您"
    assert rows["applications.denied.administrative_query"] == "其于行政告面"
    assert "(四) 无注提供" not in rows.values()
    if lost_figures:
        assert "applications.unavailable.not_held" not in rows
    else:
        assert rows["applications.unavailable.not_held"] == "L. 本机关不掌据相美点府优照"
        assert rows["applications.unavailable.unclear"] == "3. 补正总中表内"
    assert rows["applications.not_processed.petition"].endswith("信访举报投诉类申请")


def _compositions(digits: str, pieces: int, max_len: int = 8):
    """Every cut of one digit run into `pieces` pieces, shortest first piece first (no leading zeros)."""
    if pieces == 1:
        if len(digits) <= max_len and (len(digits) == 1 or digits[0] != "0"):
            yield [digits]
        return
    for length in range(1, min(len(digits) - pieces + 1, max_len) + 1):
        head = digits[:length]
        if length > 1 and head[0] == "0":
            break
        for rest in _compositions(digits[length:], pieces - 1, max_len):
            yield [head, *rest]


def _cuts(texts: list[str], n: int):
    """Every cut of the runs into n cells (each run ≥ 1 cell)."""
    if not texts:
        if n == 0:
            yield []
        return
    for k in range(1, min(len(texts[0]), n - len(texts) + 1) + 1):
        for head in _compositions(texts[0], k):
            for rest in _cuts(texts[1:], n - k):
                yield head + rest


def _reference_cuts(texts, n, checks, limit, max_violations=0, cap=None):
    """What `split_runs` means, by trying every cut: each run ≥ 1 cell, in order of the piece
    lengths; the ones that break at most `max_violations` rules (with `cap`: that add up to it; a
    row whose last cell is the total of the others: that satisfy the total, shortest total first)."""
    cuts = sorted(_cuts(list(texts), n), key=lambda c: [len(p) for p in c])
    total = [(n - 1, 1)] + [(i, -1) for i in range(n - 1)]
    if cap is not None:
        keep = [c for c in cuts if sum(map(int, c)) == cap]
    elif max_violations == 0 and n >= 3 and any(sorted(t) == sorted(total) and last == n - 1 for last, t in checks):
        keep = [c for c in cuts if sum(map(int, c[:-1])) == int(c[-1]) and len(c[-1]) <= 8]
        keep.sort(key=lambda c: len(c[-1]))
    else:
        keep = [
            c
            for c in cuts
            if sum(abs(sum(int(c[i]) * k for i, k in terms)) > 1e-6 for _, terms in checks) <= max_violations
        ]
    return keep[:limit]


def test_split_runs_gives_every_cutting_in_order():
    """The searches' shortcuts (a digit per cell, branches that reach no total searched once)
    give the cuttings that trying every cut gives, in the same order: random table 三 and 四 rows
    and table 二 rows, glued whole or in pieces, with and without a broken total."""
    import random

    from extraction.document import Token

    lay = layout("2021")
    hard = list(hard_constraints(lay))
    shapes = [
        inside_checks(lay.row("applications.new").cell_ids, hard),  # 7 cells, the last the total
        inside_checks(lay.table("appeals").cell_ids, hard),  # 15 cells, three totals
        [],  # table 二: 3 cells, no rule inside
    ]
    rng = random.Random(11)
    tried = 0
    for _ in range(600):
        checks = rng.choice(shapes)
        n = {0: 3}.get(len(checks), 7 if len(checks) == 1 else 15)
        values = [rng.choice([0, 0, 0, 1, 2, 5, 10, 12, 31, 100, 3119]) for _ in range(n)]
        for last, terms in checks:
            if rng.random() < 0.85:
                values[last] = -sum(values[i] * k for i, k in terms if i != last)
        digits = "".join(map(str, values))
        cuts = sorted(rng.sample(range(1, len(digits)), min(len(digits) - 1, rng.randint(0, 2))))
        texts = [digits[i:j] for i, j in zip([0, *cuts], [*cuts, len(digits)], strict=True)]
        if len(texts) > n or sum(len(t) for t in texts) > n + 5:
            continue
        runs = [Token(i, "number", t, 0, 0) for i, t in enumerate(texts)]
        for limit, violations in ((20_000, 0), (3, 0), (2_000, 1)):
            got = split_runs(runs, n, ["count"] * n, checks, limit, max_violations=violations)
            assert got == _reference_cuts(texts, n, checks, limit, violations), (texts, limit, violations)
        cap = sum(values) - rng.choice([0, 0, 1])
        got = split_runs(runs, n, ["count"] * n, [], 500, cap=cap)
        assert got == _reference_cuts(texts, n, [], 500, cap=cap), (texts, cap)
        tried += 1
    assert tried > 200


def test_small_and_large_steps_of_the_solver_choose_alike(monkeypatch):
    """A step of the programme runs in plain Python when small and with numpy when large; both
    settle ties alike, so forcing every step through numpy changes no choice (random tables with
    many equal priors, so that ties are common)."""
    import random

    from extraction.reconstruct import solver as solver_module
    from extraction.reconstruct.solver import JointSolver, Reading
    from extraction.schema.rules import Constraint

    rng = random.Random(3)
    for _ in range(80):
        rows, cols = rng.randint(2, 6), rng.randint(2, 4)
        cells = [[f"t.r{r}.c{c}" for c in range(cols)] for r in range(rows)]
        hard = [
            Constraint(f"row{r}", "error", "eq", (cells[r][-1],), tuple(cells[r][:-1]), "", "") for r in range(rows)
        ] + [
            Constraint(f"col{c}", "error", "eq", (cells[-1][c],), tuple(cells[r][c] for r in range(rows - 1)), "", "")
            for c in range(cols)
        ]
        segments = []
        for r in range(rows):
            readings_ = [
                Reading(
                    values=tuple(rng.choice([0, 1, 2, None]) for _ in range(cols)),
                    prior=-rng.choice([0.0, 0.5]),
                    tokens=(None,) * cols,
                    texts=("",) * cols,
                )
                for _ in range(rng.randint(1, 12))
            ]
            segments.append(Segment(cells=cells[r], slots=[], kinds=["count"] * cols, readings=readings_))
        banned = {0: {0}} if len(segments[0].readings) > 1 else {}
        small = JointSolver(segments, hard).solve(banned)
        monkeypatch.setattr(solver_module, "SMALL_STEP", 0)
        large = JointSolver(segments, hard).solve(banned)
        monkeypatch.undo()
        assert (small.choice, small.violations, small.prior) == (large.choice, large.violations, large.prior)


def _slots(text: str):
    return [t for t in tokenize(split_lines(text)) if t.kind in ("number", "blank")]


def test_a_row_printed_cell_by_cell_has_one_reading():
    """Issue 16: a delimited row (tabs, Markdown pipes, HTML/DOCX cells) that prints its blank cell
    as an empty cell says where each figure stands. The readings that move the blank among the
    zeros, or cut a figure in two, only tied with it under the sums and sent right cells to review
    as `ambiguous`."""
    seg = Segment([f"c{k}" for k in range(5)], _slots("0\t0\t\t0\t0"), ["count"] * 5)
    found = readings(seg)
    assert [r.values for r in found] == [(0, 0, None, 0, 0)]
    # a figure alone in its cell is one figure, not 16 | 22 (table 二 has no sum to decide)
    seg = Segment(["a", "b", "c"], _slots("1622\t\t7"), ["count"] * 3)
    assert [r.values for r in readings(seg)] == [(1622, None, 7)]


def test_a_page_row_with_an_empty_cell_keeps_its_other_readings():
    """On a page (a box, OCR) an empty cell may be a figure the reader missed: not one reading."""
    import dataclasses

    slots = [
        dataclasses.replace(t, page=1, bbox=(10.0 * i, 0.0, 10.0 * i + 5, 5.0))
        for i, t in enumerate(_slots("0\t0\t\t0\t0"))
    ]
    seg = Segment([f"c{k}" for k in range(5)], slots, ["count"] * 5)
    assert len(readings(seg)) > 1


def test_a_glued_signed_change_is_cut_not_kept_whole():
    """Issue 16: 「行政处罚1429+18231338」 (2019: 上一年项目数量 | 本年增/减 | 处理决定数量, glued). The
    reading that keeps "+18231338" whole and guesses a dropped blank paid no length prior while
    the cuttings did, so it won (a change of 18 million, decisions blank) with nothing in review."""
    seg = Segment(["a", "b", "c"], _tokens("行政处罚1429+18231338"), ["count", "signed_count", "count"])
    best = max(readings(seg), key=lambda r: r.prior)
    assert best.values == (1429, 1823, 1338)
    assert "split_digits" in best.flags


def test_aligned_columns_leave_no_guessed_blank():
    """Issue 16: a space-aligned row whose figures each stand clearly in one column (`seg.grid`
    learned from the full rows) has its blanks where the columns say; a blank guessed elsewhere
    among the zeros contradicts the layout and made the row `ambiguous`."""
    row = _slots("本年新收      0     0           0     0")
    seg = Segment([f"c{k}" for k in range(5)], row, ["count"] * 5)
    seg.grid = [(14.0, 15.0), (20.0, 21.0), (26.0, 27.0), (32.0, 33.0), (38.0, 39.0)]
    found = readings(seg)
    assert all("inferred_blank" not in r.flags for r in found)
    assert [r.values for r in found if "aligned_blank" in r.flags] == [(0, 0, None, 0, 0)]


def test_empty_cells_around_a_printed_row_are_not_its_own():
    """The row's slots may hold empty cells that are not its own (an empty label column before it,
    the next row's label cells after it, as Markdown and one-value-a-line text print them): its n
    cells are the one run of n slots that holds every figure. Empty slots at both ends leave the
    run open: then the row keeps its other readings, and the sums' ties send it to review."""
    seg = Segment([f"c{k}" for k in range(4)], _slots("\t0\t7\t\t0\t\t"), ["count"] * 4)
    assert [r.values for r in readings(seg)] == [(0, 7, None, 0)]
    seg = Segment([f"c{k}" for k in range(4)], _slots("\t0\t7\t0\t"), ["count"] * 4)
    assert len(readings(seg)) > 1


def test_a_table_row_s_cells_are_on_its_own_line():
    """A Markdown row with an empty label column before its empty first cell, and the next row's
    empty label cell after it: the figures stand on one line, so the row's cells are that line's
    (before, the next line's empty cell left two runs open and the sums' ties sent it to review)."""
    seg = Segment([f"c{k}" for k in range(4)], _slots("|  |  | 7 | 0 | 0 |\n|  | 下一行 |"), ["count"] * 4)
    assert [r.values for r in readings(seg)] == [(None, 7, 0, 0)]


def _placed(text: str, line: int, col: float):
    import dataclasses

    (tok,) = _tokens(text)
    return dataclasses.replace(tok, line=line, col=(col, col + len(text)))


def test_rows_sharing_a_line_teach_no_column_grid():
    """Issue 16: in one-line text every row stands on the same line, so a figure's display column
    says where it is on that line, not under which head. Extents learned from such rows placed
    「政府集中采购201004.4」 (20 | 1004.4 glued) whole in the amount column and left the item count
    blank, both out of review (`aligned_blank` at 0.9993). Rows on lines of their own still teach
    their columns to a row that prints fewer figures."""
    from extraction.reconstruct.assemble import _grids_from_rows

    def seg(*toks):
        return Segment(["a", "b"], list(toks), ["count", "amount"])

    shared = [seg(_placed("3", 0, 10), _placed("12.5", 0, 14)), seg(_placed("4", 0, 40), _placed("8", 0, 44))]
    taker = seg(_placed("201004.4", 0, 70))
    _grids_from_rows([*shared, taker])
    assert taker.grid is None

    own = [seg(_placed("3", 1, 10), _placed("12.5", 1, 20)), seg(_placed("4", 2, 10), _placed("8", 2, 21))]
    taker = seg(_placed("7.5", 3, 20))
    _grids_from_rows([*own, taker])
    assert taker.grid == [(10.0, 11.0), (20.0, 24.0)]
