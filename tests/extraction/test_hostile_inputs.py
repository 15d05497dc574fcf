"""Hostile and broken inputs (issue 6): each ends in a typed error or a (partial) result, in time,
within 1.5 GiB, and the worker that read it reads the next valid report.

The cases are `tests/hostile_corpus.py` (generated into a temporary folder). They run one after the
other in one long-lived child process (`tests/hostile_worker.py`) that calls the Pipeline the way
the service's worker does; after every case the same worker extracts a valid report. Per case the
table printed at the end gives the outcome, the seconds and the job's own peak resident memory
(the kernel's high-water mark, reset before each job). A case that runs past its time limit or
past 3 GiB is killed (and fails); a fresh worker takes the next case.

    .venv/bin/pytest tests/extraction/test_hostile_inputs.py -m "not slow"     # the quick ones (no OCR)
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.hostile_corpus import _gen_cases, build_corpus, valid_report

ROOT = Path(__file__).resolve().parents[2]
PEAK_LIMIT_MIB = 1536  # 1.5 GiB
KILL_RSS_MIB = 3072  # a runaway job is stopped here, before it hurts the machine
MARK = b"@@result "

CASES = [(name, slow) for _fname, name, _w, _e, _l, _n, slow in _gen_cases()]


class Worker:
    """The child process (tests/hostile_worker.py) and a watchdog over its memory."""

    def __init__(self, log: Path) -> None:
        self.log = open(log, "ab")  # noqa: SIM115
        env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.hostile_worker"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=env,
            start_new_session=True,
        )
        self.buf = b""
        self.killed_for_memory = False
        self.max_rss_mib = 0.0
        self._stop = threading.Event()
        threading.Thread(target=self._watch, daemon=True).start()
        ready = self._answer(120)
        assert ready and ready.get("ready"), "the hostile worker did not start"

    def _watch(self) -> None:
        status = f"/proc/{self.proc.pid}/status"
        while not self._stop.wait(0.05):
            try:
                with open(status) as f:
                    text = f.read()
            except OSError:
                return
            for line in text.splitlines():
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) / 1024
                    self.max_rss_mib = max(self.max_rss_mib, rss)
                    if rss > KILL_RSS_MIB:
                        self.killed_for_memory = True
                        self.kill()
                        return

    def _answer(self, timeout: float) -> dict | None:
        end = time.monotonic() + timeout
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        try:
            while True:
                while b"\n" in self.buf:
                    line, self.buf = self.buf.split(b"\n", 1)
                    if line.startswith(MARK):
                        return json.loads(line[len(MARK) :])
                left = end - time.monotonic()
                if left <= 0 or not sel.select(left):
                    return None
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    return None  # the worker died
                self.buf += chunk
        finally:
            sel.close()

    def run(self, path: Path, name: str, timeout: float) -> dict:
        t0 = time.monotonic()
        try:
            self.proc.stdin.write(json.dumps({"path": str(path), "name": name}).encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return {"outcome": "worker_dead", "seconds": 0.0, "peak_mib": 0.0, "detail": "the worker was gone"}
        answer = self._answer(timeout)
        wall = time.monotonic() - t0
        if answer is None:
            alive = self.proc.poll() is None
            self.kill()
            if self.killed_for_memory:
                outcome, detail = "killed_memory", f"over {KILL_RSS_MIB} MiB resident"
            elif alive:
                outcome, detail = "timeout", f"no answer within {timeout:g} s"
            else:
                outcome, detail = "worker_died", f"exit status {self.proc.returncode}"
            return {"outcome": outcome, "seconds": round(wall, 3), "peak_mib": round(self.max_rss_mib, 1), "detail": detail}
        answer["wall"] = round(wall, 3)
        return answer

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def close(self) -> float:
        """Stop the worker; its lifetime peak resident memory (MiB) from the kernel's accounting."""
        self._stop.set()
        maxrss = self.max_rss_mib
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                _pid, _status, usage = os.wait4(self.proc.pid, 0)
                maxrss = max(maxrss, usage.ru_maxrss / 1024)
                self.proc.returncode = 0
            except ChildProcessError:
                pass
        self.log.close()
        return maxrss


class Built:
    """The corpus, built once for this module."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        t0 = time.monotonic()
        self.list = build_corpus(directory / "corpus")
        self.seconds = time.monotonic() - t0
        self.cases = {c.name: c for c in self.list}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    return Built(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="module")
def corpus(built: Built) -> dict:
    return built.cases


class Harness:
    def __init__(self, built: Built) -> None:
        self.directory = built.directory
        self.cases = built.cases
        self.build_seconds = built.seconds
        self.valid = valid_report(built.directory)
        self.worker: Worker | None = None
        self.rows: list[tuple] = []
        self.worker_peaks: list[float] = []

    def get_worker(self) -> Worker:
        if self.worker is None or not self.worker.alive():
            if self.worker is not None:
                self.worker_peaks.append(self.worker.close())
            self.worker = Worker(self.directory / "worker.log")
        return self.worker

    def close(self) -> None:
        if self.worker is not None:
            self.worker_peaks.append(self.worker.close())
            self.worker = None


@pytest.fixture(scope="module")
def harness(built: Built, request):
    h = Harness(built)
    yield h
    h.close()
    # the whole table (with totals) beside the corpus; each row is also in the run's summary (conftest)
    (h.directory / "table.txt").write_text("\n".join(table(h)) + "\n", encoding="utf-8")


HEADER = f"{'case':34s} {'expected':42s} {'outcome':20s} {'s':>6s} {'peak MiB':>9s}  next valid job"


def row(name: str, expect: str, outcome: str, seconds: float, peak: float, canary: str) -> str:
    return f"{name:34s} {expect:42s} {outcome:20s} {seconds:6.2f} {peak:9.0f}  {canary}"


def table(h: Harness) -> list[str]:
    out = [HEADER]
    for name, expect, outcome, seconds, peak, canary, _detail in h.rows:
        out.append(row(name, expect, outcome, seconds, peak, canary))
    if h.rows:
        total = sum(r[3] for r in h.rows)
        out.append(
            f"{len(h.rows)} cases in {total:.1f} s (corpus built in {h.build_seconds:.1f} s); "
            f"largest job peak {max(r[4] for r in h.rows):.0f} MiB; worker lifetime peak "
            f"{max(h.worker_peaks or [0]):.0f} MiB"
        )
    return out


def test_corpus_is_complete(built: Built):
    cases = built.list
    names = {c.name for c in cases}
    assert built.seconds < 30  # a few seconds on an idle machine
    assert len(cases) >= 40
    issue_items = [
        "empty_0_bytes", "pdf_header_only", "truncated_xref", "zip_named_pdf", "elf_named_pdf", "login_page_named_pdf",
        "pdf_zip_polyglot", "encrypted_rc4_128_user_password", "encrypted_rc4_128_empty_password",
        "encrypted_aes_128_user_password", "encrypted_aes_128_empty_password", "encrypted_aes_256_user_password",
        "encrypted_aes_256_empty_password", "zero_pages", "pages_10000", "page_200x200_inch", "jbig2_pixel_bomb",
        "png_pixel_bomb", "tiff_pixel_bomb", "deeply_nested_objects", "docx_zip_bomb", "html_nesting_1gib",
        "text_gb18030", "text_utf16le_bom", "text_traditional",
    ]
    assert not [n for n in issue_items if n not in names]
    for c in cases:
        assert c.path.exists() and c.expect and c.time_limit_s > 0 and c.note
    # the big ones take no memory to make: sparse
    big = [c for c in cases if c.path.stat().st_size > 50 * 1024 * 1024]
    assert big and all(c.path.stat().st_blocks * 512 < 16 * 1024 * 1024 for c in big)


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if slow else n for n, slow in CASES]
)
def test_hostile_input(harness: Harness, name: str, record_property):
    case = harness.cases[name]
    worker = harness.get_worker()
    answer = worker.run(case.path, case.upload_name, timeout=case.time_limit_s + 30)
    # the same worker (or, when it had to be killed, its replacement) reads a valid report next
    canary = harness.get_worker().run(harness.valid, "report.txt", timeout=60)
    figures = (name, ",".join(sorted(case.expect)), answer["outcome"], answer["seconds"], answer["peak_mib"],
               canary["outcome"])
    harness.rows.append((*figures, answer.get("detail", "")))
    record_property(f"summary:hostile inputs: {HEADER}", row(*figures))
    assert answer["outcome"] in case.expect, f"{name}: {answer}"
    assert answer["seconds"] <= case.time_limit_s, f"{name}: {answer['seconds']} s > {case.time_limit_s} s"
    assert answer["peak_mib"] <= PEAK_LIMIT_MIB, f"{name}: peak {answer['peak_mib']} MiB"
    assert canary["outcome"] == "ok", f"the next valid job after {name} failed: {canary}"


# ---------------------------------------------------------------------------------------------
# The limits and the readers behind the outcomes above, in process


def _cells_wrong(result, truth: dict) -> dict:
    return {cid: (v, result.cells[cid].value) for cid, v in truth["cells"].items() if result.cells[cid].value != v}


@pytest.mark.parametrize(
    "name",
    ["encrypted_aes_256_empty_password", "encrypted_aes_128_empty_password", "encrypted_rc4_128_empty_password",
     "text_traditional", "text_big5_traditional", "html_big5_traditional", "text_gb18030", "text_utf16be_no_bom",
     "text_nul_padded", "html_gb2312_meta", "pdf_zip_polyglot"],
)
def test_readable_cases_give_every_cell(pipeline, corpus, name):
    from tests.hostile_corpus import report_truth

    case = corpus[name]
    result = pipeline.extract_path(case.path)
    assert not _cells_wrong(result, report_truth())
    if "traditional" in name:
        assert any("traditional" in w for w in result.warnings)
        assert result.report.agency == report_truth()["report"]["agency"]  # read as simplified


def test_traditional_map_round_trip():
    from extraction.ingest.hanzi import is_traditional, to_simplified
    from tests.hostile_corpus import report_text, to_traditional

    text = report_text()
    assert not is_traditional(text)
    assert is_traditional(to_traditional(text))
    assert to_simplified(to_traditional(text)) == text
    assert not is_traditional("政府信息公开工作年度报告 2023 年 台 后 里 系")  # characters both forms use


def test_text_decoding_edge_cases():
    from extraction.errors import EmptyInput, UnsupportedInput
    from extraction.ingest.text import decode_text
    from tests.hostile_corpus import report_text, to_traditional

    text = report_text()
    trad = to_traditional(text)
    assert decode_text(trad.encode("cp950")) == trad  # Big5, not its GB18030 misreading
    assert decode_text(text.encode("gb18030")) == text
    assert decode_text(text.encode() + bytes(4096)) == text  # NUL padding
    assert decode_text(text.encode("utf-16-le") + bytes(64)).rstrip("\x00") == text
    with pytest.raises(EmptyInput):
        decode_text(bytes(100) + b"")
    with pytest.raises(UnsupportedInput):
        decode_text(bytes(range(256)) * 20)


def test_flate_bomb_is_refused_before_pdfium(corpus):
    from extraction.errors import InputTooLarge
    from extraction.ingest.pdf import check_streams
    from tests.hostile_corpus import report_pdf

    check_streams(report_pdf(), 64 << 20)  # a real report passes
    data = corpus["content_stream_bomb"].path.read_bytes()
    t0 = time.monotonic()
    with pytest.raises(InputTooLarge):
        check_streams(data, 64 << 20)
    assert time.monotonic() - t0 < 2
    check_streams(data, 400 << 20)  # under a higher limit it passes
    with pytest.raises(InputTooLarge):
        check_streams(data, 400 << 20, total_limit=100 << 20)


def test_huge_page_is_rendered_within_the_limits():
    import pypdfium2 as pdfium

    from extraction.ingest.pdf import PageSpace, render_page
    from tests.hostile_corpus import one_page_pdf

    page = pdfium.PdfDocument(one_page_pdf(b"", media=b"[0 0 14400 14400]"))[0]
    space = PageSpace(page.get_cropbox(), page.get_rotation())
    image = render_page(page, space, dpi=200, max_pixels=50_000_000, max_side=3600)
    assert max(image.shape[:2]) <= 3600
    image = render_page(page, space, dpi=200, max_pixels=4_000_000)
    assert image.shape[0] * image.shape[1] <= 4_000_000


def test_page_image_pixels_are_checked_before_rendering(corpus):
    from extraction.errors import InputTooLarge
    from extraction.ingest import IngestOptions
    from extraction.ingest.pdf import PdfBackend

    with pytest.raises(InputTooLarge) as err:
        PdfBackend()(corpus["jbig2_pixel_bomb"].path.read_bytes(), "bomb.pdf", IngestOptions())
    assert "100,000×100,000" in err.value.message
    # the per-page megapixel limit is a setting: a small one refuses an ordinary page image too
    from PIL import Image

    from extraction.ingest.image import ImageBackend
    from tests.hostile_corpus import pil_bytes

    png = pil_bytes(Image.new("L", (2000, 1000), 255), "PNG")
    with pytest.raises(InputTooLarge):
        ImageBackend()(png, "page.png", IngestOptions(max_megapixels_per_page=1.5))


def test_document_time_budget(monkeypatch):
    from extraction.cli import exit_code
    from extraction.errors import TimeLimitExceeded
    from extraction.ingest import IngestOptions
    from extraction.ingest.image import DocumentClock
    from extraction.ingest.pdf import PdfBackend
    from extraction.pipeline import Pipeline
    from tests.hostile_corpus import report_pdf

    data = report_pdf()
    # out of time before the first page: a typed error
    with pytest.raises(TimeLimitExceeded) as err:
        PdfBackend()(data, "r.pdf", IngestOptions(max_document_seconds=1e-6))
    assert err.value.code == "time_limit_exceeded" and exit_code(err.value) == 77
    # out of time after page 2: the pages left fail, the result is partial
    calls = {"n": 0}

    def expired(self) -> bool:
        calls["n"] += 1
        return calls["n"] > 2

    monkeypatch.setattr(DocumentClock, "expired", expired)
    state = PdfBackend()(data, "r.pdf", IngestOptions())
    errors = {p.number: p.error for p in state.pages}
    assert errors[1] is None and errors[2] is None and errors[3].startswith("time_limit_exceeded")
    result = Pipeline().run(state)
    assert result.source.failed_pages == [3]


def test_page_time_limit_fails_the_page(corpus):
    from extraction.errors import TimeLimitExceeded
    from extraction.ingest import IngestOptions
    from extraction.ingest.image import ImageBackend
    from extraction.ocr.base import OcrOptions

    options = IngestOptions(ocr=OcrOptions(page_timeout_s=1e-4))
    with pytest.raises(TimeLimitExceeded):
        ImageBackend()(corpus["gif_blank"].path.read_bytes(), "page.gif", options)


def test_field_limit_guards_every_text_kind():
    from extraction.errors import InputTooLarge
    from extraction.ingest import IngestOptions, Ingestor

    ingest = Ingestor(IngestOptions(max_fields=1000))
    rows = "".join(f"<tr><td>{i}</td><td>{i}</td></tr>" for i in range(600))
    with pytest.raises(InputTooLarge):
        ingest(f"<html><body><table>{rows}</table></body></html>".encode(), "t.html")
    with pytest.raises(InputTooLarge):
        ingest(("1\t2\n" * 600).encode(), "t.txt")
    ingest(("1\t2\n" * 400).encode(), "t.txt")  # under it
