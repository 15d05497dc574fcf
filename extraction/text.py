"""Text helpers every layer uses: normalisation, the match key of a label, display width, page
footers. Below ingest, tokenize, metadata, layout and rules, so none of them imports another for these."""

from __future__ import annotations

import re
import unicodedata

# Page furniture printed between table rows by PDF text extraction.
_FOOTER_LINE = re.compile(
    r"^\s*(?:[-—–－]\s*\d{1,4}\s*[-—–－]|第\s*\d{1,4}\s*页(?:\s*[,，/]?\s*共\s*\d{1,4}\s*页)?|\d{1,4}\s*/\s*\d{1,4}|page\s*\d+)\s*$",
    re.I,
)
_CIRCLED = str.maketrans({chr(0x2460 + i): f"{i + 1}." for i in range(20)})
_KEY_DROP = re.compile(r"[\s\u3000“”\"'‘’「」『』《》〈〉()（）\[\]【】:：,，;；、.．。·•/／\\_—–\-－…!！?？*#|]+")

# Chinese traditional → simplified for the characters of the statutory labels.
_TRAD = str.maketrans(
    "屬於國機關與過類執處訴議複審請開結轉數總計資訊資產據報劃規範準際實應當護權務發現負責體"
    "繫構區縣鄉鎮條項額費徵統計證質納證決錶單標產業銷會員錄",
    "属于国机关与过类执处诉议复审请开结转数总计资讯资产据报划规范准际实应当护权务发现负责体"
    "系构区县乡镇条项额费征统计证质纳证决表单标产业销会员录",
)


# East Asian Wide and Full-width characters (CJK, Hangul, full-width forms, CJK punctuation).
_WIDE = re.compile(
    "[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf"
    "\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\U00020000-\U0003fffd]"
)



def normalize(text: str) -> str:
    """NFKC (full-width digits and brackets to ASCII), circled numbers to "N.", traditional to simplified."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text.translate(_CIRCLED)).translate(_TRAD)
    return text


def match_key(text: str) -> str:
    """The text a label is matched on: no spaces, punctuation or brackets."""
    return _KEY_DROP.sub("", text)


def is_footer(text: str) -> bool:
    return bool(_FOOTER_LINE.match(text))


def display_width(text: str) -> int:
    """Columns a string takes in a monospace layout (CJK and full-width characters take two)."""
    return len(text) + len(_WIDE.findall(text))


__all__ = ["display_width", "is_footer", "match_key", "normalize"]
