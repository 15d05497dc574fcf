"""Names of downloaded files: after the source file the user uploaded, made safe for a header and a
file system (RFC 6266 / RFC 5987: an ASCII `filename` and the UTF-8 `filename*`)."""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath, PureWindowsPath
from urllib.parse import quote

MAX_STEM_CHARS = 120  # file systems cap names near 255 bytes; a CJK character is 3 in UTF-8
_UNSAFE = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|;%]+')
# names Windows reserves for devices, with any extension (CON.csv opens the console)
_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])$", re.I)


def safe_stem(filename: str | None, fallback: str) -> str:
    """The stem of an uploaded file's name, without a path, control characters or characters that a
    header or a file system reads specially; `fallback` when nothing is left."""
    name = PureWindowsPath(PurePosixPath(filename or "").name).name  # both separators
    name = unicodedata.normalize("NFC", name)
    # control and format characters (a right-to-left override shows "txt.exe" as "exe.txt")
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C"))
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    stem = _UNSAFE.sub("_", stem).strip(" ._")[:MAX_STEM_CHARS].strip(" ._")
    if _RESERVED.match(stem):
        stem = "_" + stem
    return stem or fallback


def content_disposition(stem: str, ext: str) -> str:
    """`attachment` with an ASCII fallback name (non-ASCII characters as `_`) and the real name in
    `filename*` (RFC 5987), which every current browser prefers."""
    full = f"{stem}.{ext}"
    ascii_name = "".join(ch if 32 <= ord(ch) < 127 else "_" for ch in full)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(full, safe='')}"
