"""The `gongkai` command line."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import click

from extraction.errors import EXIT_CODES, GongkaiError, InputNotFound

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


@click.group()
@click.version_option(package_name="gongkai")
def main() -> None:
    """gongkai (公开): extract and check the statutory tables of 政府信息公开工作年度报告."""


@main.command()
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
def extract(
    inputs: tuple[str, ...],
    out_dir: str,
    formats: tuple[str, ...],
    labeler: str,
    review_threshold: float,
    max_bytes: int,
    quiet: bool,
) -> None:
    """Extract every INPUT (files or folders) into OUT/<input stem>.json.

    Exit status: 0 when every input was extracted; for bad input the error's code (65–75, see
    README), or 76 when inputs failed for different reasons. Other inputs are still extracted.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from extraction.export import write_csv, write_xlsx
    from extraction.ingest import IngestOptions
    from extraction.pipeline import Pipeline, PipelineOptions
    from extraction.rules import cross_report_checks

    files = collect_inputs(inputs)
    if not files:
        click.echo("gongkai: no inputs found", err=True)
        sys.exit(EXIT_CODES[InputNotFound.code])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pipeline = Pipeline(
        PipelineOptions(labeler=labeler, review_threshold=review_threshold, ingest=IngestOptions(max_bytes=max_bytes))
    )
    failures: list[tuple[Path, GongkaiError]] = []
    done: dict[str, dict] = {}
    summary: list[dict] = []
    stems = _output_stems(files)
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
        for path, stem in zip(files, stems, strict=True):
            progress.update(task, description=path.name)
            try:
                result = pipeline.extract_path(path)
            except GongkaiError as exc:
                failures.append((path, exc))
                click.echo(f"gongkai: {path}: {exc.code}: {exc.message}", err=True)
                summary.append({"input": str(path), "status": "error", **exc.to_dict()})
            except Exception as exc:  # our own defect: report it, keep the batch going
                err = GongkaiError(f"internal error: {type(exc).__name__}: {exc}")
                failures.append((path, err))
                click.echo(f"gongkai: {path}: internal_error: {exc}", err=True)
                summary.append({"input": str(path), "status": "error", **err.to_dict()})
            else:
                doc = result.to_json_dict()
                done[stem] = doc
                target = out / f"{stem}.json"
                target.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
                if "csv" in formats:
                    write_csv(result, out / f"{stem}.csv")
                if "xlsx" in formats:
                    write_xlsx(result, out / f"{stem}.xlsx")
                summary.append(
                    {
                        "input": str(path),
                        "status": "ok",
                        "output": str(target),
                        "failed_checks": [c.rule for c in result.failed_checks if c.severity == "error"],
                        "warnings": [c.rule for c in result.failed_checks if c.severity != "error"],
                        "review": len(result.review),
                        "layout": result.pipeline.get("layout"),
                    }
                )
            progress.advance(task)
    _cross_year(done, out, cross_report_checks)
    (out / "_batch.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
    for line in summary_lines(summary):
        click.echo(line, err=True)
    ok = len(files) - len(failures)
    click.echo(f"gongkai: extracted {ok} of {len(files)} inputs into {out}", err=True)
    if failures:
        codes = {exc.exit_code for _, exc in failures}
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
        lines.append(text)
    models = sorted({i["layout"] for i in summary if str(i.get("layout") or "").startswith("model@")})
    if models:
        from extraction import registry

        lines.append(f"  layout model: {', '.join(models)} (registry {registry.MODELS_DIR})")
    return lines


def _cross_year(done: dict[str, dict], out: Path, cross_report_checks) -> None:
    """Soft rules across reports of one body in the same batch (consecutive years)."""
    by_body: dict[tuple[str, int], str] = {}
    for stem, doc in done.items():
        rep = doc["report"]
        if rep.get("agency") and rep.get("year"):
            by_body[(rep["agency"], rep["year"])] = stem
    for (agency, year), stem in by_body.items():
        prev_stem = by_body.get((agency, year - 1))
        if prev_stem is None:
            continue
        doc = done[stem]
        doc["checks"].extend(cross_report_checks(doc, done[prev_stem]))
        (out / f"{stem}.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")


@main.command()
@click.option("--n", "count", type=int, default=300, show_default=True, help="Number of reports")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--violation-rate", type=float, default=0.2, show_default=True)
def generate(count: int, out_dir: str, seed: int, violation_rate: float) -> None:
    """Write synthetic reports (every flattening, both formats) plus their truth labels."""
    from gongkai_datasets.generate import generate as run

    run(count, Path(out_dir), seed=seed, violation_rate=violation_rate)
    click.echo(f"gongkai: wrote {count} synthetic reports to {out_dir}", err=True)


def _register_subsystems() -> None:
    """The training and service commands live with their packages; each lists its commands."""
    from service.cli import COMMANDS as service_commands
    from training.cli import COMMANDS as training_commands

    for command in [*training_commands, *service_commands]:
        main.add_command(command)


_register_subsystems()

if __name__ == "__main__":
    main()
