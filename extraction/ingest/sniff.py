"""Recognise an input's kind from its bytes (the file name is only a tie-breaker)."""

from __future__ import annotations

import io
import re
import zipfile

from extraction.errors import CorruptInput, EmptyInput, UnsupportedInput

_IMAGE_MAGIC = [
    (b"\x89PNG\r\n\x1a\n", "image"),
    (b"\xff\xd8\xff", "image"),
    (b"II*\x00", "image"),
    (b"MM\x00*", "image"),
    (b"GIF87a", "image"),
    (b"GIF89a", "image"),
    (b"BM", "image"),
]
_BINARY_MAGIC = [
    (b"\x7fELF", "an ELF executable"),
    (b"MZ", "a Windows executable"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"\xd0\xcf\x11\xe0", "a legacy Office (OLE) file; save it as .docx"),
    (b"\xca\xfe\xba\xbe", "a Java class file"),
]
_HTML_HINT = re.compile(rb"<\s*(!doctype\s+html|html|head|body|table|tr|td|div|p)\b", re.I)


def sniff(data: bytes, name: str = "") -> str:
    """Return one of: pdf, docx, image, html, md, txt. Raise for empty or unsupported bytes."""
    if not data:
        raise EmptyInput("the input is empty (0 bytes)")
    head = data[:1024]
    if data.lstrip()[:5] == b"%PDF-" or b"%PDF-" in head:
        return "pdf"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image"
    for magic, kind in _IMAGE_MAGIC:
        if data.startswith(magic):
            if magic == b"BM" and len(data) < 26:
                break
            return kind
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        return _sniff_zip(data)
    for magic, what in _BINARY_MAGIC:
        if data.startswith(magic):
            raise UnsupportedInput(f"the input is {what}, not a report document")
    lowered = name.lower()
    # Text-like: look at the start of the decoded-ish bytes for markup.
    probe = data[:8192]
    if probe.startswith((b"\xff\xfe", b"\xfe\xff")) or _mostly_utf16(probe):
        try:
            text16 = data[:16384].decode("utf-16", errors="ignore").encode("utf-8")
        except UnicodeError:
            text16 = b""
        if _looks_html(text16):
            return "html"
    elif _looks_html(probe):
        return "html"
    if lowered.endswith((".md", ".markdown")):
        return "md"
    return "txt"


def _mostly_utf16(probe: bytes) -> bool:
    return len(probe) >= 8 and probe.count(0) > len(probe) // 4


def _looks_html(probe: bytes) -> bool:
    matches = _HTML_HINT.findall(probe)
    if not matches:
        return False
    start = probe.lstrip()[:20].lower()
    if start.startswith((b"<!doctype html", b"<html", b"<?xml")):
        return True
    return len(matches) >= 3


def _sniff_zip(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
    except zipfile.BadZipFile as exc:
        raise CorruptInput(f"the input looks like a ZIP/DOCX file but is damaged: {exc}") from None
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        raise UnsupportedInput("the input is an Excel workbook; gongkai reads reports as PDF, DOCX, HTML or text")
    raise UnsupportedInput("the input is a ZIP archive, not a report document")
