"""The service's import graph has no circle, the extractor's command line imports nothing above
extraction, and the library's errors carry their code only (the HTTP layer and the CLI map it)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT


def _module_names(package: str) -> dict[str, Path]:
    mods = {}
    for path in (ROOT / package).rglob("*.py"):
        if "migrations" in path.parts:
            continue
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = path
    return mods


def _imports(path: Path, name: str) -> set[str]:
    """Every module a file imports, wherever the import stands (a function, `if TYPE_CHECKING:`)."""
    out: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.add(module)
            out.update(f"{module}.{a.name}" for a in node.names)
    return out


def import_graph(package: str) -> dict[str, set[str]]:
    """Module → the package's modules it imports (type-only and function-level imports included)."""
    mods = _module_names(package)
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        edges = set()
        for target in _imports(path, name):
            while target and target not in mods:
                target = target.rpartition(".")[0]
            if target and target != name:
                edges.add(target)
        graph[name] = edges
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_circles_are_found():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_service_has_no_import_circle():
    graph = import_graph("service")
    assert "service.routes.documents" in graph and "service.core" in graph["service.routes.deps"]
    assert circles(graph) == []


def test_the_queue_knows_no_job_code():
    """The Service (queue, database, store) sits below the jobs, the HTTP layer and the CLI."""
    graph = import_graph("service")
    below_core = {"service.jobs", "service.api", "service.cli", "service.training_adapter", "service.workers"}
    assert not graph["service.core"] & below_core
    assert not any(m.startswith("service.routes") for m in graph["service.core"])


def test_no_service_file_reaches_1000_lines():
    long = {p.name: n for p in (ROOT / "service").rglob("*.py") if (n := len(p.read_text(encoding="utf-8").splitlines())) >= 1000}
    assert long == {}


def test_the_extract_command_imports_nothing_above_extraction():
    path = ROOT / "extraction" / "cli.py"
    above = {m for m in _imports(path, "extraction.cli") if m.split(".")[0] in {"service", "training", "gongkai_datasets", "gongkai"}}
    assert above == set()


def test_library_errors_carry_their_code_only():
    from extraction import errors

    for obj in vars(errors).values():
        if isinstance(obj, type) and issubclass(obj, errors.GongkaiError):
            assert not hasattr(obj, "http_status") and not hasattr(obj, "exit_code"), obj


# Each error's HTTP status and exit status as they were when the errors carried them (before the move).
BEFORE = {
    "GongkaiError": (500, 70),
    "ExtractionDefect": (500, 70),
    "InputError": (422, 65),
    "EmptyInput": (422, 66),
    "UnsupportedInput": (415, 67),
    "UndecodableText": (422, 68),
    "InputTooLarge": (413, 69),
    "NotAReport": (422, 71),
    "TablesMissing": (422, 72),
    "CorruptInput": (422, 73),
    "EncryptedInput": (422, 74),
    "TimeLimitExceeded": (422, 77),
    "OcrUnavailable": (503, 78),
    "InputNotFound": (404, 75),
    "WorkerCrashed": (500, 70),
    "MemoryLimitExceeded": (422, 65),
    "StorageError": (507, 70),
    "OriginalMissing": (500, 70),
    "OriginalCorrupt": (500, 70),
    "NoPageImage": (404, 70),
    "ModelIntegrityError": (500, 70),
    "ModelNotFound": (500, 70),
}


def test_statuses_and_exit_codes_are_as_before():
    from extraction import errors, registry
    from extraction.cli import exit_code
    from service import errors as service_errors
    from service.routes.errors import http_status

    classes = {
        name: obj
        for module in (errors, service_errors, registry)
        for name, obj in vars(module).items()
        if isinstance(obj, type) and issubclass(obj, errors.GongkaiError)
    }
    assert set(BEFORE) <= set(classes)
    for name, (status, code) in BEFORE.items():
        exc = classes[name]("x")
        assert (http_status(exc), exit_code(exc)) == (status, code), name


def test_a_child_failure_keeps_the_status_of_what_it_served():
    from service.errors import ChildFailed, ExportFailed, RenderFailed, ServerBusy
    from service.routes.errors import http_status

    assert http_status(ServerBusy("busy")) == 429
    assert http_status(ExportFailed("time_limit_exceeded", "slow")) == 503  # a limit of the server's
    assert http_status(ExportFailed("corrupt_input", "x")) == 500
    assert http_status(RenderFailed("input_too_large", "big")) == 413
    assert http_status(RenderFailed("original_missing", "gone")) == 422  # the page's fault, as rendered
    assert http_status(ChildFailed("unsupported_input", "x")) == 415
