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

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("extraction", "service", "training", "datasets", "gongkai")
ALIASES = {"gongkai_datasets": "datasets"}  # the installed name of datasets/

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


def modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for f in sorted((ROOT / pkg).rglob("*.py")):
            parts = f.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = f
    return out


def _canonical(name: str) -> str:
    head, _, rest = name.partition(".")
    head = ALIASES.get(head, head)
    return f"{head}.{rest}" if rest else head


def import_graph() -> dict[str, set[str]]:
    """module → the modules of these packages it imports (a `from a.b import c` counts as a.b.c
    when that is a module, else a.b)."""
    mods = modules()

    def resolve(name: str) -> str | None:
        name = _canonical(name)
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        deps: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        typing_only = {
            id(n)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
            for n in ast.walk(block)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue  # annotations only: no import when the code runs
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level:
                base = mod.split(".")[: len(mod.split(".")) - node.level + (path.name == "__init__.py")]
                prefix = ".".join(base + ([node.module] if node.module else []))
                names = [f"{prefix}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for n in names:
                if _canonical(n).split(".")[0] in PACKAGES and (target := resolve(n)) and target != mod:
                    deps.add(target)
        graph[mod] = deps
    return graph


def layer_of(module: str) -> int:
    best, level = -1, -1
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, level = len(p), i
    if level < 0:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS")
    return level


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    x = stack.pop()
                    on_stack.discard(x)
                    comp.append(x)
                    if x == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


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
