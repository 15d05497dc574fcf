"""The service's import graph has no circle, the extractor's command line imports nothing above
extraction, and the library's errors carry their code only (the HTTP layer and the CLI map it)."""

from __future__ import annotations

from tests.conftest import ROOT
from tests.import_graph import cycles, import_graph


def service_graph() -> dict[str, set[str]]:
    """The service's modules (its migrations aside) → the service modules they import, type-only
    imports included: a circle through annotations still ties the modules together."""
    graph = import_graph(type_only=True)
    mods = {m for m in graph if m.startswith("service") and not m.startswith("service.migrations")}
    return {m: {d for d in graph[m] if d in mods} for m in mods}


def test_circles_are_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_service_has_no_import_circle():
    graph = service_graph()
    assert "service.routes.documents" in graph and "service.core" in graph["service.routes.deps"]
    assert cycles(graph) == []


def test_the_queue_knows_no_job_code():
    """The Service (queue, database, store) sits below the jobs, the HTTP layer and the CLI."""
    graph = service_graph()
    below_core = {"service.jobs", "service.api", "service.cli", "service.training_adapter", "service.workers"}
    assert not graph["service.core"] & below_core
    assert not any(m.startswith("service.routes") for m in graph["service.core"])


def test_no_service_file_reaches_1000_lines():
    long = {p.name: n for p in (ROOT / "service").rglob("*.py") if (n := len(p.read_text(encoding="utf-8").splitlines())) >= 1000}
    assert long == {}


def test_the_extract_command_imports_nothing_above_extraction():
    above = {m for m in import_graph(type_only=True)["extraction.cli"] if m.split(".")[0] in {"service", "training", "datasets", "gongkai"}}
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
