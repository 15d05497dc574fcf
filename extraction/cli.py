"""`gongkai extract`: the extractor's own command (the umbrella `gongkai` command line, gongkai/cli.py,
assembles it with the training, service and dataset commands), and the exit status of each error code."""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import NamedTuple

import click

from extraction.errors import GongkaiError, InputError, InputNotFound

# Files a folder walk picks up (explicitly named files are read whatever their name).
INPUT_SUFFIXES = {
    ".txt",
    ".md",
    ".markdown",
    ".html",
    ".htm",
    ".docx",
    ".pdf",
    ".png",
    ".jpg",
    ".jpeg",
    ".tif",
    ".tiff",
}
EXIT_MIXED_BAD_INPUT = 76
EXIT_USAGE = 2
# The exit status of each error code (README: exit codes); sysexits where one fits.
EXIT_CODES: dict[str, int] = {
    "bad_input": 65,  # EX_DATAERR
    "empty_input": 66,
    "unsupported_input": 67,
    "undecodable_text": 68,
    "input_too_large": 69,
    "internal_error": 70,  # EX_SOFTWARE
    "not_a_report": 71,
    "tables_missing": 72,
    "corrupt_input": 73,
    "encrypted_input": 74,
    "input_not_found": 75,
    "time_limit_exceeded": 77,
    "ocr_unavailable": 78,  # EX_CONFIG
}


def exit_code(exc: GongkaiError) -> int:
    """The exit status of a typed error: by its code; another code is bad input (65) or our defect (70)."""
    return EXIT_CODES.get(exc.code, EXIT_CODES["bad_input"] if isinstance(exc, InputError) else EXIT_CODES["internal_error"])


def collect_inputs(paths: tuple[str, ...]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            out.extend(
                sorted(
                    f
                    for f in path.rglob("*")
                    if f.is_file()
                    and f.suffix.lower() in INPUT_SUFFIXES
                    and not any(part.startswith(".") for part in f.relative_to(path).parts)
                )
            )
        else:
            out.append(path)
    return out


def _output_stems(inputs: list[Path]) -> list[str]:
    """`<input stem>`, made unique when two inputs share a stem (a.txt and a.html)."""
    counts = Counter(p.stem for p in inputs)
    used: set[str] = set()
    stems = []
    for p in inputs:
        stem = p.stem if counts[p.stem] == 1 else f"{p.stem}.{p.suffix.lstrip('.') or 'noext'}"
        base, k = stem, 2
        while stem in used:
            stem, k = f"{base}-{k}", k + 1
        used.add(stem)
        stems.append(stem)
    return stems


@click.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder for the results")
@click.option(
    "--format",
    "formats",
    type=click.Choice(["json", "csv", "xlsx"]),
    multiple=True,
    help="Also write a flat table (one row per cell); JSON is always written",
)
@click.option(
    "--labeler",
    default="auto",
    show_default=True,
    help="Layout labeler: auto (the layout model on OCR'd pages, the baseline elsewhere), baseline, model or module:Class",
)
@click.option("--review-threshold", type=float, default=0.8, show_default=True)
@click.option("--max-bytes", type=int, default=50 * 1024 * 1024, show_default=True, help="Refuse larger inputs")
@click.option("--quiet", is_flag=True, help="No progress bar")
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    help="Inputs extracted side by side, each in a worker process [default: the machine's cores]; 1 runs in this "
    "process. The results are the same for any number",
)
def extract(
    inputs: tuple[str, ...],
    out_dir: str,
    formats: tuple[str, ...],
    labeler: str,
    review_threshold: float,
    max_bytes: int,
    quiet: bool,
    jobs: int | None,
) -> None:
    """Extract every INPUT (files or folders) into OUT/<input stem>.json.

    Exit status: 0 when every input was extracted; for bad input the error's code (65–75, see
    README), or 76 when inputs failed for different reasons. Other inputs are still extracted.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from extraction.ingest import IngestOptions
    from extraction.pipeline import Pipeline, PipelineOptions
    from extraction.rules import cross_report_checks

    files = collect_inputs(inputs)
    if not files:
        click.echo("gongkai: no inputs found", err=True)
        sys.exit(EXIT_CODES[InputNotFound.code])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    options = PipelineOptions(
        labeler=labeler, review_threshold=review_threshold, ingest=IngestOptions(max_bytes=max_bytes)
    )
    pipeline = Pipeline(options)  # a bad --labeler fails here, before any worker starts
    failures: list[tuple[Path, int]] = []
    done: dict[str, tuple[str, int] | None] = {}  # stem → (agency, year) of each result written
    summary: list[dict] = []
    stems = _output_stems(files)
    tasks = [_Task(path, stem, out, formats) for path, stem in zip(files, stems, strict=True)]
    # Workers start (fork) before the progress bar's thread does.
    outcomes = _outcomes(options, tasks, min(jobs or default_jobs(), len(tasks)), pipeline)
    with Progress(
        TextColumn("[bold]extract"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.description}"),
        disable=quiet or not sys.stderr.isatty(),
        transient=True,
    ) as progress:
        task = progress.add_task("", total=len(files))
        for path in files:
            progress.update(task, description=path.name)
            outcome = next(outcomes)
            if outcome.error is not None:
                failures.append((path, outcome.exit_code))
                click.echo(outcome.error, err=True)
            else:
                done[outcome.stem] = outcome.body
            summary.append(outcome.summary)
            progress.advance(task)
    _cross_year(done, out, cross_report_checks)
    (out / "_batch.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
    for line in summary_lines(summary):
        click.echo(line, err=True)
    ok = len(files) - len(failures)
    click.echo(f"gongkai: extracted {ok} of {len(files)} inputs into {out}", err=True)
    if failures:
        codes = {code for _, code in failures}
        sys.exit(codes.pop() if len(codes) == 1 else EXIT_MIXED_BAD_INPUT)


def summary_lines(summary: list[dict]) -> list[str]:
    """One line per input (cells to review, failed checks) and the layout model that was used, if any:
    what `_batch.json` holds, said where the user looks."""
    lines = ["gongkai: per input:"]
    for item in summary:
        name = Path(item["input"]).name
        if item["status"] != "ok":
            lines.append(f"  {name}: {item['code']}")
            continue
        failed = item["failed_checks"]
        text = f"  {name}: {item['review']} cells to review"
        text += f"; {len(failed)} failed checks: {', '.join(failed[:5])}{' …' if len(failed) > 5 else ''}" if failed else "; all checks pass"
        if item.get("warnings"):
            text += f"; {len(item['warnings'])} warnings"
        if item.get("flags"):  # a table not found, rows not read: their cells are in review
            text += f"; {', '.join(item['flags'][:4])}{' …' if len(item['flags']) > 4 else ''}"
        lines.append(text)
    models = sorted({i["layout"] for i in summary if str(i.get("layout") or "").startswith("model@")})
    if models:
        from extraction import registry

        lines.append(f"  layout model: {', '.join(models)} (registry {registry.MODELS_DIR})")
    for g in sorted({i["guarantee"] for i in summary if i.get("guarantee")}):  # the calibrator version's certified review level
        lines.append(f"  guarantee: {g}")
    return lines


def default_jobs() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class _Task(NamedTuple):
    path: Path
    stem: str
    out: Path
    formats: tuple[str, ...]


class _Outcome(NamedTuple):
    stem: str
    summary: dict  # the input's entry in _batch.json
    body: tuple[str, int] | None  # the result's (agency, year), for the cross-year checks
    error: str | None = None  # the line printed for a failed input
    exit_code: int = 0


def _extract_one(pipeline, task: _Task) -> _Outcome:
    """Extract one input and write its outputs; errors become the input's outcome."""
    from extraction.export import write_csv, write_xlsx

    path, stem, out, formats = task
    try:
        result = pipeline.extract_path(path)
    except GongkaiError as exc:
        return _Outcome(
            stem,
            {"input": str(path), "status": "error", **exc.to_dict()},
            None,
            f"gongkai: {path}: {exc.code}: {exc.message}",
            exit_code(exc),
        )
    except Exception as exc:  # our own defect: report it, keep the batch going
        return _internal_error(task, f"{type(exc).__name__}: {exc}")
    doc = result.to_json_dict()
    target = out / f"{stem}.json"
    target.write_text(json_text(doc), encoding="utf-8")
    if "csv" in formats:
        write_csv(result, out / f"{stem}.csv")
    if "xlsx" in formats:
        write_xlsx(result, out / f"{stem}.xlsx")
    summary = {
        "input": str(path),
        "status": "ok",
        "output": str(target),
        "failed_checks": [c.rule for c in result.failed_checks if c.severity == "error"],
        "warnings": [c.rule for c in result.failed_checks if c.severity != "error"],
        "review": len(result.review),
        "flags": result.flags,
        "layout": result.pipeline.get("layout"),
        "guarantee": result.guarantee and f"{result.guarantee.statement} [{result.guarantee.calibrator}, review below {result.guarantee.review_below:.4f}]",
    }
    report = doc["report"]
    body = (report["agency"], report["year"]) if report.get("agency") and report.get("year") else None
    return _Outcome(stem, summary, body)


def json_text(doc: dict) -> str:
    """`json.dumps(doc, ensure_ascii=False, indent=1)`, the same text, from pydantic-core's encoder
    (json's indenting encoder is pure Python: about a tenth of a text report's extraction). Both
    encoders' compact forms (each in native code) are compared first: where they differ (a float
    Python writes with an exponent, NaN, an int past 64 bits), json.dumps writes the text."""
    import pydantic_core

    try:
        if pydantic_core.to_json(doc).decode("utf-8") == json.dumps(doc, ensure_ascii=False, separators=(",", ":")):
            return pydantic_core.to_json(doc, indent=1).decode("utf-8")
    except (ValueError, TypeError, UnicodeError):  # e.g. a lone surrogate from a broken input
        pass
    return json.dumps(doc, ensure_ascii=False, indent=1)


def _internal_error(task: _Task, what: str) -> _Outcome:
    err = GongkaiError(f"internal error: {what}")
    return _Outcome(
        task.stem,
        {"input": str(task.path), "status": "error", **err.to_dict()},
        None,
        f"gongkai: {task.path}: internal_error: {what}",
        exit_code(err),
    )


_worker_pipeline = None


def _init_worker(options) -> None:
    global _worker_pipeline
    from extraction.pipeline import Pipeline

    _worker_pipeline = Pipeline(options)


def _run_in_worker(task: _Task) -> _Outcome:
    return _extract_one(_worker_pipeline, task)


def _pool(options, jobs: int) -> ProcessPoolExecutor:
    # fork: the workers inherit the imported pipeline instead of importing it again (~0.5 s each)
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    return ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker, initargs=(options,))


def _outcomes(options, tasks: list[_Task], jobs: int, pipeline=None) -> Iterator[_Outcome]:
    """Each task's outcome, in the order of the tasks, whatever the number of jobs.

    With more than one job the inputs are extracted by a pool of worker processes, all submitted
    at once (the pool starts now, not when the first outcome is asked for). A worker that dies
    (killed for memory, a crash in a native library) breaks the pool: the inputs that were in
    flight are extracted again one at a time, each in its own process, so the one that kills its
    worker gets an internal error and the others their results; the rest go to a fresh pool."""
    if jobs <= 1:
        if pipeline is None:
            from extraction.pipeline import Pipeline

            pipeline = Pipeline(options)
        return (_extract_one(pipeline, t) for t in tasks)
    pool = _pool(options, jobs)
    futures = [pool.submit(_run_in_worker, t) for t in tasks]
    return _pooled(options, tasks, jobs, pool, futures)


def _pooled(options, tasks: list[_Task], jobs: int, pool: ProcessPoolExecutor, futures: list) -> Iterator[_Outcome]:
    try:
        for k, future in enumerate(futures):
            try:
                outcome = future.result()
            except BrokenProcessPool:
                pool.shutdown(wait=False, cancel_futures=True)
                yield from _after_break(options, tasks[k:], futures[k:], jobs)
                return
            yield outcome
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _after_break(options, tasks: list[_Task], futures: list, jobs: int) -> Iterator[_Outcome]:
    """The outcomes of the tasks left when a worker died: those done are kept; the first unfinished
    ones (in flight: at most one queued per worker beside the running ones) run alone; the rest go
    to a fresh pool."""
    ready = {j: f.result() for j, f in enumerate(futures) if f.done() and not f.cancelled() and f.exception() is None}
    unfinished = [j for j in range(len(tasks)) if j not in ready]
    suspects = set(unfinished[: jobs + 1])
    later = [tasks[j] for j in unfinished[jobs + 1 :]]
    rest: Iterator[_Outcome] | None = None
    for j, task in enumerate(tasks):
        if j in ready:
            yield ready[j]
        elif j in suspects:
            yield _alone(options, task)
        else:
            rest = rest or _outcomes(options, later, jobs)
            yield next(rest)


def _alone(options, task: _Task) -> _Outcome:
    """One input in a process of its own (after a worker died)."""
    with _pool(options, 1) as pool:
        try:
            return pool.submit(_run_in_worker, task).result()
        except BrokenProcessPool:
            return _internal_error(task, "the worker process extracting it died")


def _cross_year(done: dict[str, tuple[str, int] | None], out: Path, cross_report_checks) -> None:
    """Soft rules across reports of one body in the same batch (consecutive years). The results are
    read back from OUT only for such pairs: a batch's results are not all held in memory."""
    by_body: dict[tuple[str, int], str] = {}
    for stem, body in done.items():
        if body is not None:
            by_body[body] = stem
    docs: dict[str, dict] = {}

    def load(stem: str) -> dict:
        if stem not in docs:
            docs[stem] = json.loads((out / f"{stem}.json").read_text(encoding="utf-8"))
        return docs[stem]

    for (agency, year), stem in by_body.items():
        prev_stem = by_body.get((agency, year - 1))
        if prev_stem is None:
            continue
        doc = load(stem)
        doc["checks"].extend(cross_report_checks(doc, load(prev_stem)))
        (out / f"{stem}.json").write_text(json_text(doc), encoding="utf-8")


if __name__ == "__main__":  # the extractor alone: python -m extraction.cli INPUT... --out DIR
    extract()
