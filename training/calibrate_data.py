"""The cell calibrator's data: documents of every input kind run through the pipeline with no cell
calibrator, one row per cell (features, kind group, what the rules stage does to it, right or not).

Sources (each document is one unit; a split's seed draws its own values, so the splits share no
document):
- digital PDFs: `per_family` reports of each style family of `gongkai_datasets.families` (the 13
  held-out families and the 4 `generator_*` seen ones), the fold unit `pdf:<family>`;
- text, Markdown, HTML, DOCX: the generator's flatteners (`text_n` reports, round-robin over
  `ALL` plus converter Markdown), the fold unit `text:<flattener>`;
- scans (moderate flatbed preset over the family's PDF): `scans_per_family` reports of the
  families in `scan_families`, the fold unit `ocr:<family>` (OCR costs ~2 s a page on this machine:
  a few a family at most);
- phone photos and faxes (the `phone` and `fax` presets): `photos_per_family` and
  `faxes_per_family` reports of every family, the same fold unit `ocr:<family>`. Without them the
  `ocr` group's isotonic map knew only flatbed scans (0.2 % wrong) and told a photo's cells the same
  (6 % wrong).

Per cell: the base features (`extraction.calibration.cell_matrix`), and, from the rest of the
pipeline run with every confidence set to 1: `cap` (the confidence the rules stage leaves a cell at
1: its doubt caps), `forced` (in review whatever the confidence: a failed hard rule no holding
rule pins it against, `ambiguous`, a doubt flag: `extraction.result.needs_review`),
`right` (the final value equals the truth). A cell of the truth the output lacks is kept as a wrong
cell never reviewed (the worst case).
"""

from __future__ import annotations

import hashlib
import pickle
import random
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_CACHE = Path("/tmp/i16/calibration-data")
SCAN_PRESET = "moderate"


@dataclass
class DocCells:
    """One document's cells (arrays aligned by row)."""

    doc: str  # unique id
    unit: str  # fold unit: pdf:<family>, text:<flattener>, ocr:<family>
    kind: str  # DocumentState.kind
    group: str
    base: np.ndarray  # [cells, base features]
    cap: np.ndarray  # rules-stage cap (1.0: none)
    forced: np.ndarray  # bool: reviewed whatever the confidence
    right: np.ndarray  # bool
    cells: list[str] = field(default_factory=list)
    error: str | None = None
    source: str = ""  # how the input was made: pdf, scan, photo, fax, or the text flattener ("": kind)
    seconds: float = 0.0
    # the document as the reconstruction left it (a pickle file), to replay the stages after it
    # (calibrate, rules) on new code without reading the input again (`replay`)
    state: str | None = None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return abs(a - b) < 1e-6
    return a == b


class _Collect:
    """A cell calibrator that calibrates nothing: in the calibrate stage, after the layout model's own
    calibration, it records the cell features, then sets every confidence to 1 so the result shows
    the rules stage's caps."""

    name = "collect"
    version = "collect"

    def __init__(self) -> None:
        self.matrix: tuple[list[str], np.ndarray] | None = None

    def calibrate(self, doc) -> None:
        from extraction.calibration import UNCERTAIN, cell_matrix

        self.matrix = cell_matrix(doc)
        for cell in doc.cells.values():
            if cell.read_confidence is None:
                cell.read_confidence = cell.confidence
            cell.confidence = 1.0
            if UNCERTAIN in cell.flags:
                cell.flags.remove(UNCERTAIN)


_PIPE = None


def _pipe():
    global _PIPE
    from extraction.pipeline import Pipeline

    if _PIPE is None:
        _PIPE = Pipeline(calibrator=_Collect())
    return _PIPE


def collect(data: bytes, name: str, truth: dict, unit: str, states: Path | None = None) -> DocCells:
    """One input through the pipeline with the collecting labeler; with `states`, the document as the
    reconstruction left it is kept there (`replay` runs the later stages on it again)."""
    from extraction.calibration import base_feature_names
    from extraction.document import DocumentState
    from extraction.errors import GongkaiError

    pipe = _pipe()
    t0 = time.perf_counter()
    k = len(base_feature_names())
    try:
        doc = pipe.process(DocumentState.for_input(data, name), until="reconstruct")
    except GongkaiError as exc:
        n = len(truth["cells"])
        return DocCells(
            name,
            unit,
            "",
            "text",
            np.zeros((0, k)),
            np.ones(0),
            np.zeros(0, bool),
            np.zeros(0, bool),
            error=f"{exc.code}: {n} cells",
            seconds=time.perf_counter() - t0,
        )
    state = None
    if states is not None:
        doc.data = doc.pending = doc.pages_read = None  # (read already: the bytes and page images)
        states.mkdir(parents=True, exist_ok=True)
        path = states / f"{hashlib.sha256(f'{unit}|{name}'.encode()).hexdigest()[:16]}.pkl"
        path.write_bytes(pickle.dumps({"doc": doc, "truth": truth["cells"]}))
        state = str(path)
    out = finish(doc, name, truth["cells"], unit)
    out.state = state
    out.seconds = time.perf_counter() - t0
    return out


def finish(doc, name: str, want: dict, unit: str) -> DocCells:
    """The stages after the reconstruction (calibrate with the collecting labeler, rules), then one
    row per cell of the truth."""
    from extraction.calibration import base_feature_names, kind_group
    from extraction.result import needs_review

    pipe = _pipe()
    k = len(base_feature_names())
    result = pipe.run(doc)
    collector = pipe.stage("calibrate").cells  # type: ignore[attr-defined]
    cids, base = collector.matrix
    row = {cid: i for i, cid in enumerate(cids)}
    group = kind_group(result.source.kind)
    out_base, cap, forced, right, names = [], [], [], [], []
    for cid, value in want.items():
        c = result.cells.get(cid)
        names.append(cid)
        if c is None or cid not in row:  # not in the output at all: wrong, and never reviewed
            out_base.append(np.zeros(k))
            cap.append(1.0)
            forced.append(False)
            right.append(False)
            continue
        out_base.append(base[row[cid]])
        cap.append(c.confidence)
        # in review whatever its confidence: `needs_review` at no threshold (a cell another hard rule
        # pins carries `failed_rule` but is not reviewed for it: counted forced, a wrong pinned cell
        # was caught in the certification's eyes and silent in the product's)
        forced.append(needs_review(1.0, c.flags, "failed_rule" in c.flags, 0.0))
        right.append(_same(c.value, value))
    return DocCells(
        name,
        unit,
        result.source.kind,
        group,
        np.asarray(out_base, dtype=np.float64).reshape(-1, k),
        np.asarray(cap),
        np.asarray(forced, dtype=bool),
        np.asarray(right, dtype=bool),
        names,
    )


def replay(docs: list[DocCells]) -> list[DocCells]:
    """`docs` again from their kept states through the current code's stages after the
    reconstruction (the calibrator's features, the rules): what collecting them anew would give
    where only those stages changed. A document kept with no state is returned as it was."""
    out = []
    for d in docs:
        if d.state is None:
            out.append(d)
            continue
        kept = pickle.loads(Path(d.state).read_bytes())
        again = finish(kept["doc"], d.doc, kept["truth"], d.unit)
        again.state, again.seconds, again.source = d.state, d.seconds, d.source
        out.append(again)
    return out


# ------------------------------------------------------------------------------------ sources


# the damage presets (`gongkai_datasets.scan`) of the page images made from a family's PDFs
IMAGE_PRESETS = {"scan": SCAN_PRESET, "photo": "phone", "fax": "fax"}


def _family_job(args: tuple[str, int, list[int], int, Path | None, dict[str, int] | None]) -> list[DocCells]:
    """Render reports `indices` of stream `seed` in `family`; digital PDFs, scans of the first `scans`,
    and photos and faxes of the first `images[kind]`."""
    family, seed, indices, scans, states, images = args
    counts = {"scan": scans, **(images or {})}
    from gongkai_datasets.families import render_family_many
    from gongkai_datasets.render_office import RendererFailed, RendererUnavailable

    try:
        rendered = render_family_many(indices, family, seed=seed)
    except (RendererUnavailable, RendererFailed) as exc:
        print(f"  {family}: not rendered ({exc})", flush=True)
        return []
    from gongkai_datasets.scan import scan_pdf, to_pdf

    out = []
    for j, (i, r) in enumerate(zip(indices, rendered, strict=True)):
        d = collect(r.pdf, f"{family}-s{seed}-{i}.pdf", r.truth, f"pdf:{family}", states)
        d.source = "pdf"
        out.append(d)
        for kind, preset in IMAGE_PRESETS.items():
            if j >= counts.get(kind, 0):
                continue
            rng = random.Random(f"calibrate:{family}:{seed}:{i}:{kind}")
            stamp = r.truth["report"]["agency"]
            pdf = to_pdf(scan_pdf(r.pdf, r.truth.get("boxes", {}), rng, preset=preset, stamp_text=stamp))
            d = collect(pdf, f"{family}-s{seed}-{i}-{kind}.pdf", r.truth, f"ocr:{family}", states)
            d.source = kind
            out.append(d)
    return out


def _text_job(args: tuple[int, int, str, Path | None]) -> list[DocCells]:
    index, seed, flattener, states = args
    from gongkai_datasets import generate_one

    g = generate_one(index, seed, flattener=flattener)
    data = g.content if isinstance(g.content, bytes) else g.content.encode("utf-8")
    d = collect(data, f"{g.id}.{g.ext}", g.truth, f"text:{flattener}", states)
    d.source = flattener
    return [d]


def build(
    split: str,
    seed: int,
    per_family: int,
    text_n: int,
    scans_per_family: int = 0,
    scan_families: tuple[str, ...] = (),
    families: tuple[str, ...] | None = None,
    jobs: int = 2,
    cache: Path = DEFAULT_CACHE,
    log=print,
    photos_per_family: int = 0,
    faxes_per_family: int = 0,
) -> list[DocCells]:
    """Collect (or read back from `cache`) one split's documents."""
    from gongkai_datasets.families import FAMILIES
    from gongkai_datasets.flatten import ALL, EXTRA

    fams = tuple(families or FAMILIES)
    params: tuple = (seed, per_family, text_n, scans_per_family, scan_families, fams, SCAN_PRESET)
    images = {"photo": photos_per_family, "fax": faxes_per_family}
    if any(images.values()):  # (a split without them keeps the key it had before they existed)
        params += (sorted(images.items()), IMAGE_PRESETS)
    key = hashlib.sha256(repr(params).encode()).hexdigest()[:12]
    path = Path(cache) / f"{split}-{key}.pkl"
    if path.is_file():
        return pickle.loads(path.read_bytes())
    states = Path(cache) / f"{split}-{key}-states"
    flatteners = (*ALL, *EXTRA)
    jobs_f = [
        (f, seed, list(range(per_family)), scans_per_family if f in scan_families else 0, states, images)
        for f in fams
        if per_family
    ]
    jobs_t = [(i, seed, flatteners[i % len(flatteners)], states) for i in range(text_n)]
    t0 = time.perf_counter()
    docs: list[DocCells] = []
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        for batch in pool.map(_family_job, jobs_f):
            docs.extend(batch)
            log(f"  {split}: {len(docs)} documents, {time.perf_counter() - t0:.0f} s")
        for batch in pool.map(_text_job, jobs_t, chunksize=8):
            docs.extend(batch)
    log(f"{split}: {len(docs)} documents in {time.perf_counter() - t0:.0f} s")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(docs))
    return docs


def with_context(d: DocCells) -> np.ndarray:
    """A document's base features with the context columns (collected before they existed: computed
    here from its cells' own columns, as `cell_matrix` does)."""
    from extraction.calibration import CONTEXT_FEATURES, base_feature_names, context_features

    if d.base.shape[1] == len(base_feature_names()):
        return d.base
    assert d.base.shape[1] == len(base_feature_names()) - len(CONTEXT_FEATURES)
    return np.hstack([d.base, context_features(d.cells, d.base)])


def source_of(d: DocCells) -> str:
    """How a document's input was made: pdf, scan, photo, fax, or its text flattener."""
    source = getattr(d, "source", "")  # (pickled before the field existed)
    if source:
        return source
    if d.unit.startswith("text:"):
        return d.unit.split(":", 1)[1]
    for kind in IMAGE_PRESETS:
        if d.doc.endswith(f"-{kind}.pdf"):
            return kind
    return "pdf" if d.unit.startswith("pdf:") else d.kind


def stack(docs: list[DocCells]) -> dict[str, np.ndarray]:
    """All cells of `docs` as aligned arrays (with the document index and its unit/kind per cell)."""
    ok = [d for d in docs if d.error is None]
    n = [len(d.right) for d in ok]
    return {
        "base": np.vstack([with_context(d) for d in ok]),
        "cap": np.concatenate([d.cap for d in ok]),
        "forced": np.concatenate([d.forced for d in ok]),
        "right": np.concatenate([d.right for d in ok]),
        "group": np.concatenate([np.full(k, d.group) for d, k in zip(ok, n, strict=True)]),
        "kind": np.concatenate([np.full(k, d.kind) for d, k in zip(ok, n, strict=True)]),
        "unit": np.concatenate([np.full(k, d.unit) for d, k in zip(ok, n, strict=True)]),
        # how the input was made (a document cached before `source` existed: from its name)
        "source": np.concatenate([np.full(k, source_of(d)) for d, k in zip(ok, n, strict=True)]),
        "doc": np.concatenate([np.full(k, i) for i, k in enumerate(n)]),
    }


__all__ = ["DEFAULT_CACHE", "IMAGE_PRESETS", "DocCells", "build", "collect", "finish", "replay", "source_of", "stack"]
