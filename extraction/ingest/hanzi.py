"""Reports in traditional characters: recognised and read as simplified.

Some bodies publish their reports in traditional characters (or a crawl meets a converted copy).
The statutory labels, the headings and the metadata patterns are all in simplified characters, so
an input whose text is mostly traditional is mapped character by character to simplified before
the layout stage (one character for one, so every position and box stays as it was). Numbers are
untouched. The map covers the labels of both formats, the report vocabulary and the common
characters around them (about 600); characters whose simplified form is ambiguous in meaning
(覆, 乾, 著, 藉, 瞭) are left alone.
"""

from __future__ import annotations

import re

from extraction.document import DocumentState

# traditional, simplified: pairs of characters
_PAIRS = (
    "萬万與与專专業业東东兩两個个豐丰為为爲为舉举義义習习於于親亲們们價价眾众優优會会體体餘余償偿黨党"
    "關关興兴內内農农決决況况減减創创辦办務务動动區区醫医協协單单衛卫廳厅發发髮发變变臺台號号後后聽听"
    "員员圍围國国圖图塊块堅坚處处復复複复夠够學学實实審审對对導导將将層层屬属並并廣广應应廢废開开強强"
    "歸归當当錄录徹彻徵征態态總总執执護护報报據据數数斷断無无時时機机權权條条來来構构標标欄栏樣样檢检"
    "匯汇彙汇沒没洩泄測测環环現现療疗監监蓋盖確确種种穩稳簽签類类糾纠級级納纳紓纾線线組组細细織织經经"
    "結结繞绕給给統统繼继續续維维繳缴網网罰罚聯联範范藥药獲获補补見见規规視视計计認认討讨訓训議议許许"
    "訟讼設设訪访評评訴诉詢询詳详請请讀读調调談谈負负財财責责質质購购貫贯費费轉转載载轄辖遷迁過过運运"
    "還还這这進进適适採采針针門门問问隱隐難难項项順顺領领頻频題题額额風风嚴严傳传儲储冊册華华備备戶户"
    "電电暢畅碼码職职節节識识話话資资輸输釋释長长隊队頁页訊讯縣县鄉乡鎮镇駁驳違违銷销終终製制說说億亿"
    "勞劳稅税紀纪繫系郵邮間间營营佈布預预熱热點点檔档從从讓让覺觉頭头氣气書书車车歲岁歷历曆历愛爱邊边"
    "張张麵面紅红買买賣卖聲声寫写師师幾几隨随險险際际陳陈陽阳陰阴階阶隸隶頒颁顧顾顯显飛飞飯饭館馆駐驻"
    "驗验齊齐龍龙產产畫画異异疊叠盡尽盤盘礎础禮礼禍祸離离稱称積积窮穷競竞筆笔築筑簡简籌筹糧粮緊紧約约"
    "純纯紙纸紛纷絡络絕绝綜综綠绿綱纲緒绪編编練练緩缓縮缩績绩繩绳罷罢羅罗聖圣聞闻腦脑艱艰藝艺蘇苏裝装"
    "襲袭覽览觀观觸触訂订記记論论證证譯译讚赞貝贝貢贡貨货販贩貴贵貸贷貿贸賠赔賦赋賽赛贊赞趕赶趨趋跡迹"
    "踐践軍军軟软較较輔辅輕轻輪轮辭辞連连週周達达遠远遲迟選选遺遗鄰邻鐘钟鋼钢錢钱錯错鏈链閉闭閒闲閱阅"
    "闡阐陣阵陸陆雙双雜杂靈灵靜静響响頂顶須须顏颜願愿養养馬马鬥斗魚鱼鳥鸟鹽盐麼么黃黄佔占侖仑係系倉仓"
    "倫伦偉伟側侧偵侦傑杰傢家債债傷伤僅仅儀仪兒儿凍冻則则剛刚劃划劇剧劉刘劑剂勁劲勝胜勢势勵励勸劝參参"
    "叢丛吳吴啟启喪丧團团園园圓圆場场塗涂壓压壞坏壇坛壽寿夢梦奪夺奮奋婦妇媽妈嬰婴孫孙寧宁寬宽寶宝尋寻"
    "屆届崗岗嶺岭巖岩幣币帥帅帳账帶带幫帮幹干廟庙廠厂彈弹徑径憲宪懷怀慮虑慶庆憑凭戰战戲戏拋抛捨舍掃扫"
    "掛挂換换揮挥損损搖摇撥拨擁拥擇择擊击擔担擴扩擬拟擾扰攜携攝摄敗败敵敌斂敛晉晋楊杨極极槍枪樂乐樓楼"
    "樞枢橋桥櫃柜歡欢殘残殺杀毀毁淨净準准溝沟滅灭滿满漢汉潔洁潛潜澤泽濟济濤涛濫滥灣湾災灾烏乌煙烟燈灯"
    "爭争牆墙狀状猶犹獎奖獨独畢毕矯矫禦御裡里裏里闆板鬧闹滙汇綫线衆众纔才"
)
T2S: dict[str, str] = {_PAIRS[i]: _PAIRS[i + 1] for i in range(0, len(_PAIRS), 2)}
_TABLE = str.maketrans(T2S)
# Simplified forms that a traditional text does not use either (台, 后, 里, 制, 准… are in both).
_BOTH = set("余台后只干里系面斗板采家占周凭准征制范舍御杰岩么布并胜")
SIMPLIFIED_ONLY = frozenset(set(T2S.values()) - _BOTH - set(T2S))

MIN_TRADITIONAL = 10  # fewer traditional-only characters than this: not worth a decision


_TRAD_CHAR = re.compile("[" + "".join(sorted(T2S)) + "]")
_SIMP_CHAR = re.compile("[" + "".join(sorted(SIMPLIFIED_ONLY)) + "]")


def is_traditional(text: str) -> bool:
    """Mostly traditional characters: at least MIN_TRADITIONAL traditional-only ones, and three
    times as many as simplified-only ones."""
    trad = len(_TRAD_CHAR.findall(text))
    return trad >= MIN_TRADITIONAL and trad >= 3 * len(_SIMP_CHAR.findall(text))


def to_simplified(text: str) -> str:
    return text.translate(_TABLE)


def simplify_document(state: DocumentState, sample_chars: int = 200_000) -> bool:
    """Map a document in traditional characters to simplified, in place (field texts and OCR
    alternatives). Returns whether it did."""
    sample: list[str] = []
    size = 0
    for line in state.lines:
        for f in line.fields:
            sample.append(f.text)
            size += len(f.text)
        if size >= sample_chars:
            break
    if not is_traditional("".join(sample)):
        return False
    for line in state.lines:
        for f in line.fields:
            if not f.text.isascii():
                f.text = f.text.translate(_TABLE)
            if f.alternatives:
                f.alternatives = [a.translate(_TABLE) for a in f.alternatives]
    state.warnings.append("the report is in traditional characters: read as simplified")
    return True


__all__ = ["SIMPLIFIED_ONLY", "T2S", "is_traditional", "simplify_document", "to_simplified"]
