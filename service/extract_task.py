"""The work an extraction child does (service/sandbox.py), or a worker thread in `inline` isolation:
extract a stored original, or inspect an upload (its kind and page count). No database here: the
child only reads the original and answers; the worker that holds the job's lease writes the result.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

_local = threading.local()  # pipelines per thread: labelers may hold a model, threads must not share one


def pipeline_for(options: dict[str, Any]):
    """One Pipeline per options (`PipelineOptions` as JSON, validated back here; the labeler and its model
    version are part of them), kept for the next job (a model is loaded once)."""
    from extraction.pipeline import Pipeline, PipelineOptions

    key = json.dumps(options, sort_keys=True)
    cache = getattr(_local, "pipelines", None)
    if cache is None:
        cache = _local.pipelines = {}
    if key not in cache:
        cache[key] = Pipeline(PipelineOptions.model_validate(options))
    return cache[key]


def read_original(path: str, sha256: str) -> bytes:
    from service.errors import OriginalCorrupt, OriginalMissing

    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise OriginalMissing(f"the original {sha256} is missing from the file store") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise OriginalCorrupt(f"the stored original {sha256} no longer matches its sha256")
    return data


def lines_to_json(lines: list[Any]) -> list[dict[str, Any]]:
    """A page's Lines as JSON (a page checkpoint)."""
    from dataclasses import asdict

    return [asdict(line) for line in lines]


def lines_from_json(data: list[dict[str, Any]]) -> list[Any]:
    from extraction.document import Field, Line

    def field(f: dict[str, Any]) -> Field:
        f = dict(f)
        for key in ("bbox", "col"):
            if f.get(key) is not None:
                f[key] = tuple(f[key])
        return Field(**f)

    return [Line(fields=[field(f) for f in d["fields"]], page=d.get("page"), delimited=d.get("delimited", False)) for d in data]


class Checkpoints:
    """The page cache of one extraction (extraction.progress.PageCache): the pages an earlier run of
    the job read come from `known`; each page read now goes to `on_checkpoint(number, lines JSON)`."""

    def __init__(self, known: dict[int, list[dict[str, Any]]], on_checkpoint: Callable[[int, list], None] | None):
        self.known, self.on_checkpoint, self.reused = known, on_checkpoint, 0

    def get(self, number: int) -> list[Any] | None:
        data = self.known.get(number)
        if data is None:
            return None
        self.reused += 1
        return lines_from_json(data)

    def put(self, number: int, lines: list[Any]) -> None:
        if self.on_checkpoint is not None:
            self.on_checkpoint(number, lines_to_json(lines))


def extract(
    request: dict[str, Any],
    on_page: Callable[[int], None] | None = None,
    on_checkpoint: Callable[[int, list], None] | None = None,
) -> dict[str, Any]:
    """{"path", "sha256", "name", "labeler", "options" (PipelineOptions as JSON), "checkpoints"?} → {"payload": canonical JSON,
    "page_info": [...], "pages_reused": n}. Typed errors (`GongkaiError`) for bad input; progress through
    `on_page(page number)`; each page read by OCR through `on_checkpoint(page number, its lines as JSON)`;
    pages in `checkpoints` ({page number: lines JSON}) are not read again."""
    from extraction import progress

    data = read_original(request["path"], request["sha256"])
    pipeline = pipeline_for(request["options"])
    known = {int(k): v for k, v in (request.get("checkpoints") or {}).items()}
    cache = Checkpoints(known, on_checkpoint)
    token = progress.page_done.set(on_page) if on_page is not None else None
    cache_token = progress.page_cache.set(cache)
    try:
        state = pipeline.ingest(data, request["name"])
        del data
        result = pipeline.run(state)
    finally:
        progress.page_cache.reset(cache_token)
        if token is not None:
            progress.page_done.reset(token)
    page_info = [
        {"number": p.number, "width": p.width, "height": p.height, "unit": p.unit, "error": p.error}
        for p in state.pages
    ]
    return {"payload": result.to_json_dict(), "page_info": page_info, "pages_reused": cache.reused}


def inspect(request: dict[str, Any]) -> dict[str, Any]:
    """{"path", "name", "max_pages", "max_pixels"} → {"kind", "pages"}: the kind from the bytes, the pages
    of a PDF or the frames of an image from its structure (nothing rendered); an image frame over
    `max_pixels` is refused (input_too_large) from its header."""
    from extraction.errors import CorruptInput, InputTooLarge
    from extraction.ingest.sniff import sniff

    data = Path(request["path"]).read_bytes()
    kind = sniff(data, request["name"])
    pages: int | None = None
    if kind == "pdf":
        from extraction.ingest.pdf import open_pdf

        pdf = open_pdf(data)  # typed errors: corrupt, encrypted
        try:
            pages = len(pdf)
        finally:
            pdf.close()
    elif kind == "image":
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(data)) as im:
                pages = getattr(im, "n_frames", 1) or 1
                max_pixels = int(request.get("max_pixels") or 0)  # 0: no pixel limit
                # every frame's size from its header (nothing decoded): a pixel bomb is refused at upload
                for frame in range(min(pages, request.get("max_pages") or pages)) if max_pixels else ():
                    im.seek(frame)
                    if im.width * im.height > max_pixels:
                        raise InputTooLarge(
                            f"frame {frame + 1} of the image is {im.width:,}×{im.height:,} pixels; the limit is "
                            f"{max_pixels:,} pixels",
                            detail={"frame": frame + 1, "width": im.width, "height": im.height, "limit": max_pixels},
                        )
        except Image.DecompressionBombError as exc:
            raise InputTooLarge(f"the image is too large to decode: {exc}") from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise CorruptInput(f"the image cannot be decoded: {exc}") from None
    max_pages = request.get("max_pages")
    if pages is not None and max_pages and pages > max_pages:
        raise InputTooLarge(
            f"the document has {pages} pages; the limit is {max_pages}", detail={"pages": pages, "limit": max_pages}
        )
    return {"kind": kind, "pages": pages}
