"""`gongkai extract`: batches, outputs, bad input with distinct exit codes, nothing lost."""

from __future__ import annotations

import json

from click.testing import CliRunner

from gongkai.cli import main
from tests.conftest import labeled_reports

SEED = labeled_reports()[0][0]


def _run(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_extract_writes_json_csv_xlsx(tmp_path):
    res = _run(["extract", str(SEED), "--out", str(tmp_path), "--format", "csv", "--format", "xlsx", "--quiet"])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / f"{SEED.stem}.json").read_text(encoding="utf-8"))
    assert doc["schema"] == "gov-disclosure-report"
    assert len(doc["cells"]) == 200
    assert (tmp_path / f"{SEED.stem}.csv").read_text(encoding="utf-8-sig").startswith("cell,table,row")
    assert (tmp_path / f"{SEED.stem}.xlsx").stat().st_size > 0


def test_bad_inputs_get_codes_and_the_rest_is_extracted(tmp_path):
    bad = tmp_path / "in"
    bad.mkdir()
    (bad / "empty.txt").write_bytes(b"")
    (bad / "junk.txt").write_bytes(bytes(range(256)) * 40)
    (bad / "other.txt").write_text("今天天气很好，我们去公园散步吧。", encoding="utf-8")
    (bad / "notables.txt").write_text(
        "某局2023年政府信息公开工作年度报告\n一、总体情况\n做了很多工作。", encoding="utf-8"
    )
    (bad / "elf.txt").write_bytes(b"\x7fELF" + b"\x00" * 100)
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["extract", str(bad), str(SEED), "--out", str(out), "--quiet"])
    assert res.exit_code == 76  # several kinds of bad input
    assert (out / f"{SEED.stem}.json").exists()
    summary = {item["input"].rsplit("/", 1)[-1]: item for item in json.loads((out / "_batch.json").read_text())}
    assert summary["empty.txt"]["code"] == "empty_input"
    assert summary["junk.txt"]["code"] == "unsupported_input"
    assert summary["elf.txt"]["code"] == "unsupported_input"
    assert summary["other.txt"]["code"] == "not_a_report"
    assert summary["notables.txt"]["code"] == "tables_missing"
    assert summary[SEED.name]["status"] == "ok"
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("gongkai: ") and ": " in ln[9:]]
    assert len([ln for ln in lines if "_input" in ln or "not_a_report" in ln or "tables_missing" in ln]) == 5


def test_single_bad_input_exit_code(tmp_path):
    empty = tmp_path / "e.txt"
    empty.write_bytes(b"")
    res = CliRunner().invoke(main, ["extract", str(empty), "--out", str(tmp_path / "o"), "--quiet"])
    assert res.exit_code == 66


def test_oversize_input_refused(tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * 2048)
    res = CliRunner().invoke(
        main, ["extract", str(big), "--out", str(tmp_path / "o"), "--max-bytes", "1024", "--quiet"]
    )
    assert res.exit_code == 69


def test_encodings(tmp_path, pipeline):
    text = SEED.read_text(encoding="utf-8")
    for enc in ("gb18030", "utf-16", "utf-16-le", "utf-8-sig"):
        data = text.encode(enc)
        result = pipeline.extract(data, f"x-{enc}.txt")
        assert result.cells["applications.new.total"].value is not None, enc


def test_50_mb_of_text_is_refused_quickly(tmp_path):
    big = tmp_path / "big.txt"
    line = ("政府信息公开工作年度报告，这是一段很长的文字。" * 8 + "\n").encode()
    with big.open("wb") as fh:
        for _ in range(50 * 1024 * 1024 // len(line) + 1):
            fh.write(line)
    res = CliRunner().invoke(main, ["extract", str(big), str(SEED), "--out", str(tmp_path / "o"), "--quiet"])
    assert res.exit_code == 69
    assert "input_too_large" in res.stderr
    assert (tmp_path / "o" / f"{SEED.stem}.json").exists()


def _batch_folder(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for source, _truth in labeled_reports():
        (folder / source.name).write_bytes(source.read_bytes())
    (folder / "empty.txt").write_bytes(b"")
    (folder / "other.txt").write_text("今天天气很好，我们去公园散步吧。", encoding="utf-8")
    return folder


def _outputs(out):
    """Every file written, with the output folder's own path taken out of _batch.json."""
    return {p.name: p.read_bytes().replace(str(out).encode(), b"OUT") for p in sorted(out.iterdir())}


def test_jobs_give_the_same_results_as_one_process(tmp_path):
    folder = _batch_folder(tmp_path)
    runs = {}
    for jobs in ("1", "2", "3"):
        out = tmp_path / f"out{jobs}"
        res = CliRunner().invoke(main, ["extract", str(folder), "--out", str(out), "--quiet", "--jobs", jobs])
        errors = [ln for ln in res.stderr.splitlines() if ln.startswith(f"gongkai: {folder}")]  # one per bad input
        runs[jobs] = (res.exit_code, errors, _outputs(out))
    assert runs["1"][0] == 76  # empty_input and not_a_report
    assert len(runs["1"][1]) == 2
    assert len(runs["1"][2]) == len(labeled_reports()) + 1  # a JSON per report and _batch.json
    assert runs["2"] == runs["1"] == runs["3"]
    batch = json.loads(runs["2"][2]["_batch.json"])
    assert [item["input"].rsplit("/", 1)[-1] for item in batch] == sorted(p.name for p in folder.iterdir())


def test_jobs_default_to_the_cores(monkeypatch, tmp_path):
    import extraction.cli as cli

    seen = []
    real = cli._outcomes
    monkeypatch.setattr(
        cli,
        "_outcomes",
        lambda options, tasks, jobs, pipeline=None: seen.append(jobs) or real(options, tasks, 1, pipeline),
    )
    folder = _batch_folder(tmp_path)
    CliRunner().invoke(main, ["extract", str(folder), "--out", str(tmp_path / "o"), "--quiet"])
    assert seen == [min(cli.default_jobs(), len(list(folder.iterdir())))]
    assert (
        CliRunner().invoke(main, ["extract", str(folder), "--out", str(tmp_path / "o"), "--jobs", "0"]).exit_code == 2
    )


def test_a_worker_that_dies_loses_only_its_input(monkeypatch, tmp_path):
    """A worker killed mid-input (out of memory, a crash in a native library): that input gets an
    internal error, every other input its result, as with one process."""
    import os

    from extraction.pipeline import Pipeline

    folder = _batch_folder(tmp_path)
    (folder / "crash.txt").write_bytes(SEED.read_bytes())
    real = Pipeline.extract_path

    def dying(self, path):
        if str(path).endswith("crash.txt"):
            os._exit(9)  # the worker process vanishes, as when the kernel kills it
        return real(self, path)

    monkeypatch.setattr(Pipeline, "extract_path", dying)  # the workers are forked: they inherit it
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["extract", str(folder), "--out", str(out), "--quiet", "--jobs", "2"])
    assert res.exit_code == 76
    batch = {item["input"].rsplit("/", 1)[-1]: item for item in json.loads((out / "_batch.json").read_text())}
    assert batch["crash.txt"]["code"] == "internal_error"
    assert "died" in batch["crash.txt"]["message"]
    assert [name for name, item in batch.items() if item["status"] == "ok"] == [
        source.name for source, _ in sorted(labeled_reports(), key=lambda p: p[0].name)
    ]
    assert "gongkai: " + str(folder / "crash.txt") + ": internal_error" in res.stderr


def test_json_text_is_json_dumps_byte_for_byte(pipeline):
    """The fast writer gives exactly the text json.dumps(indent=1) gives: real results, and values
    where the two encoders differ (floats with exponents, big ints, lone surrogates) or agree."""
    import random

    from extraction.cli import json_text

    docs = [pipeline.extract_path(source).to_json_dict() for source, _ in labeled_reports()[:3]]
    rng = random.Random(5)
    floats = [3.7e-05, 1e-4, 0.5, 315.270005, 1e16, 2.5e17, -1e-7, float("nan"), float("inf"), 0.0, -0.0, 100.0]
    floats += [rng.uniform(-1e6, 1e6) for _ in range(300)] + [round(rng.uniform(0, 99), 6) for _ in range(300)]
    docs += [{"v": f, "l": [f, {"x": f}]} for f in floats]
    docs += [
        {"big": 2**70, "neg": -(2**63) - 1, "ok": 2**62},
        {"s": 'quote " back \\ ctrl \x01\x1f del \x7f sep \u2028 é 公开', "e": {}, "a": [], "n": None, "t": True},
        {"surrogate": "\ud800"},
        {"tuple": (1, 2), 3: "int key"},
    ]
    for doc in docs:
        assert json_text(doc) == json.dumps(doc, ensure_ascii=False, indent=1)


def test_cross_year_checks_in_a_batch_at_any_jobs(tmp_path):
    """Two reports of one body for consecutive years (洪泽区 2023 and 2024): the later result gets
    the cross-year checks, the same with one process or several."""
    from tests.conftest import DATASETS

    texts = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}"
        inputs = [str(DATASETS / "real" / "real-012.txt"), str(DATASETS / "real" / "real-013.txt")]
        res = CliRunner().invoke(main, ["extract", *inputs, "--out", str(out), "--quiet", "--jobs", jobs])
        assert res.exit_code == 0, res.output
        later = json.loads((out / "real-013.json").read_text(encoding="utf-8"))
        assert any(c["rule"].startswith("cross_year.") for c in later["checks"])
        earlier = json.loads((out / "real-012.json").read_text(encoding="utf-8"))
        assert not any(c["rule"].startswith("cross_year.") for c in earlier["checks"])
        texts[jobs] = (out / "real-013.json").read_text(encoding="utf-8")
    assert texts["1"] == texts["2"]
