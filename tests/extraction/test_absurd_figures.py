"""Issue 18, finding 9: a digit run longer than any statutory figure is bad input for its row (the row
goes to review), never a defect (`internal_error: int too large to convert to float`)."""

from __future__ import annotations

from tests.conftest_service import SEEDS


def glued(run: str) -> bytes:
    lines = SEEDS[0].read_text(encoding="utf-8").split("\n")
    for i, line in enumerate(lines):
        if line.startswith("一、本年新收政府信息公开申请数量"):
            lines[i] = "一、本年新收政府信息公开申请数量\t" + run
            break
    else:
        raise AssertionError("the seed has no applications row")
    return "\n".join(lines).encode("utf-8")


def test_a_3000_digit_glued_run_sends_its_row_to_review():
    from extraction.pipeline import Pipeline, PipelineOptions
    from extraction.reconstruct.solver import MAX_FIGURE_DIGITS, parse_number

    assert parse_number("7" * (MAX_FIGURE_DIGITS + 1), "count") is None
    assert parse_number("1" * MAX_FIGURE_DIGITS, "amount") == int("1" * MAX_FIGURE_DIGITS)
    pipeline = Pipeline(PipelineOptions())
    result = pipeline.run(pipeline.ingest(glued("7" * 3000), "glued.txt")).to_json_dict()
    row = [cid for cid in result["cells"] if cid.startswith("applications.new.")]
    assert row and all(cid in result["review"] for cid in row)
    assert all(result["cells"][cid]["value"] is None for cid in row)
    # the other tables are still read
    assert len(result["cells"]) - len(result["review"]) > 50
