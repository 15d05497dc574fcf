"""What a supervised child process (service/sandbox.py) can be asked to do, by operation name. Each
operation reads its request and answers; none holds a `Service` or a job's lease."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service.export_sheet import write_batch_export
from service.extract_task import extract, inspect
from service.page_render import render_to_file

OPERATIONS: dict[str, Callable[..., dict[str, Any]]] = {
    "extract": extract,  # a stored original → its result (service/jobs.py)
    "inspect": inspect,  # an upload's kind and pages (service/routes/intake.py)
    "page_image": render_to_file,  # a page image for the review UI (service/pages.py)
    "batch_export": write_batch_export,  # many reports in one sheet (service/exports.py)
}
