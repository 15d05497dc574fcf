"""Small files that ask for huge page images (issue 18): built in a few KB, never decoded here."""

from __future__ import annotations

import io
import struct
import zlib


def tall_pdf(width_pt: float = 400, height_pt: float = 14400) -> bytes:
    """A one-page PDF of `width_pt` × `height_pt` points (14,400 pt is the largest page PDF allows)."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    try:
        pdf.new_page(width_pt, height_pt).close()
        buf = io.BytesIO()
        pdf.save(buf)
        return buf.getvalue()
    finally:
        pdf.close()


def bomb_png(width: int = 13_000, height: int = 13_000) -> bytes:
    """A white 1-bit PNG of width × height pixels (13,000² = 169 MP in about 40 KB), written row by row."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + b"\xff" * ((width + 7) // 8)
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
