"""Report metadata from the text: the publishing body and the year reported on."""

from __future__ import annotations

import re
from collections import Counter

from extraction.document import DocumentState
from extraction.text import normalize

_TITLE = re.compile(r"(?P<year>(?:19|20)\d{2})\s*年\s*(?:度)?\s*(?:政府)?信息公开(?:工作)?(?:年度)?报告")
_PERIOD = re.compile(r"(?:统计期限|统计期间|数据统计)[^。]{0,6}?自?\s*((?:19|20)\d{2})\s*年")
# A place name of two characters and its level ("淮安市"), printed right before the body's name.
_PLACE_PREFIX = re.compile(r"([\u4e00-\u9fff]{2}(?:省|市|州|盟))$")
_MARKUP = re.compile(r"^\s*(?:#{1,6}\s*|>\s*)|\*\*|__|</?[a-z][^>]*>")
_FOOTER = re.compile(r"^\s*[-—–]\s*\d+\s*[-—–]\s*$")
_JUNK = re.compile(r"^(?:登录|注册|首页|当前位置|发布日期|来源|字号|点击数|打印|关闭|分享)")


def _clean_agency(text: str) -> str:
    text = re.sub(r"[\s\u3000]+", "", text)
    # Web-page furniture and prose before the name: keep what follows the last separator.
    text = re.split(r"[|｜。；;：:，,、）)】\]]|登录|注册|首页|当前位置|网站地图|无障碍", text)[-1]
    if len(text) > 40:
        text = text[-40:]
    text = re.sub(r"^[《“\"]+|[》”\"]+$", "", text)
    text = re.sub(r"(关于)?$", "", text)
    return text.strip("：:，,。、 ")


def extract_metadata(doc: DocumentState, max_lines: int = 60) -> None:
    lines = [_MARKUP.sub("", normalize(line.text)).strip() for line in doc.lines[:max_lines]]
    lines = [ln for ln in lines if ln and not _FOOTER.match(ln)]
    agency = None
    year = None
    for i, line in enumerate(lines):
        # A title may wrap ("…工作年度报" / "告"): look at the line with the next one joined.
        joined = line + (lines[i + 1] if i + 1 < len(lines) else "")
        m = _TITLE.search(joined)
        if not m or m.start() >= len(line):
            continue
        year = int(m.group("year"))
        before = _clean_agency(line[: m.start()])
        if not before:
            j = i - 1
            while j >= 0 and (not lines[j] or _JUNK.match(lines[j])):
                j -= 1
            if j >= 0 and len(lines[j]) <= 40:
                before = _clean_agency(lines[j])
        agency = before or None
        break
    # The body text before the tables names the body in full and the period; the title lines
    # are already normalised above, the rest only needs NFKC where it is not plain CJK/ASCII.
    full_text = normalize("\n".join(line.text for line in doc.lines[:400]))
    if year is None:
        m = _PERIOD.search(full_text) or _TITLE.search(full_text)
        if m:
            year = int(m.group(1))
    if year is None:
        years = Counter(int(y) for y in re.findall(r"((?:19|20)\d{2})\s*年", full_text) if 2008 <= int(y) <= 2100)
        if years:
            year = years.most_common(1)[0][0]
    if agency:
        agency = _qualified(agency, full_text)
    doc.agency = agency
    doc.year = year


def _qualified(agency: str, text: str) -> str:
    """A title may omit the city ("洪泽区人民政府"); the body often names it in full
    ("淮安市洪泽区人民政府办公室"): take the place prefix printed right before the name."""
    prefixes: Counter[str] = Counter()
    flat = re.sub(r"\s+", "", text)
    for m in re.finditer(re.escape(agency), flat):
        head = flat[max(0, m.start() - 10) : m.start()]
        p = _PLACE_PREFIX.search(head)
        if p and p.group(1) not in agency:
            prefixes[p.group(1)] += 1
    if prefixes:
        return prefixes.most_common(1)[0][0] + agency
    return agency


__all__ = ["extract_metadata"]
