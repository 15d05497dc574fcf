"""`gongkai train`, `gongkai evaluate`, `gongkai latency`: registered on the main CLI from `COMMANDS`."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
