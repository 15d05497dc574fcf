"""Build the review UI's fonts, subsets of Noto Sans CJK SC (Debian's fonts-noto-cjk, SIL Open Font
License 1.1), so a machine without CJK fonts renders the UI, offline:

- service/ui/fonts/gongkai-ui.woff2: every character the UI shows from its own text (the UI's pages,
  the statutory labels and section headings of both formats, the rules' messages, the service's
  Chinese error messages) and ASCII;
- service/ui/fonts/gongkai-ui-common.woff2: the other common characters of GB 2312 level 1 (3,755 in
  all: agency names, file names), a later font in the CSS stack, fetched only for text that needs it.

Run at development time after changing any of those texts (fontTools + brotli, dev only):

    .venv/bin/pip install fonttools brotli
    .venv/bin/python scripts/build_ui_font.py [--font /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc]

tests/service/test_ui_font.py checks that the committed font covers the current texts.
"""

from __future__ import annotations

import argparse
import contextlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FONTS = ROOT / "service" / "ui" / "fonts"
OUT = FONTS / "gongkai-ui.woff2"
OUT_COMMON = FONTS / "gongkai-ui-common.woff2"
SOURCES = [
    *sorted((ROOT / "service" / "ui").glob("*.html")),
    *sorted((ROOT / "service" / "ui").glob("*.js")),
    *sorted((ROOT / "service").glob("*.py")),
    ROOT / "extraction" / "schema" / "formats.py",
    *sorted((ROOT / "extraction" / "rules").glob("*.py")),
]
CJK_OR_PUNCT = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef\u2010-\u2027\u00b7]")


def text_characters() -> set[str]:
    chars: set[str] = set()
    for path in SOURCES:
        chars |= set(CJK_OR_PUNCT.findall(path.read_text(encoding="utf-8")))
    return chars


def gb2312_level1() -> set[str]:
    out = set()
    for hi in range(0xB0, 0xD8):
        for lo in range(0xA1, 0xFF):
            with contextlib.suppress(UnicodeDecodeError):
                out.add(bytes([hi, lo]).decode("gb2312"))
    return out


def needed() -> set[str]:
    """The core font's characters."""
    return text_characters() | {chr(c) for c in range(0x20, 0x7F)}


def common() -> set[str]:
    return gb2312_level1() - needed()


def main() -> None:
    from fontTools import subset
    from fontTools.ttLib import TTCollection

    ap = argparse.ArgumentParser()
    ap.add_argument("--font", default="/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
    ap.add_argument("--family", default="Noto Sans CJK SC")
    args = ap.parse_args()
    for out, chars in ((OUT, needed()), (OUT_COMMON, common())):
        collection = TTCollection(args.font)
        font = next(f for f in collection.fonts if args.family in str(f["name"].getDebugName(1)))
        options = subset.Options()
        options.flavor = "woff2"
        options.layout_features = ["*"]
        options.name_IDs = ["*"]
        options.notdef_outline = True
        sub = subset.Subsetter(options)
        sub.populate(text="".join(sorted(chars)))
        sub.subset(font)
        out.parent.mkdir(parents=True, exist_ok=True)
        font.flavor = "woff2"
        font.save(str(out))
        print(f"{out.relative_to(ROOT)}: {len(chars)} characters, {out.stat().st_size // 1024} KiB")

if __name__ == "__main__":
    main()
