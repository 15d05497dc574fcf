"""An "unseen layout" for the fine-tuning experiment: synthetic reports in a style the base model
never saw and the baseline's label matcher mostly misses.

- `dialect`: a local dialect of the statutory wording (申请 → 申办, 公开 → 公布, 机关 → 单位 …,
  applied to the whole text);
- `abbreviated`: the tables print short row labels, as some bodies do (1.属于国家秘密 → 1.涉密信息,
  （三）不予公开 → （三）不公开, 四、结转下年度继续办理 → 四、结转下年 …), on top of the dialect.

    python -m training.unseen OUT --n 60 --seed 77 [--style abbreviated]

writes OUT/<id>.<ext> and OUT/truth/<id>.json in the labeled-data format (`training.labeled`).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

# One pass over the text (no chained replacements). Same lengths: the layout stays the same.
# Row, section and heading wording only: the column headers (总计, 维持, 自然人 …) stay, since the
# reconstructor reads some of them itself and this experiment is about the labeler.
DIALECT = {
    "申请": "申办",
    "公开": "公布",
    "信息": "资讯",
    "机关": "单位",
    "政府": "行政",
    "数量": "数目",
    "处理": "办理",
    "不予": "未予",
    "本年": "当年",
    "复议": "复核",
    "诉讼": "起诉",
    "属于": "系属",
    "没有": "并无",
    # row wording
    "国家秘密": "保密事项",
    "商业秘密": "商业机密",
    "个人隐私": "私人隐私",
    "重复": "反复",
    "危及": "危害",
    "内部事务": "内务事项",
    "过程性": "过渡性",
    "执法案卷": "执法卷宗",
    "信访": "来访",
    "补正": "补充",
    "收费": "计费",
}
_PATTERN = re.compile("|".join(map(re.escape, DIALECT)))
FLATTENERS = ("tabs", "spaces", "one_per_line", "markdown", "pdf_text")

# Short row labels (printed forms → short forms; applied before the dialect, longest first).
ABBREVIATED = {
    "一、本年新收政府信息公开申请数量": "一、本年新收件数",
    "二、上年结转政府信息公开申请数量": "二、上年结转件数",
    "三、本年度办理结果": "三、办理结果",
    "（一）予以公开": "（一）公开",
    "（二）部分公开（区分处理的，只计这一情形，不计其他情形）": "（二）部分公开",
    "（三）不予公开": "（三）不公开",
    "1.属于国家秘密": "1.涉密信息",
    "2.其他法律行政法规禁止公开": "2.法规禁止",
    "3.危及“三安全一稳定”": "3.危及安全稳定",
    "4.保护第三方合法权益": "4.第三方权益",
    "5.属于三类内部事务信息": "5.内部事务",
    "6.属于四类过程性信息": "6.过程信息",
    "7.属于行政执法案卷": "7.执法卷宗",
    "8.属于行政查询事项": "8.查询事项",
    "（四）无法提供": "（四）无法提供",
    "1.本机关不掌握相关政府信息": "1.不掌握",
    "2.没有现成信息需要另行制作": "2.需另行制作",
    "3.补正后申请内容仍不明确": "3.补正后不明",
    "（五）不予处理": "（五）不处理",
    "1.信访举报投诉类申请": "1.信访举报",
    "3.要求提供公开出版物": "3.要求出版物",
    "4.无正当理由大量反复申请": "4.大量反复",
    "5.要求行政机关确认或重新出具已获取信息": "5.要求确认重出",
    "（六）其他处理": "（六）其他",
    "1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请": "1.逾期不补正",
    "2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请": "2.逾期未缴费",
    "（七）总计": "（七）合计",
    "四、结转下年度继续办理": "四、结转下年",
}
# the generator breaks labels with spaces and line wraps: any whitespace may sit between characters
_ABBREVIATED = re.compile(
    "|".join(r"\s*".join(map(re.escape, label)) for label in sorted(ABBREVIATED, key=len, reverse=True))
)
STYLES = ("dialect", "abbreviated")


def dialect(text: str) -> str:
    return _PATTERN.sub(lambda m: DIALECT[m.group()], text)


def abbreviated(text: str) -> str:
    return dialect(_ABBREVIATED.sub(lambda m: ABBREVIATED[re.sub(r"\s", "", m.group())], text))


def write_unseen(out: Path, n: int, seed: int = 77, style: str = "dialect") -> list[Path]:
    from gongkai_datasets.generate import generate_one

    out = Path(out)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        g = generate_one(i, seed, flatteners=FLATTENERS, violation_rate=0.0)
        assert isinstance(g.content, str)
        path = out / f"{g.id}_{style}.{g.ext}"
        path.write_text((abbreviated if style == "abbreviated" else dialect)(g.content), encoding="utf-8")
        truth = {**g.truth, "flattener": f"{g.truth['flattener']}+{style}"}
        (out / "truth" / f"{path.stem}.json").write_text(
            json.dumps(truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--seed", type=int, default=77)
    ap.add_argument("--style", choices=STYLES, default="dialect")
    args = ap.parse_args(argv)
    write_unseen(args.out, args.n, args.seed, args.style)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
