"""Keyword rules for complaint and threat intent, combined with the learned intent classifier.

Threats are rare and costly to miss, so a rule hit is enough to flag one; the rules name the
channels customers threaten with (regulators, courts, police, media, public exposure) and open
intimidation. Complaint rules are explicit demands (投诉, 退款, 赔偿, 给个说法) — questions such as
"退货地址是哪里" are deliberately not matched. Both are measured against the held-out chat examples
by `wecom-audit nlp train`, alone and combined with the classifier.
"""

from __future__ import annotations

import re
import unicodedata

THREAT_PATTERN = re.compile(
    "|".join(
        [
            r"举报|曝光|黑幕|上新闻|媒体|电视台|记者|全网|捅到网上|发(?:帖|微博|到(?:网上|抖音|微博|朋友圈|群))",
            r"起诉|告(?:你|到底|上法庭)|法庭|法院|立案|传票|律师|仲裁|诉讼|追究.{0,4}责任",
            r"报警|报案|派出所|公安|(?<!\d)110(?!\d)",
            r"12315|12345|银保监|证监|监管|消协|消费者协会|工商局|信访|市长热线|人民银行|网信办|税务局",
            r"拉横幅|静坐|(?:去|到).{0,6}(?:闹|堵)|砸了|烧了|拼了|收拾你|饶不了|小心(?:点|你)|付出代价|知道你住",
            r"别逼我|谁都别想好过|你等着|等着(?:吧|瞧|被|收|接|上)",
        ]
    )
)
COMPLAINT_PATTERN = re.compile(
    "|".join(
        [
            r"投诉|给(?:我)?(?:个|一个)?说法|讨(?:个)?说法|要(?:个)?(?:解释|说法)",
            r"(?:要求|必须|马上|立即|立刻|赶紧|尽快|给我)(?:全额)?(?:退款|退钱|退回|退费|赔偿|赔|处理|解决|更正|返工)",
            r"退(?:款|钱|费)|赔偿|负责人|(?:经理|领导|主管)(?:叫来|出面)|不满意|不接受",
        ]
    )
)


def rule_intent(text: str) -> str | None:
    """``"threat"``, ``"complaint"`` or None, from the keyword rules alone."""
    folded = unicodedata.normalize("NFKC", text)
    if THREAT_PATTERN.search(folded):
        return "threat"
    if COMPLAINT_PATTERN.search(folded):
        return "complaint"
    return None
