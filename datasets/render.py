"""Render a report's values into a document model: narrative paragraphs plus the three tables as grids.

The document model is what every flattener (`gongkai_datasets.flatten`) reads:

- `Para(text, role)`: one paragraph or line of narrative (roles: junk, meta, agency, title,
  heading, subheading, body).
- `Grid(key, ncols, cells, row_kinds, row_ids)`: one statutory table as a grid of cells with row
  and column spans, like the Word/HTML table of a real report. Each `GCell` has a role: note,
  header, section (第二十条第（一）项), colheader (信息内容 row), label, group (a row-spanning
  group label such as （三）不予公开), value (with its cell id; text "" for a blank cell).

Row labels, column labels and group headings come from `extraction.schema`; this module only
varies how they are printed (brackets, enumerators, spaces, the typos real reports have).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

from extraction.schema import Layout
from extraction.schema import formats as F

from .values import ReportValues

# Printed texts of the statutory tables that carry no cell (not part of the schema's ids).
INFO_CONTENT = "信息内容"
APPLICANT_HEADER = "申请人情况"
ORG_HEADER = "法人或其他组织"
BALANCE_NOTE = "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）"
OVERVIEW_HEADING = "一、总体情况"


@dataclass
class Para:
    text: str
    role: str = "body"


@dataclass
class GCell:
    row: int
    col: int
    text: str
    role: str = "value"
    rowspan: int = 1
    colspan: int = 1
    cell_id: str | None = None


@dataclass
class Grid:
    key: str
    ncols: int
    cells: list[GCell] = field(default_factory=list)
    row_kinds: list[str] = field(default_factory=list)  # header | section | colheader | data | values
    row_ids: list[str | None] = field(default_factory=list)

    @property
    def nrows(self) -> int:
        return len(self.row_kinds)

    def add_row(self, kind: str, row_id: str | None = None) -> int:
        self.row_kinds.append(kind)
        self.row_ids.append(row_id)
        return len(self.row_kinds) - 1

    def add(
        self,
        row: int,
        col: int,
        text: str,
        role: str = "value",
        rowspan: int = 1,
        colspan: int = 1,
        cell_id: str | None = None,
    ) -> GCell:
        c = GCell(row, col, text, role, rowspan, colspan, cell_id)
        self.cells.append(c)
        return c

    def row_cells(self, r: int) -> list[GCell]:
        return sorted((c for c in self.cells if c.row == r), key=lambda c: c.col)

    def rows(self) -> list[list[GCell]]:
        out: list[list[GCell]] = [[] for _ in range(self.nrows)]
        for c in self.cells:
            out[c.row].append(c)
        for r in out:
            r.sort(key=lambda c: c.col)
        return out

    def matrix(self) -> list[list[tuple[GCell | None, str]]]:
        """Per position: (cell, how) with how = origin | hcover (covered by a colspan) | vcover | empty."""
        m: list[list[tuple[GCell | None, str]]] = [[(None, "empty")] * self.ncols for _ in range(self.nrows)]
        for c in self.cells:
            for dr in range(c.rowspan):
                for dc in range(c.colspan):
                    how = "origin" if dr == 0 and dc == 0 else ("hcover" if dr == 0 else "vcover")
                    m[c.row + dr][c.col + dc] = (c, how)
        return m


@dataclass
class Document:
    agency: str
    year: int
    format: str
    variants: tuple[str, ...]
    blocks: list[Para | Grid]
    style: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def grid(self, key: str) -> Grid:
        return next(b for b in self.blocks if isinstance(b, Grid) and b.key == key)


# ----------------------------------------------------------------------------- agencies


def _words(text: str) -> list[str]:
    return text.split()


PLACES = _words(
    "淮安市 洪泽区 西城区 卫东区 老城区 绿园区 西工区 涧西区 瀍河回族区 宁海县 长兴县 德清县 桐乡市 海宁市 义乌市 永康市 "
    "临安区 萧山区 余杭区 江宁区 鼓楼区 秦淮区 玄武区 武侯区 锦江区 青羊区 金牛区 成华区 南山区 福田区 罗湖区 宝安区 龙岗区 "
    "海淀区 丰台区 通州区 顺义区 昌平区 大兴区 东莞市 中山市 珠海市 汕头市 佛山市 韶关市 江门市 湛江市 肇庆市 惠州市 梅州市 "
    "平顶山市 洛阳市 开封市 安阳市 新乡市 焦作市 濮阳市 许昌市 漯河市 三门峡市 南阳市 商丘市 信阳市 周口市 驻马店市 宿迁市 "
    "盐城市 扬州市 镇江市 泰州市 南通市 连云港市 徐州市 常州市 无锡市 苏州市 金湖县 盱眙县 涟水县 清江浦区 淮阴区 淮安区 "
    "伊川县 宜阳县 孟津区 偃师区 新安县 栾川县 嵩县 汝阳县 洛宁县 兰考县 杞县 通许县 尉氏县 祥符区 龙亭区 顺河回族区"
)
CITY_PREFIX = _words("淮安市 洛阳市 开封市 长春市 成都市 深圳市 北京市 南京市 杭州市 郑州市 平顶山市 苏州市")
BODIES = _words(
    "人民政府 人民政府办公室 政府办公室 发展和改革委员会 发展和改革局 教育局 科学技术局 工业和信息化局 工信局 公安局 民政局 司法局 "
    "财政局 人力资源和社会保障局 自然资源和规划局 生态环境局 住房和城乡建设局 交通运输局 水利局 农业农村局 商务局 "
    "文化广电和旅游局 卫生健康委员会 退役军人事务局 应急管理局 审计局 市场监督管理局 统计局 医疗保障局 城市管理局 "
    "行政审批局 城市改造办公室 数据局 林业局 体育局 信访局 民族宗教事务局 机关事务管理局 住房公积金管理中心"
)
STREETS = _words(
    "丽景门 西关 东风 新华 解放路 城关 南关 北大街 中山路 和平 建设路 光明 胜利 人民路 文化路 青年路 东城 西城 南湖 北湖"
)


def random_agency(rng: random.Random) -> str:
    place = rng.choice(PLACES)
    r = rng.random()
    if r < 0.15 and place.endswith(("区", "县")):
        place = rng.choice(CITY_PREFIX) + place
    if r > 0.85:
        return place + rng.choice(STREETS) + rng.choice(["街道办事处", "街道办事处", "镇人民政府", "乡人民政府"])
    return place + rng.choice(BODIES)


# ----------------------------------------------------------------------------- label styles

CN_DIGITS = "一二三四五六七八九十"
ENUM_RE = re.compile(r"^(?:(?P<cn>[一二三四五六七八九十]+)、|（(?P<paren>[一二三四五六七八九十]+)）|(?P<ar>\d+)\.)")


@dataclass
class Style:
    paren: str = "full"  # full （一） | half (一) | half_space "(一) "
    inner: str = "full"  # brackets inside labels: full | half | half_space
    arabic: str = "1."  # 1. | "1. " | 1、 | 1．
    other_arabic: str | None = None  # enumerator of （六）'s sub-rows when different (real: "1、")
    num_space: bool = False  # "2023 年" instead of "2023年" in the narrative
    label_space_rate: float = 0.0
    typo_repealed: bool = False  # 本年度止件数
    typo_prohibited: bool = False  # 其他法律行政止公开
    art20_space: bool = False  # 第二十条 第（一）项
    drop_heading_number: bool = False  # 主动公开政府信息情况 without 二、
    change_label: str = "本年增/减"
    no_natural_person: bool = False
    appeals_header_space: bool = False  # 结果 维持
    total_rows: int = 3  # 总计 header spans 3 rows (from the top) or 2 (under 申请人情况)
    thousands: float = 0.0  # per-cell probability of "3,119"
    annotate: float = 0.0  # per-cell probability of "22（其中修订16件）"
    amount_unit: float = 0.0  # per-cell probability of an explicit 万元 unit
    plus_sign: bool = False  # 2019 change printed "+5"
    ascii_quotes: bool = False
    zero_amount: str = "0"
    fancy_numbers: bool = True


def random_style(rng: random.Random, fmt: str, fancy_numbers: bool = True) -> Style:
    paren = rng.choices(["full", "half", "half_space"], weights=[0.55, 0.2, 0.25])[0]
    return Style(
        paren=paren,
        inner=paren if rng.random() < 0.7 else rng.choice(["full", "half", "half_space"]),
        arabic=rng.choices(["1.", "1. ", "1、", "1．"], weights=[0.55, 0.25, 0.15, 0.05])[0],
        other_arabic="1、" if rng.random() < 0.15 else None,
        num_space=rng.random() < 0.5,
        label_space_rate=rng.choice([0.0, 0.0, 0.0, 0.02, 0.05]),
        typo_repealed=rng.random() < 0.08,
        typo_prohibited=rng.random() < 0.06,
        art20_space=rng.random() < 0.25,
        drop_heading_number=rng.random() < 0.06,
        change_label="本年增/减量" if rng.random() < 0.3 else ("本年增 / 减" if rng.random() < 0.1 else "本年增/减"),
        no_natural_person=rng.random() < 0.05,
        appeals_header_space=rng.random() < 0.4,
        total_rows=rng.choice([2, 3]),
        thousands=(0.5 if rng.random() < 0.1 else 0.0) if fancy_numbers else 0.0,
        annotate=(0.5 if rng.random() < 0.05 else 0.0) if fancy_numbers else 0.0,
        amount_unit=(0.7 if rng.random() < 0.08 else 0.0),
        plus_sign=rng.random() < 0.4,
        ascii_quotes=rng.random() < 0.1,
        zero_amount=rng.choice(["0", "0", "0", "0.00", "0.0"]),
        fancy_numbers=fancy_numbers,
    )


def _brackets(text: str, how: str) -> str:
    if how == "full":
        return text
    text = text.replace("（", " (" if how == "half_space" else "(").replace("）", ")")
    if how == "half_space":
        text = text.replace("，", ", ").replace("：", ": ")
    return text.strip()


def _enum(kind: str, num: str, st: Style, in_other: bool = False) -> str:
    if kind == "cn":
        return f"{num}、"
    if kind == "paren":
        return {"full": f"（{num}）", "half": f"({num})", "half_space": f"({num}) "}[st.paren]
    arabic = st.other_arabic if in_other and st.other_arabic else st.arabic
    return arabic.replace("1", num, 1)


def _spaces(text: str, rng: random.Random, rate: float) -> str:
    if rate and len(text) > 3 and rng.random() < rate * 4:
        i = rng.randint(1, len(text) - 1)
        text = text[:i] + " " + text[i:]
    return text


def style_label(label: str, st: Style, rng: random.Random, in_other: bool = False) -> str:
    m = ENUM_RE.match(label)
    core = label[m.end() :] if m else label
    prefix = ""
    if m:
        kind = next(k for k in ("cn", "paren", "ar") if m.group(k))
        prefix = _enum(kind, m.group(kind), st, in_other)
    if st.typo_prohibited and core == "其他法律行政法规禁止公开":
        core = "其他法律行政止公开"
    if st.ascii_quotes:
        core = core.replace("“", '"').replace("”", '"')
    core = _brackets(core, st.inner)
    core = _spaces(core, rng, st.label_space_rate)
    return prefix + core


def style_header(label: str, st: Style) -> str:
    if st.typo_repealed and label == "本年废止件数":
        return "本年度止件数"
    if label == "本年增/减":
        return st.change_label
    return _brackets(label, st.inner)


def style_section(label: str, st: Style) -> str:
    if st.art20_space:
        label = label.replace("条第", "条 第")
    return _brackets(label, st.inner) if st.inner != "half_space" else _brackets(label, "half")


# ----------------------------------------------------------------------------- values as printed


def _plain_amount(v: float | int, rng: random.Random, st: Style) -> str:
    if not v:
        return st.zero_amount
    if float(v).is_integer():
        return str(int(v)) if rng.random() < 0.8 else f"{v:.2f}"
    text = repr(float(v))
    if "e" in text:
        text = f"{v:.6f}".rstrip("0").rstrip(".")
    decimals = len(text.split(".")[1])
    if decimals == 1 and rng.random() < 0.3:
        text = f"{v:.2f}"
    return text


def print_value(cid: str, kind: str, v: Any, rv: ReportValues, st: Style, rng: random.Random) -> str:
    if v is None:
        return ""
    if kind == "amount":
        if cid in rv.yuan_text:
            return rv.yuan_text[cid] + "元"
        text = _plain_amount(v, rng, st)
        if v and rng.random() < st.amount_unit:
            text += "万元"
        return text
    if kind == "signed_count":
        if v > 0 and st.plus_sign:
            return f"+{v}"
        return str(v)
    if v >= 1000 and rng.random() < st.thousands:
        return f"{v:,}"
    if v >= 2 and rng.random() < st.annotate and cid.startswith("proactive.") and cid.endswith((".issued", ".made")):
        return f"{v}（其中修订{rng.randint(1, v - 1)}件）"
    return str(v)


# ----------------------------------------------------------------------------- grids


def proactive_grid(lay: Layout, rv: ReportValues, st: Style, rng: random.Random) -> Grid:
    t = lay.table("proactive")
    g = Grid("proactive", 4)
    for sec in t.sections:
        r = g.add_row("section")
        g.add(r, 0, style_section(sec.label, st), "section", colspan=4)
        r = g.add_row("colheader")
        g.add(r, 0, INFO_CONTENT, "colheader")
        n = len(sec.header)
        for i, col in enumerate(sec.header):
            g.add(r, 1 + i, style_header(col.label, st), "colheader", colspan=1 if i < n - 1 else 3 - i)
        for row in (x for x in t.rows if x.group == sec.key):
            r = g.add_row("data", row.id)
            g.add(r, 0, style_label(row.label, st, rng), "label")
            for i, (cid, col) in enumerate(zip(row.cell_ids, row.columns, strict=True)):
                text = print_value(cid, col.kind, rv.cells[cid], rv, st, rng)
                g.add(r, 1 + i, text, "value", colspan=1 if i < n - 1 else 3 - i, cell_id=cid)
    return g


def applications_grid(lay: Layout, rv: ReportValues, st: Style, rng: random.Random) -> Grid:
    t = lay.table("applications")
    g = Grid("applications", 10)
    cols = t.rows[0].columns
    r0, r1, r2 = g.add_row("header"), g.add_row("header"), g.add_row("header")
    g.add(
        r0, 0, _brackets(BALANCE_NOTE, st.inner if st.inner != "half_space" else "half"), "note", rowspan=3, colspan=3
    )
    total_label = cols[-1].label
    if st.total_rows == 3:
        g.add(r0, 3, APPLICANT_HEADER, "header", colspan=6)
        g.add(r0, 9, total_label, "header", rowspan=3)
    else:
        g.add(r0, 3, APPLICANT_HEADER, "header", colspan=7)
        g.add(r1, 9, total_label, "header", rowspan=2)
    g.add(r1, 3, "" if st.no_natural_person else cols[0].label, "header", rowspan=2)
    g.add(r1, 4, ORG_HEADER, "header", colspan=5)
    for i, col in enumerate(cols[1:6]):
        g.add(r2, 4 + i, col.label, "header")
    sections = {s.key: s for s in t.sections}
    level2 = {s.key for s in t.sections if s.key != "results"}
    results_rows = [r for r in t.rows if r.group == "results" or r.group in level2]
    seen: set[str] = set()
    for row in t.rows:
        r = g.add_row("data", row.id)
        in_results = row in results_rows
        if in_results and "results" not in seen:
            seen.add("results")
            g.add(r, 0, style_label(sections["results"].label, st, rng), "group", rowspan=len(results_rows))
        if row.group in level2:
            if row.group not in seen:
                seen.add(row.group)
                span = sum(1 for x in t.rows if x.group == row.group)
                g.add(r, 1, style_label(sections[row.group].label, st, rng), "group", rowspan=span)
            g.add(r, 2, style_label(row.label, st, rng, in_other=row.group == "other"), "label")
        elif in_results:
            g.add(r, 1, style_label(row.label, st, rng), "label", colspan=2)
        else:
            g.add(r, 0, style_label(row.label, st, rng), "label", colspan=3)
        for i, (cid, col) in enumerate(zip(row.cell_ids, row.columns, strict=True)):
            g.add(r, 3 + i, print_value(cid, col.kind, rv.cells[cid], rv, st, rng), "value", cell_id=cid)
    return g


def appeals_header_label(label: str, st: Style) -> str:
    if st.appeals_header_space and len(label) == 4:
        return label[:2] + " " + label[2:]
    return label


def appeals_grid(lay: Layout, rv: ReportValues, st: Style, rng: random.Random) -> Grid:
    t = lay.table("appeals")
    g = Grid("appeals", 15)
    r0, r1, r2 = g.add_row("header"), g.add_row("header"), g.add_row("header")
    tops: list[str] = []
    for i, row in enumerate(t.rows):
        parts = row.label.split("·")
        top = parts[0]
        if top not in tops:
            tops.append(top)
            span = sum(1 for x in t.rows if x.label.split("·")[0] == top) * 5
            g.add(r0, i * 5, top, "header", colspan=span)
        headers = [appeals_header_label(c.label, st) for c in row.columns]
        if len(parts) == 1:
            for j, h in enumerate(headers):
                g.add(r1, i * 5 + j, h, "header", rowspan=2)
        else:
            g.add(r1, i * 5, parts[1], "header", colspan=5)
            for j, h in enumerate(headers):
                g.add(r2, i * 5 + j, h, "header")
    r3 = g.add_row("values", "appeals")
    for i, row in enumerate(t.rows):
        for j, (cid, col) in enumerate(zip(row.cell_ids, row.columns, strict=True)):
            g.add(r3, i * 5 + j, print_value(cid, col.kind, rv.cells[cid], rv, st, rng), "value", cell_id=cid)
    return g


# ----------------------------------------------------------------------------- narrative


def _n(x: Any, st: Style) -> str:
    return f" {x} " if st.num_space else f"{x}"


def _fill(template: str, ctx: dict[str, Any], st: Style) -> str:
    def repl(m: re.Match[str]) -> str:
        v = ctx[m.group(1)]
        return _n(v, st) if isinstance(v, int | float) else str(v)

    text = re.sub(r"\{(\w+)\}", repl, template)
    return re.sub(r" +", " ", text).replace(" ，", "，").replace(" 。", "。").replace("（ ", "（").strip()


INTRO = [
    "本报告由{agency}根据《中华人民共和国政府信息公开条例》（国令第{ling}号）（以下简称《条例》）规定编制。报告所列统计期限自{Y}年{one}月{one}日至{Y}年{twelve}月{last}日。如对本报告有疑问，请与{agency}联系（地址：{address}，邮编：{zip}，电话：{phone}，电子邮箱：{email}）。",
    "依据《中华人民共和国政府信息公开条例》（以下简称《政府信息公开条例》）第五十条规定，编制本报告。",
    "依据《中华人民共和国政府信息公开条例》，现将{agency}{Y}年政府信息公开工作年度报告予以公布，本报告分为以下几个部分：总体情况、主动公开政府信息情况、收到和处理政府信息公开申请情况、政府信息公开行政复议和行政诉讼情况、存在的主要问题及改进情况、其他需要报告的事项。",
    "{Y}年我局政务公开工作严格贯彻落实《中华人民共和国政府信息公开条例》，坚持以“公开为常态、不公开为例外”，准确、公开、透明发布政府信息，及时回应关切、解疑释惑。现将{Y}年政务公开工作情况报告如下：",
]

OVERVIEW = [
    "{Y}年，{short}坚持以习近平新时代中国特色社会主义思想为指导，全面贯彻落实《条例》相关规范要求，不断完善政府信息公开制度，推进政府信息公开工作规范、有序、健康发展。",
    "{Y}年，我单位认真贯彻落实《政府信息公开条例》，按照政务公开工作要点要求，坚持服务为民、依法规范的原则，扎实做好主动公开、依申请公开、政府网站维护等重点工作，取得良好工作成效。",
]

SUBSECTIONS = [
    (
        "主动公开情况",
        [
            "{Y}年，{short}在政府网站平台主动公开政府信息{n_pub}条，其中政策文件{n_docs}件，政策解读{n_interp}篇。",
            "截至{Y}年底，已累计公开{n_pub}项政府信息。以人民为中心，关注民生需求，提高政府工作透明度。",
            "今年以来，及时转载党中央、国务院重大决策部署等权威信息，累计发布政府信息{n_pub}余条，办理领导信箱群众留言{n_msg}条，征集意见{n_survey}次。",
            "全年新增公开规章{rules_issued}件、行政规范性文件{norm_issued}件，通过文字、图片等形式制作政策解读{n_interp}个，召开新闻发布会{n_press}场。",
        ],
    ),
    (
        "依申请公开情况",
        [
            "{Y}年全年受理政府信息公开申请{n_apps}件，均在法定期限内予以答复。",
            "截至{Y}年底，受理政府信息公开申请{n_apps}件。重视公众知情权、参与权、表达权和监督权，严格按照法定程序和规定办理。",
            "{Y}年，共受理政府信息公开申请{n_apps}件，答复{n_done}件（含上年度结转申请{n_carried}件，另有{n_forward}件顺延到下年度答复），均在法定期限内予以答复。",
            "进一步规范依申请公开流程，畅通依申请公开受理渠道。{Y}年共收到政府信息公开申请{n_apps}件，全部按时办结，未发生因依申请公开引发的行政复议、行政诉讼。",
        ],
    ),
    (
        "政府信息管理情况",
        [
            "今年新增{norm_issued}个规范性文件，废止{norm_repealed}个，目前现行有效规范性文件{norm_in_force}件。排查整改政府网站不规范表述、隐私泄露等问题{n_fix}次。",
            "严格执行“分级审核、先审后发”程序，落实“三审三校”制度，从严从实把好政治关、法律关、政策关、保密关、文字关，未经审核的信息一律不准发布。",
            "制定严格的信息资源管理制度，确保信息资源的采集、存储、处理、传输和使用等各个环节都有明确的规范和标准，{Y}年{month}月{day}日完成政策文件清理工作。",
        ],
    ),
    (
        "政府信息公开平台建设情况",
        [
            "进一步优化政务公开专栏设置，在日常读网巡查的基础上，定期对政府信息公开栏目进行检查。截至目前，在运维政务新媒体共计{n_media}个，合格率为{pct}%。",
            "截止{Y}年{twelve}月{last}日，政府信息公开平台建设良好，均有专人负责，确保及时收到信息并公开。",
            "纳入日常监管的{n_media}个政务新媒体全部合规运行，政务公开专区保持正常运转，全年接待群众{n_visit}人次。",
        ],
    ),
    (
        "政府信息公开监督保障情况",
        [
            "将政府信息公开纳入绩效评估考核指标，全年组织{n_train}次业务培训，接受社会评议和察访核验。",
            "根据年度和季度监测指标，全年组织{n_check}次政府信息公开栏目全覆盖检查，针对突出问题及时督促整改。",
            "进一步细化分解政府门户网站和政务新媒体内容保障责任单位，形成工作清单，做到任务具体、责任明确，咨询电话{phone}保持畅通。",
        ],
    ),
]

PROBLEMS = [
    "{Y}年，政府信息公开工作取得一定成效，但对照上级要求，仍存在一定差距。如依申请公开工作规范性还有待提高、政务公开内容的深度和广度还有待提升、政务公开队伍建设有待加强等。",
    "存在问题：公开透明度不足、针对性不够明确，以及公开实效有待进一步提升；公开制度化规范化程度不高；公开机构和队伍建设薄弱。",
    "一是政务公开专职人员业务水平、工作能力有待进一步加强。二是对主动公开的信息内容的理解和把握不够。三是统筹协调能力有待加强。",
]
IMPROVEMENTS = [
    "针对存在问题，下一步将切实抓好以下工作：一是扎实推进依申请公开工作，全面梳理和优化工作流程。二是继续优化政务公开、政策解读、关切回应等工作。三是继续加强业务指导培训，{next}年计划组织培训{n_train}次。",
    "下一步，我们将进一步加深干部职工对信息公开工作的理解，通过专业培训提升队伍素质；规范流程，建立长效机制；拓展公开领域和范围，提高政务公开工作的质量和服务水平。",
    "针对{prev}年存在问题，召开专题会议研究，在政策解读板块增加了视频解读、图片解读、在线解读等多种方式，并及时调整了政务公开领导小组，进一步明确了工作要求。",
]
OTHER_MATTERS = [
    "{Y}年，{short}严格落实《政府信息公开信息处理费管理办法》，全年收取政府信息公开信息处理费{fee_yuan}元。",
    "按照《国务院办公厅关于印发政府信息公开信息处理费管理办法的通知》（国办函〔2020〕109号）规定，{Y}年{short}依申请公开政府信息未收费。",
    "本单位{Y}年度未收取政府信息公开信息处理费用。",
    "{Y}年{short}不存在行政事业性收费。",
    "无",
    "本年度无其他需要报告的事项。",
]


def _context(rv: ReportValues, agency: str, year: int, rng: random.Random, mismatch: bool) -> dict[str, Any]:
    c = rv.cells

    def v(cid: str) -> int:
        x = c.get(cid)
        return int(x) if isinstance(x, int | float) else 0

    n_apps = v("applications.new.total")
    if mismatch:
        n_apps = max(0, n_apps + rng.choice([-7, -3, -1, 2, 5, 17]))
    short = rng.choice(["我单位", "我局", "区政府", "本机关", agency])
    is_2021 = rv.format == "2021"
    return {
        "agency": agency,
        "short": short,
        "Y": year,
        "prev": year - 1,
        "next": year + 1,
        "one": 1,
        "twelve": 12,
        "last": 31,
        "month": rng.randint(1, 12),
        "day": rng.randint(1, 28),
        "ling": 711,
        "address": rng.choice(PLACES)
        + rng.choice(["人民路", "翔宇南道", "洪泽湖大道", "中山路", "解放大道"])
        + _n(rng.randint(1, 199), Style())
        + "号",
        "zip": rng.randint(100000, 860000),
        "phone": f"0{rng.randint(10, 999)}-{rng.randint(2000000, 89999999)}",
        "email": rng.choice(["zwgk", "hzzwgk", "gkb", "xxgk"])
        + f"{rng.randint(1, 999)}@"
        + rng.choice(["163.com", "126.com", "qq.com"]),
        "n_pub": rng.choice([rng.randint(1, 60), rng.randint(60, 1500), rng.randint(1500, 9000)]),
        "n_docs": rng.randint(0, 80),
        "n_interp": rng.randint(0, 40),
        "n_msg": rng.randint(0, 60),
        "n_survey": rng.randint(0, 12),
        "n_press": rng.randint(0, 20),
        "n_apps": n_apps,
        "n_done": v("applications.outcome_total.total"),
        "n_carried": v("applications.carried_over.total"),
        "n_forward": v("applications.carried_forward.total"),
        "rules_issued": v("proactive.rules.issued") if is_2021 else v("proactive.rules.made"),
        "norm_issued": v("proactive.normative_documents.issued")
        if is_2021
        else v("proactive.normative_documents.made"),
        "norm_repealed": v("proactive.normative_documents.repealed") if is_2021 else 0,
        "norm_in_force": v("proactive.normative_documents.in_force")
        if is_2021
        else v("proactive.normative_documents.total_published"),
        "n_fix": rng.randint(1, 30),
        "n_media": rng.randint(1, 120),
        "pct": rng.choice([95, 98, 100]),
        "n_visit": rng.randint(10, 5000),
        "n_train": rng.randint(1, 12),
        "n_check": rng.randint(1, 12),
        "fee_yuan": rng.choice([0, 0, 0, rng.randint(10, 5000)]),
    }


def _subsection_paras(ctx: dict[str, Any], st: Style, rng: random.Random, mode: str) -> list[Para]:
    out: list[Para] = []
    for i, (title, bodies) in enumerate(SUBSECTIONS):
        enum = _enum("paren", CN_DIGITS[i], st)
        body = _fill(rng.choice(bodies), ctx, st)
        if mode == "heading":
            out.append(Para(enum + title.replace("情况", "") if rng.random() < 0.3 else enum + title, "subheading"))
            out.append(Para(body))
        elif mode == "inline":
            out.append(Para(f"{enum}{title}。{body}"))
        elif mode == "colon":
            out.append(Para(f"{enum}{title.replace('情况', '')}：{body}"))
        else:  # 一是 / 二是
            out.append(Para(f"{'一二三四五'[i]}是{title.replace('情况', '')}方面。{body}"))
    return out


def narrative_before(
    rv: ReportValues, agency: str, year: int, st: Style, rng: random.Random, ctx: dict[str, Any]
) -> list[Para]:
    out: list[Para] = []
    if rng.random() < 0.12:
        out.append(
            Para(
                rng.choice(["登录| 注册", "首页 | 政务公开 | 政府信息公开年报", "无障碍 | 长者模式 | 登录| 注册"]),
                "junk",
            )
        )
    mode = rng.choices(["one", "spaced", "two"], weights=[0.35, 0.3, 0.35])[0]
    title = "政府信息公开工作年度报告"
    if mode == "two":
        out.append(Para(agency, "agency"))
        out.append(Para(f"{year}{' ' if st.num_space else ''}年{title}", "title"))
    elif mode == "spaced":
        out.append(Para(f"{agency} {year} 年{title}", "title"))
    else:
        out.append(Para(f"{agency}{year}年{title}", "title"))
    if rng.random() < 0.2:
        d = f"{year + 1}-0{rng.randint(1, 3)}-{rng.randint(10, 28)}"
        out.append(
            Para(rng.choice([f"发布日期:{d}    点击数:", f"发布日期：{d}  来源：{agency}", f"发布时间：{d}"]), "meta")
        )
    if rng.random() < 0.6:
        out.append(Para(_fill(rng.choice(INTRO), ctx, st)))
    out.append(Para(OVERVIEW_HEADING, "heading"))
    if rng.random() < 0.5:
        out.append(Para(_fill(rng.choice(OVERVIEW), ctx, st)))
    out.extend(_subsection_paras(ctx, st, rng, rng.choice(["heading", "inline", "colon", "yishi"])))
    return out


def heading(key: str, st: Style) -> Para:
    text = F.SECTION_HEADINGS[key][0]
    if key == "proactive" and st.drop_heading_number:
        text = text.split("、", 1)[1]
    return Para(text, "heading")


def render(rv: ReportValues, agency: str, year: int, rng: random.Random, *, fancy_numbers: bool = True) -> Document:
    """Build the document model of one report (narrative + the three tables as grids)."""
    lay = rv.layout
    st = random_style(rng, rv.format, fancy_numbers)
    mismatch = rng.random() < 0.04
    ctx = _context(rv, agency, year, rng, mismatch)
    blocks: list[Para | Grid] = []
    blocks.extend(narrative_before(rv, agency, year, st, rng, ctx))
    blocks.append(heading("proactive", st))
    blocks.append(proactive_grid(lay, rv, st, rng))
    blocks.append(heading("applications", st))
    blocks.append(applications_grid(lay, rv, st, rng))
    blocks.append(heading("appeals", st))
    blocks.append(appeals_grid(lay, rv, st, rng))
    blocks.append(heading("problems", st))
    for tpl in rng.sample(PROBLEMS, k=1) + rng.sample(IMPROVEMENTS, k=rng.randint(1, 2)):
        blocks.append(Para(_fill(tpl, ctx, st)))
    blocks.append(heading("other_matters", st))
    blocks.append(Para(_fill(rng.choice(OTHER_MATTERS), ctx, st)))
    notes = []
    if st.drop_heading_number:
        notes.append("heading 二、 printed without its number")
    if st.typo_repealed:
        notes.append("header typo 本年度止件数")
    if st.typo_prohibited:
        notes.append("label typo 其他法律行政止公开")
    if st.no_natural_person:
        notes.append("自然人 header missing")
    if mismatch:
        notes.append("narrative 受理 count disagrees with the table")
    style = dict(st.__dict__)
    return Document(agency, year, rv.format, rv.variants, blocks, style, notes)
