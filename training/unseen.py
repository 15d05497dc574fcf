"""An "unseen layout" for the fine-tuning experiment: synthetic reports written in a local dialect of
the statutory wording (申请 → 申办, 公开 → 公布, 机关 → 单位 …, applied to the whole text), which the
base model never saw and the baseline's label matcher mostly misses.

    python -m training.unseen OUT --n 60 --seed 77

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


def dialect(text: str) -> str:
    return _PATTERN.sub(lambda m: DIALECT[m.group()], text)


def write_unseen(out: Path, n: int, seed: int = 77) -> list[Path]:
    from gongkai_datasets.generate import generate_one

    out = Path(out)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        g = generate_one(i, seed, flatteners=FLATTENERS, violation_rate=0.0)
        assert isinstance(g.content, str)
        path = out / f"{g.id}_dialect.{g.ext}"
        path.write_text(dialect(g.content), encoding="utf-8")
        truth = {**g.truth, "flattener": f"{g.truth['flattener']}+dialect"}
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
    args = ap.parse_args(argv)
    write_unseen(args.out, args.n, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
