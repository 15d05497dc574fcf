"""The import graph points one way: no circle, and no module imports a layer above its own.

The graph is read with `ast` from the sources of extraction/, service/, training/ and datasets/
(every import, the ones inside functions too: a lazy import is still a dependency; those under
`if TYPE_CHECKING:` are not, they never run). `LAYERS` is the
one place the order is written, lowest first; a module may import its own layer and the layers
below. Inside `extraction` the stages sit in the order they run, above what they share (the
working state, errors, schema, text helpers); `extraction.stages` and `extraction.pipeline`,
which put them together, sit above every stage. `datasets` (generation of synthetic reports),
`training` and `service` sit above `extraction`; the umbrella CLI above everything.
"""

from __future__ import annotations

from tests.import_graph import cycles, import_graph, modules

# Lowest first. A module belongs to the layer of the longest prefix that names it.
LAYERS: list[tuple[str, ...]] = [
    # what every stage shares: the working state, errors, public result shapes, schema, text helpers
    (
        "extraction",
        "extraction.errors",
        "extraction.document",
        "extraction.result",
        "extraction.schema",
        "extraction.text",
        "extraction.progress",
        "extraction.memory",
        "extraction.registry",
    ),
    ("extraction.ocr",),  # OCR engines and page preparation
    ("extraction.pages",),  # page reading: table geometry from words and ruling lines
    ("extraction.ingest",),  # input kinds → lines (paged inputs through OCR and page reading)
    ("extraction.tokenize",),
    ("extraction.metadata",),
    ("extraction.layout",),  # labelers
    ("extraction.reconstruct",),
    ("extraction.calibration",),
    ("extraction.rules",),
    ("extraction.stages", "extraction.pipeline"),
    ("extraction.export",),
    ("extraction.cli",),  # the extract command
    ("datasets",),
    ("training",),
    ("service",),
    ("gongkai",),  # the umbrella command line: extract, serve, worker, train, tokens…
]

# Named exceptions, none today: (importer, imported) pairs / modules allowed in a circle.
ALLOWED_UPWARD: set[tuple[str, str]] = set()
ALLOWED_CYCLE_MODULES: set[str] = set()


def layer_of(module: str) -> int:
    best, level = -1, -1
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, level = len(p), i
    if level < 0:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS")
    return level


def test_every_module_has_a_layer():
    for mod in modules():
        layer_of(mod)


def test_no_import_points_up_a_layer():
    graph = import_graph()
    upward = sorted(
        (mod, dep)
        for mod, deps in graph.items()
        for dep in deps
        if layer_of(dep) > layer_of(mod) and (mod, dep) not in ALLOWED_UPWARD
    )
    assert not upward, "\n".join(f"{m} (layer {layer_of(m)}) imports {d} (layer {layer_of(d)})" for m, d in upward)


def test_no_import_circle():
    found = [c for c in cycles(import_graph()) if not set(c) <= ALLOWED_CYCLE_MODULES]
    assert not found, "import circles:\n" + "\n".join(" ↔ ".join(c) for c in found)


def test_the_checker_sees_a_circle_and_an_upward_import():
    graph = {"extraction.text": {"extraction.rules"}, "extraction.rules": {"extraction.text"}, "service.x": set()}
    assert cycles(graph) == [["extraction.rules", "extraction.text"]]
    assert layer_of("extraction.text") < layer_of("extraction.rules")
    assert layer_of("extraction.layout.model") < layer_of("extraction.pipeline") < layer_of("training")
