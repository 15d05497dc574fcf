"""The `gongkai` command line: one group of the commands each package brings (extract from extraction;
train and the rest from training; serve, worker, tokens, db, doctor, status, retry and openapi from
service) and `generate` (the synthetic reports of gongkai_datasets). Nothing below imports this."""

from __future__ import annotations

from pathlib import Path

import click

from extraction.cli import extract
from service.cli import COMMANDS as SERVICE_COMMANDS
from training.cli import COMMANDS as TRAINING_COMMANDS


@click.group()
@click.version_option(package_name="gongkai")
def main() -> None:
    """gongkai (公开): extract and check the statutory tables of 政府信息公开工作年度报告."""


@click.command()
@click.option("--n", "count", type=int, default=300, show_default=True, help="Number of reports")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--violation-rate", type=float, default=0.2, show_default=True)
def generate(count: int, out_dir: str, seed: int, violation_rate: float) -> None:
    """Write synthetic reports (every flattening, both formats) plus their truth labels."""
    from gongkai_datasets.generate import generate as run

    run(count, Path(out_dir), seed=seed, violation_rate=violation_rate)
    click.echo(f"gongkai: wrote {count} synthetic reports to {out_dir}", err=True)


for _command in [extract, generate, *TRAINING_COMMANDS, *SERVICE_COMMANDS]:
    main.add_command(_command)

if __name__ == "__main__":
    main()
