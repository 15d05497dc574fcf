"""Is an upload sniffed as text really text? Random bytes have no magic number, so the sniffer calls
them `txt`; the extractor would refuse them minutes later. Here the start of the file is decoded the
way the extractor decodes text (`extraction.ingest.text.decode_text`), so bytes that are no text in
any encoding it reads are refused at the door (`unsupported_input`, 415; `undecodable_text`, 422)."""

from __future__ import annotations

from pathlib import Path

from extraction.errors import EmptyInput, UndecodableText, UnsupportedInput

PROBE_BYTES = 64 * 1024  # enough to tell text from binary; bounded work in the server
_MAX_CUT = 3  # a multi-byte character cut at the probe's end: up to 3 bytes of it (UTF-8)


def refuse_non_text(path: Path, size: int) -> None:
    """Raise UnsupportedInput / UndecodableText when the file's first bytes are not text."""
    from extraction.ingest.text import decode_text

    with Path(path).open("rb") as f:
        head = f.read(PROBE_BYTES)
    cuts = range(_MAX_CUT + 1) if size > len(head) else range(1)
    last: Exception | None = None
    for cut in cuts:
        try:
            decode_text(head[: len(head) - cut] if cut else head)
            return
        except (UnsupportedInput, UndecodableText) as exc:
            last = exc
        except EmptyInput:
            return  # blank start of a longer file: the extractor decides
    assert last is not None
    raise last
