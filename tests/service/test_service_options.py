"""The extractor's options: built once from the service's settings (`Settings.pipeline_options`), sent
whole to the extraction child as JSON and validated back there, every limit where it applies."""

from __future__ import annotations

from pathlib import Path

from tests import conftest_service as fx
from tests.conftest_service import SEEDS, make_api

db_url = fx.db_url

LIMITS = {
    "max_page_seconds": 7.0,
    "ocr_page_timeout_s": 900.0,  # max_page_seconds is the page's whole budget: it wins
    "ocr_pages_in_flight": 3,
    "max_pages": 12,
    "max_megapixels_per_page": 9.0,
    "max_document_seconds": 99.0,
    "max_upload_bytes": 4_000_000,
    "review_threshold": 0.6,
}


def test_every_setting_becomes_its_extraction_option():
    from extraction.pipeline import PipelineOptions
    from service.settings import Settings

    opts = Settings(**LIMITS).pipeline_options("baseline")
    assert opts.labeler == PipelineOptions(labeler="baseline").labeler and opts.review_threshold == 0.6
    ingest = opts.ingest
    assert (ingest.max_bytes, ingest.max_pages, ingest.max_document_seconds, ingest.max_megapixels_per_page) == (
        4_000_000, 12, 99.0, 9.0,
    )  # fmt: skip
    assert (ingest.ocr.page_timeout_s, ingest.ocr.pages_in_flight) == (7.0, 3)
    # unset: the page budget is the OCR setting's, else the extractor's own default
    assert Settings(ocr_page_timeout_s=40).pipeline_options().ingest.ocr.page_timeout_s == 40
    defaults = Settings().pipeline_options()
    from extraction.ingest import IngestOptions

    assert defaults.ingest.ocr.page_timeout_s == IngestOptions().ocr.page_timeout_s
    assert defaults.ingest.max_megapixels_per_page == IngestOptions().max_megapixels_per_page


def test_a_setting_that_names_no_option_is_an_error():
    from extraction.ingest import IngestOptions
    from service.settings import _dropped

    ingest = IngestOptions(max_pages=3)
    assert _dropped({"ingest": {"max_pages": 3, "ocr": {"page_timeout_s": 120.0}}}, type("O", (), {"ingest": ingest})) == []
    assert _dropped({"ingest": {"max_pages": 4, "ocr": {"gone": 2}}, "x": 1}, type("O", (), {"ingest": ingest})) == [
        "ingest.max_pages", "ingest.ocr.gone", "x",
    ]  # fmt: skip


def test_the_options_reach_the_extraction_child_whole(tmp_path: Path, db_url: str, monkeypatch):
    """A job's request carries `PipelineOptions` as JSON; the child's pipeline is built from it as is."""
    from extraction.pipeline import PipelineOptions
    from service import extract_task

    sent: list[dict] = []
    real = extract_task.extract

    def spy(request, **kw):
        sent.append(request)
        return real(request, **kw)

    monkeypatch.setattr(extract_task, "extract", spy)
    gen = make_api(tmp_path / "d", db_url, immediate=True, **LIMITS)
    api = next(gen)
    try:
        r = api.upload(SEEDS[0])
        assert r.status_code == 202, r.text
        assert api.wait(r.json()["items"][0]["document_id"])["status"] in ("review", "verified")
        expected = api.svc.settings.pipeline_options(sent[0]["labeler"])
    finally:
        gen.close()
    options = PipelineOptions.model_validate(sent[0]["options"])
    assert options == expected
    assert options.ingest.ocr.page_timeout_s == 7.0 and options.ingest.max_document_seconds == 99.0
    pipeline = extract_task.pipeline_for(sent[0]["options"])
    assert pipeline.options == expected and pipeline.ingest.options.ocr.page_timeout_s == 7.0


def test_page_checkpoints_depend_on_the_reading_options_only():
    from service.jobs import checkpoint_fingerprint
    from service.settings import Settings

    def fp(labeler: str = "baseline", **kw) -> str:
        return checkpoint_fingerprint(Settings(**kw).pipeline_options(labeler).model_dump(mode="json"))

    base = fp()
    assert fp(review_threshold=0.5) == base and fp(max_document_seconds=60) == base  # after reading, or the budget
    assert fp(labeler="auto") == base  # another model reuses the pages read
    assert fp(max_page_seconds=5) != base and fp(max_megapixels_per_page=10) != base


def test_the_childs_options_name_the_model_version_that_labels():
    """A job's options carry the model version (issue 20: they used to say "baseline" while a model
    labeled, the model passed beside them as an object)."""
    from extraction.pipeline import AutoLabelerOptions, ModelLabelerOptions, PipelineOptions
    from service.settings import Settings

    for spec, kind in (("auto:/models/layout-v3", AutoLabelerOptions), ("model:/models/layout-v4", ModelLabelerOptions)):
        sent = Settings().pipeline_options(spec).model_dump(mode="json")
        back = PipelineOptions.model_validate(sent).labeler
        assert isinstance(back, kind) and back.version == spec.split(":", 1)[1]
