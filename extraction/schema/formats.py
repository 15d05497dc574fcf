"""The canonical schema as data: formats 2021 and 2019, their tables, rows, columns and labels.

This module is the one place that defines the statutory tables (see
`shared/spec/canonical-schema.md`). Everything else reads it through `extraction.schema`.

Each label has a canonical printed text and `aliases`: other spellings real reports use. Label
matching works on the *core* of a label (its text without enumerators such as "（三）" or "1."),
so aliases list cores, not full printed forms.
"""

from __future__ import annotations

APPLICANT_COLUMNS: list[tuple] = [
    ("natural_person", "自然人", []),
    ("commercial", "商业企业", []),
    ("research", "科研机构", []),
    ("public_welfare", "社会公益组织", []),
    ("legal_services", "法律服务机构", []),
    ("other_org", "其他", []),
    ("total", "总计", []),
]

APPEALS_COLUMNS: list[tuple] = [
    ("upheld", "结果维持", []),
    ("corrected", "结果纠正", []),
    ("other", "其他结果", []),
    ("pending", "尚未审结", []),
    ("total", "总计", []),
]

# (row key, statutory label, label aliases (cores), parent group or None, formats)
# Group rows are printed headings that carry no values of their own.
APPLICATION_ROWS = [
    ("new", "一、本年新收政府信息公开申请数量", ["本年新收政府信息公开申请数量", "本年新收"], None, ("2021", "2019")),
    (
        "carried_over",
        "二、上年结转政府信息公开申请数量",
        ["上年结转政府信息公开申请数量", "上年结转"],
        None,
        ("2021", "2019"),
    ),
    ("granted", "（一）予以公开", ["予以公开"], "results", ("2021", "2019")),
    (
        "partially_granted",
        "（二）部分公开（区分处理的，只计这一情形，不计其他情形）",
        ["部分公开"],
        "results",
        ("2021", "2019"),
    ),
    ("denied.state_secret", "1.属于国家秘密", ["属于国家秘密"], "denied", ("2021", "2019")),
    (
        "denied.prohibited_by_law",
        "2.其他法律行政法规禁止公开",
        ["其他法律行政法规禁止公开", "法律行政法规禁止公开"],
        "denied",
        ("2021", "2019"),
    ),
    (
        "denied.security_stability",
        "3.危及“三安全一稳定”",
        ["危及三安全一稳定", "三安全一稳定"],
        "denied",
        ("2021", "2019"),
    ),
    ("denied.third_party", "4.保护第三方合法权益", ["保护第三方合法权益"], "denied", ("2021", "2019")),
    (
        "denied.internal_affairs",
        "5.属于三类内部事务信息",
        ["属于三类内部事务信息", "三类内部事务信息"],
        "denied",
        ("2021", "2019"),
    ),
    (
        "denied.process_information",
        "6.属于四类过程性信息",
        ["属于四类过程性信息", "四类过程性信息"],
        "denied",
        ("2021", "2019"),
    ),
    ("denied.enforcement_file", "7.属于行政执法案卷", ["属于行政执法案卷", "行政执法案卷"], "denied", ("2021", "2019")),
    (
        "denied.administrative_query",
        "8.属于行政查询事项",
        ["属于行政查询事项", "行政查询事项"],
        "denied",
        ("2021", "2019"),
    ),
    (
        "unavailable.not_held",
        "1.本机关不掌握相关政府信息",
        ["本机关不掌握相关政府信息", "不掌握相关政府信息"],
        "unavailable",
        ("2021", "2019"),
    ),
    (
        "unavailable.needs_creation",
        "2.没有现成信息需要另行制作",
        ["没有现成信息需要另行制作", "需要另行制作"],
        "unavailable",
        ("2021", "2019"),
    ),
    (
        "unavailable.unclear",
        "3.补正后申请内容仍不明确",
        ["补正后申请内容仍不明确", "申请内容仍不明确"],
        "unavailable",
        ("2021", "2019"),
    ),
    (
        "not_processed.petition",
        "1.信访举报投诉类申请",
        ["信访举报投诉类申请", "信访举报投诉"],
        "not_processed",
        ("2021", "2019"),
    ),
    ("not_processed.duplicate", "2.重复申请", ["重复申请"], "not_processed", ("2021", "2019")),
    (
        "not_processed.publication",
        "3.要求提供公开出版物",
        ["要求提供公开出版物", "公开出版物"],
        "not_processed",
        ("2021", "2019"),
    ),
    (
        "not_processed.excessive",
        "4.无正当理由大量反复申请",
        ["无正当理由大量反复申请", "大量反复申请"],
        "not_processed",
        ("2021", "2019"),
    ),
    (
        "not_processed.reconfirm",
        "5.要求行政机关确认或重新出具已获取信息",
        ["要求行政机关确认或重新出具已获取信息", "确认或重新出具已获取信息", "要求行政机关确认或重新出具"],
        "not_processed",
        ("2021", "2019"),
    ),
    (
        "other.no_amendment",
        "1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请",
        ["申请人无正当理由逾期不补正行政机关不再处理其政府信息公开申请", "申请人无正当理由逾期不补正", "逾期不补正"],
        "other",
        ("2021",),
    ),
    (
        "other.fee_unpaid",
        "2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请",
        [
            "申请人逾期未按收费通知要求缴纳费用行政机关不再处理其政府信息公开申请",
            "申请人逾期未按收费通知要求缴纳费用",
            "逾期未按收费通知要求缴纳费用",
        ],
        "other",
        ("2021",),
    ),
    ("other.other", "3.其他", ["其他"], "other", ("2021",)),
    ("other", "（六）其他处理", ["其他处理"], "results", ("2019",)),
    ("outcome_total", "（七）总计", ["总计"], "results", ("2021", "2019")),
    ("carried_forward", "四、结转下年度继续办理", ["结转下年度继续办理", "结转下年度"], None, ("2021", "2019")),
]

# Printed group headings of table 三 (they carry no values).
APPLICATION_GROUPS = {
    "results": ("三、本年度办理结果", ["本年度办理结果"]),
    "denied": ("（三）不予公开", ["不予公开"]),
    "unavailable": ("（四）无法提供", ["无法提供"]),
    "not_processed": ("（五）不予处理", ["不予处理"]),
    "other": ("（六）其他处理", ["其他处理"]),
}

# Rows of the outcome block: summed by hard rule 3 into outcome_total.
OUTCOME_GROUPS = ("results", "denied", "unavailable", "not_processed", "other")

APPEALS_ROWS = [
    ("review", "行政复议", ["行政复议"]),
    ("litigation_direct", "行政诉讼·未经复议直接起诉", ["未经复议直接起诉"]),
    ("litigation_after_review", "行政诉讼·复议后起诉", ["复议后起诉"]),
]

# Table 二. Each section is one 第二十条 item with its own header row and rows.
# (section label, section aliases, [(column key, header label, header aliases, kind)], [(row key, label, aliases)])
PROACTIVE_2021 = [
    (
        "第二十条第（一）项",
        [
            ("issued", "本年制发件数", ["本年制发件数", "本年制发"], "count"),
            ("repealed", "本年废止件数", ["本年废止件数", "本年度止件数", "本年废止"], "count"),
            ("in_force", "现行有效件数", ["现行有效件数", "现行有效"], "count"),
        ],
        [
            ("rules", "规章", ["规章"]),
            ("normative_documents", "行政规范性文件", ["行政规范性文件", "规范性文件"]),
        ],
    ),
    (
        "第二十条第（五）项",
        [("decisions", "本年处理决定数量", ["本年处理决定数量", "处理决定数量"], "count")],
        [("licensing", "行政许可", ["行政许可"])],
    ),
    (
        "第二十条第（六）项",
        [("decisions", "本年处理决定数量", ["本年处理决定数量", "处理决定数量"], "count")],
        [("penalty", "行政处罚", ["行政处罚"]), ("coercion", "行政强制", ["行政强制"])],
    ),
    (
        "第二十条第（八）项",
        [("amount", "本年收费金额（单位：万元）", ["本年收费金额", "收费金额"], "amount")],
        [("fees", "行政事业性收费", ["行政事业性收费"])],
    ),
]

PROACTIVE_2019 = [
    (
        "第二十条第（一）项",
        [
            ("made", "本年新制作数量", ["本年新制作数量", "本年新制作"], "count"),
            ("published", "本年新公开数量", ["本年新公开数量", "本年新公开"], "count"),
            ("total_published", "对外公开总数量", ["对外公开总数量", "对外公开总数"], "count"),
        ],
        [
            ("rules", "规章", ["规章"]),
            ("normative_documents", "规范性文件", ["规范性文件"]),
        ],
    ),
    (
        "第二十条第（五）项",
        [
            ("previous_items", "上一年项目数量", ["上一年项目数量", "上一年项目"], "count"),
            ("change", "本年增/减", ["本年增减", "本年增减量", "增减"], "signed_count"),
            ("decisions", "处理决定数量", ["处理决定数量"], "count"),
        ],
        [
            ("licensing", "行政许可", ["行政许可"]),
            ("other_services", "其他对外管理服务事项", ["其他对外管理服务事项", "对外管理服务事项"]),
        ],
    ),
    (
        "第二十条第（六）项",
        [
            ("previous_items", "上一年项目数量", ["上一年项目数量", "上一年项目"], "count"),
            ("change", "本年增/减", ["本年增减", "本年增减量", "增减"], "signed_count"),
            ("decisions", "处理决定数量", ["处理决定数量"], "count"),
        ],
        [("penalty", "行政处罚", ["行政处罚"]), ("coercion", "行政强制", ["行政强制"])],
    ),
    (
        "第二十条第（八）项",
        [
            ("previous_items", "上一年项目数量", ["上一年项目数量", "上一年项目"], "count"),
            ("change", "本年增/减", ["本年增减", "本年增减量", "增减"], "signed_count"),
        ],
        [("fees", "行政事业性收费", ["行政事业性收费"])],
    ),
    (
        "第二十条第（九）项",
        [
            ("items", "采购项目数量", ["采购项目数量"], "count"),
            ("amount", "采购总金额", ["采购总金额"], "amount"),
        ],
        [("procurement", "政府集中采购", ["政府集中采购"])],
    ),
]

SECTION_HEADINGS = {
    "proactive": ("二、主动公开政府信息情况", ["主动公开政府信息情况"]),
    "applications": (
        "三、收到和处理政府信息公开申请情况",
        ["收到和处理政府信息公开申请情况", "收到和处理政府信息公开申请"],
    ),
    "appeals": ("四、政府信息公开行政复议、行政诉讼情况", ["政府信息公开行政复议行政诉讼情况", "行政复议行政诉讼情况"]),
    # Sections after the tables: they close the last table.
    "problems": ("五、存在的主要问题及改进情况", ["存在的主要问题及改进情况", "存在的主要问题"]),
    "other_matters": ("六、其他需要报告的事项", ["其他需要报告的事项"]),
}

# Variants: documented deviations from a format (the spec's "Real reports deviate").
VARIANT_OTHER_SINGLE_ROW = "applications.other single row"
