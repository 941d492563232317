"""Chinese phrase and data tables of the simulated company, and the text maker.

Texts are templates with ``{slot}`` placeholders. Benign slots (products, amounts,
times, places) only add variety; risky slots (WeChat/QQ mentions, kickbacks,
guarantees, private dealing, PII) also add ground-truth labels, including the evasion
used ("evasion:spaced", "evasion:homophone" ...). Everything is driven by the
``random.Random`` the caller passes in.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping

# --- people and organisations ----------------------------------------------------------

# fmt: off
SURNAMES: tuple[tuple[str, str], ...] = (
    ("王", "Wang"), ("李", "Li"), ("张", "Zhang"), ("刘", "Liu"), ("陈", "Chen"), ("杨", "Yang"), ("黄", "Huang"),
    ("赵", "Zhao"), ("吴", "Wu"), ("周", "Zhou"), ("徐", "Xu"), ("孙", "Sun"), ("马", "Ma"), ("朱", "Zhu"),
    ("胡", "Hu"), ("郭", "Guo"), ("何", "He"), ("林", "Lin"), ("罗", "Luo"), ("高", "Gao"), ("郑", "Zheng"),
    ("梁", "Liang"), ("谢", "Xie"), ("宋", "Song"), ("唐", "Tang"), ("许", "Xu"), ("韩", "Han"), ("冯", "Feng"),
    ("邓", "Deng"), ("曹", "Cao"), ("彭", "Peng"), ("曾", "Zeng"), ("肖", "Xiao"), ("田", "Tian"), ("董", "Dong"),
    ("潘", "Pan"), ("袁", "Yuan"), ("蔡", "Cai"), ("蒋", "Jiang"), ("余", "Yu"), ("于", "Yu"), ("杜", "Du"),
    ("叶", "Ye"), ("程", "Cheng"), ("魏", "Wei"), ("苏", "Su"), ("吕", "Lv"), ("丁", "Ding"), ("任", "Ren"),
    ("卢", "Lu"), ("姚", "Yao"), ("沈", "Shen"), ("钟", "Zhong"), ("姜", "Jiang"), ("崔", "Cui"), ("谭", "Tan"),
    ("陆", "Lu"), ("范", "Fan"), ("汪", "Wang"), ("廖", "Liao"), ("石", "Shi"), ("金", "Jin"), ("贾", "Jia"),
    ("夏", "Xia"), ("方", "Fang"), ("邹", "Zou"), ("熊", "Xiong"), ("白", "Bai"), ("孟", "Meng"), ("秦", "Qin"),
    ("邱", "Qiu"), ("侯", "Hou"), ("江", "Jiang"), ("尹", "Yin"), ("薛", "Xue"), ("段", "Duan"), ("雷", "Lei"),
    ("龙", "Long"), ("史", "Shi"), ("陶", "Tao"), ("贺", "He"), ("毛", "Mao"), ("郝", "Hao"), ("顾", "Gu"),
    ("龚", "Gong"), ("邵", "Shao"), ("万", "Wan"), ("钱", "Qian"), ("戴", "Dai"), ("严", "Yan"), ("欧阳", "OuYang"),
    ("司马", "SiMa"), ("上官", "ShangGuan"),
)
# fmt: on

# fmt: off
GIVEN: tuple[tuple[str, str], ...] = (
    ("伟", "Wei"), ("芳", "Fang"), ("娜", "Na"), ("敏", "Min"), ("静", "Jing"), ("丽", "Li"), ("强", "Qiang"),
    ("磊", "Lei"), ("军", "Jun"), ("洋", "Yang"), ("勇", "Yong"), ("艳", "Yan"), ("杰", "Jie"), ("娟", "Juan"),
    ("涛", "Tao"), ("明", "Ming"), ("超", "Chao"), ("秀", "Xiu"), ("霞", "Xia"), ("平", "Ping"), ("刚", "Gang"),
    ("英", "Ying"), ("华", "Hua"), ("玉", "Yu"), ("萍", "Ping"), ("红", "Hong"), ("建", "Jian"), ("文", "Wen"),
    ("辉", "Hui"), ("鹏", "Peng"), ("宇", "Yu"), ("浩", "Hao"), ("晨", "Chen"), ("欣", "Xin"), ("怡", "Yi"),
    ("婷", "Ting"), ("雪", "Xue"), ("琳", "Lin"), ("颖", "Ying"), ("佳", "Jia"), ("梓", "Zi"), ("子", "Zi"),
    ("轩", "Xuan"), ("涵", "Han"), ("博", "Bo"), ("雨", "Yu"), ("思", "Si"), ("嘉", "Jia"), ("俊", "Jun"),
    ("瑶", "Yao"), ("婉", "Wan"), ("晓", "Xiao"), ("海", "Hai"), ("波", "Bo"), ("慧", "Hui"), ("志", "Zhi"),
    ("国", "Guo"), ("春", "Chun"), ("燕", "Yan"), ("鑫", "Xin"), ("峰", "Feng"), ("毅", "Yi"), ("凯", "Kai"),
    ("琪", "Qi"), ("欢", "Huan"), ("倩", "Qian"), ("亮", "Liang"), ("斌", "Bin"), ("冬", "Dong"), ("飞", "Fei"),
    ("振", "Zhen"), ("晶", "Jing"), ("蕾", "Lei"), ("薇", "Wei"), ("悦", "Yue"), ("诗", "Shi"), ("铭", "Ming"),
    ("天", "Tian"), ("一", "Yi"), ("泽", "Ze"), ("宁", "Ning"), ("安", "An"), ("昊", "Hao"), ("然", "Ran"),
)
# fmt: on

# fmt: off
NICKNAMES: tuple[str, ...] = (
    "阳光明媚", "A-王姐", "静水流深", "Tony", "幸福一家人", "平安是福", "老刘", "Lily", "海阔天空", "简单生活",
    "上善若水", "淡定", "微笑的鱼", "守望", "A李建国-装修", "心想事成", "岁月静好", "Kevin陈", "大海", "荷塘月色",
    "花开富贵", "Sunny", "快乐每一天", "Jason", "宁静致远", "梦想成真", "春暖花开", "知足常乐", "王师傅", "Grace",
    "风清云淡", "七月", "木子李", "耳东陈", "弓长张", "一路向北", "小鱼儿", "Amy", "追梦人", "云卷云舒", "老顽童",
    "秋天的童话", "金鑫", "糖糖妈妈", "浩浩爸爸", "Michael", "雨过天晴", "水墨丹青", "陌上花开", "从前慢",
)
# fmt: on

# fmt: off
CITIES: tuple[str, ...] = (
    "上海", "北京", "深圳", "杭州", "广州", "南京", "苏州", "成都", "武汉",
)
# fmt: on
# fmt: off
CORP_WORDS: tuple[str, ...] = (
    "明远", "启航", "瑞达", "博雅", "远景", "华胜", "正和", "安信", "宏图", "新锐", "众诚", "天禾", "精工", "蓝海",
    "卓越", "万通", "长青", "云帆",
)
# fmt: on
# fmt: off
CORP_INDUSTRIES: tuple[str, ...] = (
    "贸易有限公司", "科技有限公司", "实业有限公司", "投资有限公司", "建筑工程有限公司", "餐饮管理有限公司",
    "文化传媒有限公司", "医疗器械有限公司", "物流有限公司", "电子有限公司",
)
# fmt: on
COMPANY_BRANDS: tuple[tuple[str, str], ...] = (
    ("鼎盛", "dingsheng"),
    ("恒信", "hengxin"),
    ("安泰", "antai"),
    ("瑞丰", "ruifeng"),
    ("嘉禾", "jiahe"),
    ("宏泰", "hongtai"),
    ("盈信", "yingxin"),
    ("泓远", "hongyuan"),
    ("睿安", "ruian"),
    ("德润", "derun"),
)
COMPANY_KINDS: tuple[tuple[str, str, str], ...] = (
    ("财富管理有限公司", "财富", "wealth"),
    ("保险代理有限公司", "保险", "insurance"),
    ("资产管理有限公司", "资管", "am"),
)

# (name, parent index into this table or None, staffing weight, customer facing)
DEPARTMENTS: tuple[tuple[str, int | None, float, bool], ...] = (
    ("管理层", None, 2.5, False),
    ("财富管理中心", None, 0.6, True),
    ("理财顾问一组", 1, 5.0, True),
    ("理财顾问二组", 1, 5.0, True),
    ("理财顾问三组", 1, 4.0, True),
    ("保险业务部", None, 4.0, True),
    ("客户服务部", None, 4.0, True),
    ("风控合规部", None, 2.5, False),
    ("产品研究部", None, 2.0, False),
    ("运营管理部", None, 2.0, False),
    ("信息技术部", None, 2.0, False),
    ("人力行政部", None, 1.2, False),
)

INTERNAL_GROUP_NAMES: tuple[str, ...] = (
    "全员通知群",
    "管理层沟通群",
    "理财顾问一组工作群",
    "理财顾问二组工作群",
    "合规培训群",
    "产品路演筹备群",
    "客服运营协同群",
    "午饭约起来",
    "IT运维支持群",
    "保险业务交流群",
    "新人培训群",
    "周末羽毛球群",
)
CUSTOMER_GROUP_NAMES: tuple[str, ...] = (
    "VIP客户服务群",
    "理财交流{n}群",
    "{short}财富俱乐部",
    "稳健投资交流群",
    "保险咨询{n}群",
    "高净值客户专享群",
    "养老规划交流群",
    "新客福利{n}群",
    "{short}投资者教育{n}群",
    "亲子财商课堂群",
)
ROBOT_NAMES: tuple[str, ...] = ("每日业绩播报", "行情早报助手", "系统监控告警", "合规提醒小助手")

# --- business data -------------------------------------------------------------------------

# fmt: off
PRODUCTS: tuple[str, ...] = (
    "稳健增利180天", "安盈季季红3号", "睿享成长混合", "月月盈现金管理", "鑫享纯债6个月", "稳进固收增强1号",
    "科技先锋股票型", "添利宝", "双月盈2期", "悦享年年红", "金穗优选FOF", "恒益中短债", "长盈360天", "红利精选混合",
)
# fmt: on
INSURANCE: tuple[str, ...] = (
    "康宁重疾险",
    "安心百万医疗险",
    "金色童年教育金",
    "颐享人生养老年金",
    "尊享终身寿险",
    "驾乘无忧意外险",
    "鑫福年金险",
)
COMPETITORS: tuple[str, ...] = ("华信财富", "恒瑞理财", "汇金资本", "泰和证券", "诺远财富", "博瑞保险经纪")
BRANCHES: tuple[str, ...] = (
    "陆家嘴财富中心",
    "徐家汇营业部",
    "静安寺网点",
    "国贸中心营业部",
    "福田财富中心",
    "西湖文化广场营业部",
    "总部18楼",
)
PLACES: tuple[str, ...] = (
    "公司楼下的星巴克",
    "国金中心三楼咖啡厅",
    "您小区门口的茶馆",
    "正大广场一楼",
    "来福士广场",
    "公司一楼大堂",
    "人民广场地铁站2号口",
)
ROOMS: tuple[str, ...] = ("3楼大会议室", "1203会议室", "培训室A", "18楼小会议室", "腾讯会议线上")
FESTIVALS: tuple[str, ...] = ("春节", "元宵节", "端午节", "中秋节", "国庆节", "元旦", "重阳节", "母亲节")
TOPICS: tuple[str, ...] = ("养老规划", "家庭资产配置", "个人税务筹划", "保险配置", "子女教育金规划", "基金定投")
# fmt: off
BANKS: tuple[tuple[str, str, int], ...] = (  # name, BIN, total length
    ("中国工商银行", "622202", 19), ("中国工商银行", "621226", 19), ("中国建设银行", "621700", 19),
    ("中国建设银行", "622700", 19), ("中国农业银行", "622848", 19), ("中国银行", "621661", 19),
    ("招商银行", "622588", 16), ("招商银行", "621483", 16), ("交通银行", "622262", 19), ("浦发银行", "622521", 16),
    ("中信银行", "622690", 16), ("民生银行", "622622", 16), ("平安银行", "622298", 17),
)
# fmt: on
# fmt: off
ID_REGIONS: tuple[str, ...] = (
    "110101", "110105", "310101", "310104", "310115", "320102", "330106", "440103", "440305", "510107", "420106",
    "370102", "350203", "120101", "500103", "430104", "210102",
)
# fmt: on
# fmt: off
MOBILE_PREFIXES: tuple[str, ...] = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155", "156", "157", "158",
    "159", "166", "176", "177", "178", "180", "181", "182", "185", "186", "187", "188", "189", "191", "198", "199",
)
# fmt: on
# fmt: off
MAIL_DOMAINS: tuple[str, ...] = (
    "163.com", "126.com", "qq.com", "sina.com", "gmail.com", "foxmail.com", "hotmail.com",
)
# fmt: on
LOCATIONS: tuple[tuple[float, float, str, str], ...] = (
    (121.501769, 31.239703, "上海市浦东新区陆家嘴环路1000号", "恒生银行大厦"),
    (121.445325, 31.228614, "上海市静安区南京西路1266号", "恒隆广场"),
    (121.437591, 31.194159, "上海市徐汇区虹桥路1号", "港汇恒隆广场"),
    (121.473701, 31.230416, "上海市黄浦区人民大道200号", "人民广场"),
    (116.460511, 39.908826, "北京市朝阳区建国门外大街1号", "国贸大厦"),
    (116.319963, 39.984194, "北京市海淀区中关村大街27号", "中关村大厦"),
    (114.057868, 22.543099, "深圳市福田区福华三路111号", "深圳会展中心"),
    (120.170112, 30.274084, "杭州市拱墅区延安路546号", "杭州大厦"),
    (113.330996, 23.119314, "广州市天河区珠江新城花城大道", "广州国际金融中心"),
)
WEAPPS: tuple[tuple[str, str, str, str], ...] = (  # displayname, username, title, description
    ("腾讯文档", "gh_252c5f06840b@app", "腾讯文档", "在线编辑，实时保存"),
    ("天天基金", "gh_6a1e3b9d7f20@app", "基金净值查询", "查净值、看收益、定投管理"),
    ("{short}理财", "gh_8c41d2e7a9b3@app", "{short}理财小程序", "在线预约理财顾问，查看持仓"),
    ("保险服务中心", "gh_3f9b70c2d615@app", "理赔自助办理", "材料上传、进度查询"),
    ("腾讯会议", "gh_f4c9a0b8e132@app", "腾讯会议", "点击加入会议"),
    ("大众点评", "gh_92d7e5c1a4f8@app", "附近的餐厅", "美食推荐"),
    ("滴滴出行", "gh_0b3e6f9a2d71@app", "滴滴出行", "打车更方便"),
)
LINK_TITLES: tuple[str, ...] = (
    "{m}月宏观经济数据解读",
    "一文读懂个人养老金",
    "重疾险到底该怎么买？",
    "下半年资产配置展望",
    "理财产品净值波动怎么看",
    "个人养老金账户开户指南",
    "存款利率下调后，钱该放哪里",
    "基金定投的三个误区",
    "家庭资产配置的标准普尔象限",
    "{product}产品介绍",
    "{short}{m}月投资策略报告",
    "读懂保险合同的五个关键点",
)
LINK_DESCS: tuple[str, ...] = (
    "专业解读，三分钟看懂",
    "投资有风险，理财需谨慎",
    "点击查看全文",
    "建议收藏",
    "{short}投研团队出品",
    "本文仅供参考，不构成投资建议",
)
SPH_NAMES: tuple[str, ...] = ("{short}财富频道", "财经早知道", "理财小课堂", "保险那些事", "每日市场速递")
SPH_DESCS: tuple[str, ...] = (
    "三分钟读懂本周市场",
    "养老规划，越早越好",
    "直播：家庭保险配置答疑",
    "基金定投到底能不能赚钱？",
    "今日收评：震荡中寻找机会",
    "孩子的教育金怎么准备",
)
NEWS_TITLES: tuple[str, ...] = (
    "早盘速递：{market}",
    "政策解读：个人养老金制度全面实施",
    "市场周报：{market}",
    "资产配置月报（{m}月）",
    "{short}投资者教育：识别非法金融活动",
    "债市观察：{market}",
)
MARKET: tuple[str, ...] = (
    "沪指收涨{pctf}%，两市成交额{yi}亿元",
    "央行开展{yi}亿元逆回购操作",
    "十年期国债收益率下行至{ratef}%",
    "美联储议息会议结果公布",
    "人民币汇率小幅波动",
    "创业板指震荡走低",
    "北向资金净流入{yi}亿元",
)
ADVICE: tuple[str, ...] = (
    "建议保持均衡配置",
    "短期波动不必过度担忧",
    "稳健型客户可关注固收类产品",
    "控制仓位，分批布局",
)
ISSUES: tuple[str, ...] = (
    "赎回一个星期了还没到账",
    "扣了我{yuan}块钱手续费也没人跟我说",
    "理赔材料交了一个月了还没结果",
    "产品到期了钱一直不到账",
    "每天打电话推销烦死了",
    "APP一直登不上去",
    "说好的收益根本没有",
)
VOTE_TOPICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("周五团建去哪里？", ("郊野公园烧烤", "密室逃脱", "KTV", "农家乐")),
    ("年会节目报名", ("小品", "合唱", "舞蹈", "不参加")),
    ("下周培训时间", ("周二下午", "周三下午", "周四上午")),
    ("午餐团购选哪家", ("麻辣烫", "轻食沙拉", "日料便当", "东北菜")),
    ("季度之星投票", ("一组", "二组", "三组")),
)
COLLECT_TOPICS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("{m}月客户回访情况统计", (("回访客户数", "Number"), ("未接通客户", "Text"), ("回访日期", "Date"))),
    ("年会报名表", (("姓名", "Text"), ("是否携带家属", "Text"), ("到达时间", "Time"))),
    ("产品培训签到", (("姓名", "Text"), ("工号", "Number"), ("签到时间", "Time"))),
    ("季度业绩自评", (("本季度新增资产（万）", "Number"), ("主要客户", "Text"), ("填写日期", "Date"))),
)
FILE_NAMES: tuple[tuple[str, str], ...] = (  # stem template, extension
    ("{product}产品说明书", "pdf"),
    ("风险揭示书", "pdf"),
    ("投保须知", "docx"),
    ("{m}月市场展望", "pptx"),
    ("客户名单", "xlsx"),
    ("合同模板", "docx"),
    ("资产配置建议书", "pdf"),
    ("理财规划方案_{cname}", "docx"),
    ("开户资料清单", "txt"),
    ("路演材料", "zip"),
    ("业绩报表{m}月", "xlsx"),
    ("{ins}条款", "pdf"),
    ("会议纪要", "docx"),
    ("客户回访记录", "xlsx"),
    ("产品费率表", "xlsx"),
    ("理赔材料清单", "txt"),
)
LARGE_FILE_NAMES: tuple[tuple[str, str], ...] = (
    ("{short}年度产品路演", "pptx"),
    ("季度投资策略报告（完整版）", "pdf"),
    ("培训视频课件合集", "zip"),
    ("客户资料扫描件", "pdf"),
    ("{product}尽调报告", "pdf"),
)
DOC_TITLES: tuple[str, ...] = (
    "{m}月业绩统计表",
    "客户回访记录",
    "{product}上架评审意见",
    "周会纪要",
    "合规自查清单",
    "值班安排表",
    "新客户开户台账",
)
TODO_TITLES: tuple[tuple[str, str], ...] = (
    ("跟进{cname}续保", "{day}前联系客户确认续保意向"),
    ("提交{m}月业绩报表", "下班前发到群里"),
    ("{product}双录资料归档", "本周内完成"),
    ("准备路演PPT", "{day}前给{ename2}审核"),
    ("客户风险测评到期提醒", "本周到期客户共{n}位，逐一电话通知"),
)
CALENDAR_TITLES: tuple[str, ...] = (
    "客户拜访：{cname}",
    "{product}产品路演",
    "季度复盘会",
    "合规培训",
    "客户答谢会筹备会",
)
MEETING_TOPICS: tuple[str, ...] = (
    "{product}产品培训",
    "周例会",
    "{m}月业绩复盘",
    "客户投诉处理专题会",
    "合规检查沟通会",
)

# --- templates ---------------------------------------------------------------------------
# An entry is "template" or "label label|template"; a category-wide label set is in _CATEGORY_LABELS.

_T: dict[str, tuple[str, ...]] = {
    "c_greet": (
        "在吗",
        "在吗？",
        "{ecall}你好",
        "{ecall}，在吗",
        "你好，请问是{short}的理财顾问吗？",
        "早上好{ecall}",
        "您好，打扰一下",
        "hi，{ecall}",
        "下午好，有个事想问问",
        "{ecall}，忙不忙？",
    ),
    "e_greet": (
        "{ccall}您好，我在的，请讲",
        "在的{ccall}，有什么可以帮您？",
        "您好，我是{short}的理财顾问{ename}，很高兴为您服务",
        "在呢，您说[微笑]",
        "您好{ccall}，刚开完会，您说",
        "{ccall}，您好！请问有什么需要？",
    ),
    "c_ask_product": (
        "{product}现在还能买吗？",
        "{product}业绩比较基准是多少？",
        "{product}起投金额是多少？",
        "我之前买的{product}什么时候到期？",
        "{product}的风险等级是多少？R2还是R3？",
        "你们最近有没有期限短一点的产品？{days}天左右的",
        "我有{wan}万闲钱，想买点稳健的，有什么推荐？",
        "{ins}每年保费大概多少？我今年{age}岁",
        "想给孩子买份教育金，{ins}怎么样？",
        "最近行情不好，我持有的{product}要不要赎回？",
        "{product}和{product2}有什么区别？",
        "{product}的封闭期多长？中途能赎回吗？",
        "我看{product}最近净值跌了，怎么回事？",
        "养老年金怎么领取？{age}岁开始领合适吗？",
        "{product}今年以来收益怎么样？",
    ),
    "e_product": (
        "{product}目前业绩比较基准{rate}%，期限{days}天，{wan}万起购",
        "这款是R{risk}级产品，和您的风险测评结果是匹配的",
        "{product}本周还有额度，{weekday}截止认购",
        "{product}主要投资债券和存单，净值波动比较小",
        "{ins}按您{age}岁投保的话，年交保费大概{yuan}元，保额{wan}万",
        "过往业绩不代表未来表现，这个我得跟您说清楚",
        "我把{product}的资料发您，您先看看",
        "这个产品已经售罄了，下一期预计{weekday}开放",
        "建议您分散一下，{pct}%放{product}，剩下的配置{product2}",
        "{product}的管理费是每年{fee}%，没有申购费",
        "{product}成立以来年化大概{rate}%，最大回撤{pct}%左右",
    ),
    "c_followup": (
        "那收益是按年算的吗？",
        "到期之后本金和收益什么时候到账？",
        "手续费怎么收？",
        "可以用手机银行买吗？",
        "如果中途急用钱怎么办？",
        "那{product2}呢？",
        "风险大吗？",
        "需要带什么资料去网点？",
        "这个能定投吗？",
        "收益是每天都有吗？",
        "最低能买多少？",
        "要签纸质合同吗？",
        "我老公也能用他的名字买吗？",
    ),
    "e_answer": (
        "收益按日计提，到期一次性兑付",
        "到期后T+1个工作日到账",
        "是的，手机银行APP里搜索产品名称就可以购买",
        "中途不能赎回，急用钱的话建议您留一部分流动资金",
        "带上身份证和本人银行卡就可以",
        "可以定投，每月最低{yuan}元",
        "风险等级是R{risk}，历史最大回撤大概{pct}%左右",
        "线上签约就可以，电子合同具有同等效力",
        "我帮您查一下，稍等",
        "这个要看具体的产品条款，我问一下产品经理再回复您",
        "没有问题，我这边帮您预约",
        "需要本人操作，家属需要单独开户",
    ),
    "c_ack": (
        "好的",
        "好的，谢谢",
        "明白了",
        "嗯嗯",
        "收到",
        "OK",
        "好的，我考虑一下",
        "行，我跟家里人商量下",
        "知道了，谢谢{ecall}",
        "好，那我先买{wan}万试试",
        "👌",
        "好的[抱拳]",
        "了解了",
        "嗯，回头再说",
    ),
    "c_thanks": (
        "谢谢{ecall}[抱拳]",
        "太感谢了",
        "辛苦了",
        "好的，麻烦你了",
        "谢谢，你们服务真不错",
        "感谢感谢",
        "谢谢[玫瑰]",
    ),
    "c_appoint_ask": (
        "我想当面聊聊，{day}有空吗？",
        "{day}{clock}我去{branch}找你方便吗？",
        "能不能约个时间见面详细说一下？",
        "我这周{weekday}下午有空，可以见面",
    ),
    "e_appoint": (
        "{day}{clock}可以的，我在{branch}等您",
        "{weekday}上午我有客户，下午{clock}可以吗？",
        "好的，我给您预约了{day}{clock}，地址在{branch}",
        "您方便的话也可以约在{place}，离您近一些",
    ),
    "c_appoint_confirm": ("可以，就这么定了", "好的，那到时候见", "行，我准时到", "{clock}可以的", "好，地址发我一下"),
    "e_appoint_confirm": (
        "好的，我发个定位给您",
        "到了给我打电话就行",
        "我提前在一楼大厅等您",
        "已经给您登记好了，到时候见[握手]",
    ),
    "c_service": (
        "我那笔赎回怎么还没到账？",
        "手机银行登不上去了，怎么办？",
        "我想改一下预留手机号",
        "我的风险测评过期了，怎么重新做？",
        "上个月的对账单能发我一份吗？",
        "分红是自动再投资还是现金？",
        "我想把分红方式改成现金分红",
        "保单的受益人怎么变更？",
        "我想申请理赔，需要准备什么材料？",
        "定投扣款失败了，是什么原因？",
    ),
    "e_wait": ("稍等，我帮您查一下", "好的，我这边看一下", "您稍等，我问下运营同事", "收到，马上帮您处理"),
    "e_service_answer": (
        "查到了，款项已经在清算中，预计明天到账",
        "您需要在APP里重新做一下风险测评，大概五分钟",
        "理赔需要提供病历、发票和身份证复印件，我把清单发您",
        "分红方式已经帮您提交修改了，下个工作日生效",
        "扣款失败是因为卡里余额不足，下次扣款日是{day}",
        "对账单我让运营同事发到您预留的邮箱",
        "预留手机号需要本人带身份证到网点修改",
        "受益人变更需要填一张申请表，我{day}给您送过去",
    ),
    "e_followup": (
        "{ccall}您好，您的{product}下周到期，到期后有什么打算吗？",
        "{ccall}，上次您问的{product}这周开放申购了",
        "{ccall}您好，最近市场波动比较大，您持有的{product}整体还算稳健，不用太担心",
        "{ccall}好，我们{day}在{branch}有一场{topic}讲座，欢迎您参加",
        "{ccall}您好，您的保单下个月需要续期缴费，记得卡里留足余额",
    ),
    "c_reply": (
        "好的，我知道了",
        "到期先放着吧，我想想",
        "讲座几点开始？",
        "最近忙，回头再说",
        "续期是自动扣款吗？",
        "那有什么好的产品推荐？",
        "谢谢提醒",
    ),
    "e_pii_request": (
        "为了给您办理开户，麻烦发一下身份证号码和银行卡号",
        "投保需要被保人的身份证号，麻烦您提供一下",
        "麻烦您提供一下收款银行卡号，理赔款打到这张卡上",
        "您留个常用邮箱吧，电子合同发您邮箱",
    ),
    "e_ack": ("收到，我这边马上提交", "好的，资料齐了，今天帮您办好", "收到了，办好后通知您", "好的收到"),
    "e_close": (
        "好的，有问题随时联系我",
        "不客气，祝您生活愉快[微笑]",
        "好的{ccall}，有需要随时找我",
        "不客气，应该的",
        "好的，那我们保持联系",
        "好的，收到[OK]",
        "嗯嗯，有任何变动我第一时间通知您",
        "好的，那就先这样，您忙",
    ),
    "e_disclaimer": (
        "理财非存款，产品有风险，投资须谨慎",
        "温馨提示：以上信息仅供参考，不构成投资建议",
        "产品过往业绩不代表其未来表现，请您根据自身情况谨慎选择",
    ),
    "e_soothe": (
        "{ccall}非常抱歉给您带来不便，我马上帮您核实",
        "您先别着急，我已经反馈给主管了，今天一定给您回复",
        "理解您的心情，这个问题我会跟进到底",
        "非常抱歉，我们正在加急处理，有进展第一时间告诉您",
        "{ccall}，这个情况我已经登记了工单，客服主管会联系您",
    ),
    "e_escalate": ("我已经把情况报给{dept}了，他们会直接联系您", "主管{ename2}稍后给您打电话"),
    "e_holiday": (
        "{ccall}，{festival}快乐！祝您和家人身体健康，万事如意",
        "{festival}到了，{short}全体员工祝您节日快乐[玫瑰]",
        "提前祝您{festival}快乐，阖家幸福！",
    ),
    "c_ask_doc": (
        "有产品说明书吗？发我看看",
        "能把合同条款发我一份吗？",
        "上次说的资产配置方案做好了吗？",
        "你们有没有宣传资料？",
    ),
    "e_share_intro": ("好的，我发您", "方案做好了，您看一下，有问题随时沟通", "这是最新版的产品说明书"),
    "e_call_ask": (
        "{ccall}，方便的话我给您打个电话详细说？",
        "文字说不清楚，我们语音聊一下吧",
        "我现在给您打个视频，演示一下APP操作",
    ),
    "e_after_call": ("刚才说的内容我整理一下发您", "那就按电话里说的办", "通话里说的那几点，您考虑好了告诉我"),
    "c_referral": ("我朋友也想了解一下你们的产品，我把他名片推给你", "这是我同事，他想买份保险，你联系一下他"),
    "e_thanks_referral": ("太感谢您了，我马上联系他", "谢谢您的信任，我会好好服务的[抱拳]"),
    "e_disagree_reply": ("好的，理解。后续有需要可以直接电话联系我", "没关系，有问题随时打我办公电话"),
    "e_recall_fix": ("不好意思，发错了", "发错了，忽略", "抱歉刚才发错人了", "撤回一下，数字写错了"),
    "c_unanswered": (
        "unanswered|请问在吗？",
        "unanswered|我那笔赎回到账了吗？",
        "unanswered|你好，麻烦回复一下",
        "unanswered|{product}还能买吗？着急",
        "unanswered|怎么不回消息？",
        "unanswered|？？？",
        "unanswered complaint|问了好几次了都没人回，什么服务",
    ),
    "c_complain": (
        "complaint angry|你们怎么回事？{issue}",
        "complaint angry|我要投诉！{issue}",
        "complaint angry|骗子公司，当初说好的收益呢？现在亏了{pct}%",
        "complaint angry|退钱！马上给我退钱！",
        "complaint|你们这服务太差了，{issue}",
        "complaint angry|当初你说没什么风险，现在亏成这样，你怎么解释？",
        "complaint angry|打了三次客服电话都没人处理，什么破公司",
        "complaint|我对你们的服务非常不满意",
        "complaint angry|{issue}，到底有没有人管？",
        "complaint angry|买的时候说得天花乱坠，现在出了问题就没人理了",
    ),
    "c_angry": (
        "angry complaint|你们就是一群骗子！",
        "angry|别跟我打官腔，我只要我的钱",
        "angry|今天不给我说法我不会罢休的",
        "angry|你们是不是觉得老百姓好欺负？",
        "angry|我真是瞎了眼才信你们",
        "angry|一天到晚就知道敷衍",
    ),
    "c_threat": (
        "threat complaint angry|再不处理我就去银保监会举报你们",
        "threat complaint|我要去金融监管局投诉你们",
        "threat complaint|我已经打了12378热线，等着吧",
        "threat angry|信不信我找媒体曝光你们",
        "threat angry|我明天就去你们公司门口拉横幅",
        "threat|我会找律师起诉你们的",
        "threat angry complaint|我要报警，你们这是诈骗",
        "threat|再拖下去我就在网上发帖曝光",
    ),
    # risky, employee to customer
    "e_guaranteed": (
        "放心，这个产品{guar}，年化{rate}%",
        "跟您保证，{guar}，亏了算我的",
        "{product}{guar}的，比存银行强多了",
        "我做了八年，这个产品从来没亏过，{guar}",
        "内部渠道的产品，{guar}，一般人我不告诉他",
    ),
    "e_off_platform": (
        "方便加个{wx}吗？这里说话不方便",
        "加我{wx}：{wxid}，私聊细说",
        "具体的我们{wx}上聊吧，号码就是我手机号{mobile}",
        "这里公司都能看到，您加我{qq}{qqnum}",
        "有些话不方便在这说，加我私人{wx}",
        "{wx}号{wxid}，加的时候备注一下姓名",
    ),
    "e_kickback": (
        "您在我这买满{wan}万，我私人给您{kick}{pct2}个点",
        "这单成交后给您{yuan}元{kick}，别跟别人说",
        "{kick}我直接转给您，不走公司账",
        "别家没有这个{kick}，只有我这里有",
    ),
    "e_private": (
        "钱直接转到我个人卡上，我帮您操作，收益更高",
        "这笔我们走{fly}，不经过公司系统，手续费能省不少",
        "您把钱给我，我帮您买内部产品，{private}更方便",
        "合同先不签了，我们{private}，我写个收条给您",
        "这个产品公司系统里没有，属于{fly}，但是收益高",
    ),
    "e_poaching": (
        "我下个月去{competitor}了，那边产品收益更高，您的资金可以跟我一起转过去",
        "{competitor}现在有个高收益产品，比我们这里高{pct2}个点，要不您转过去？",
        "我准备跳槽去{competitor}，您的资产我到那边继续帮您打理",
        "别在这买了，{competitor}那边手续费低，我介绍您过去",
    ),
    "e_abuse": ("你烦不烦啊，说了多少遍了", "爱买不买，别浪费我时间", "你是不是听不懂人话？", "你懂什么，{sb}"),
    "e_pii_self": ("有事直接打我电话{mobile}", "我的手机号{mobile}，随时联系", "资料发我邮箱{email}就行"),
    # risky, customer
    "c_off_platform": (
        "能加你{wx}吗？{wx}上方便",
        "我{wx}号是{wxid}，你加我一下",
        "我不怎么用这个，你加我{qq}吧：{qqnum}",
        "换{wx}聊吧，{wxid}",
    ),
    "c_kickback": ("买这个有{kick}吗？", "别家都给{kick}的，你们给多少？", "你给我{pct2}个点的{kick}我就买"),
    "c_pii": (
        "身份证号{idcard}",
        "我的身份证：{idcard}，卡号{bankcard}",
        "卡号是{bankcard}，{bank}的",
        "邮箱{email}",
        "我手机号换了，新号码{mobile}",
        "身份证号码是{idcard}，手机{mobile}",
        "银行卡{bankcard}，开户行{bank}{city}分行",
        "我爱人的身份证号{idcard}，被保人写她",
        "有事打我电话：{mobile}",
    ),
    # internal
    "i_task": (
        "{ename2}，{cname}的{product}合同签了吗？",
        "明天{cname}要来{branch}，你帮我接待一下",
        "这个月的业绩报表发我一下",
        "合规那边说宣传材料要重新审核，你改一下",
        "帮我看下{cname}的风险测评过期没",
        "{product}的额度还剩多少？",
        "{cname}的保单回执收到了吗？",
        "周报今天下班前交一下",
        "下周一的路演PPT准备得怎么样了？",
        "帮我约一下{dept}的{ename2}，讨论{product}上架的事",
        "{cname}要赎回{wan}万，帮我走一下流程",
        "新客户开户资料放共享盘了，帮我审核一下",
        "客户回访表更新一下，{weekday}要交",
        "{cname}的双录视频补一下",
    ),
    "i_reply": (
        "好的",
        "收到",
        "马上",
        "没问题",
        "我看一下",
        "稍等",
        "好嘞",
        "OK",
        "已处理",
        "下午给你",
        "收到，我跟进",
        "已经签了，原件在我这",
        "还剩{wan}万左右",
        "过期了，我让客户重新做",
        "我在开会，晚点回你",
        "[OK]",
        "👍",
    ),
    "i_detail": (
        "客户那边比较急，尽量今天弄完",
        "注意一下双录要完整",
        "{clock}之前给我就行",
        "有问题直接找{ename2}",
        "材料不全的先别提交",
        "记得让客户签风险揭示书",
        "这个客户比较重要，上点心",
    ),
    "i_thanks": ("谢谢", "辛苦啦", "感谢[抱拳]", "好的，谢了"),
    "i_forward_intro": (
        "你看下这个客户的聊天记录",
        "这是{cname}跟我的聊天记录，你帮忙看看怎么回复",
        "转你一下，客户的诉求都在里面",
    ),
    "i_meeting": (
        "{day}{clock}在{room}开周会，别忘了",
        "{clock}合规培训，全员参加",
        "{product}上架评审会改到{day}了",
        "{day}上午{dept}过来对接，你也参加一下",
    ),
    "i_doc_ask": ("{product}的产品说明书最新版发我一份", "上个月的业绩报表发我一下", "路演材料在哪？发我下"),
    "i_chat": (
        "中午吃什么？",
        "今天楼下那家面馆排好长的队",
        "周末有空打球吗？",
        "晚上加班吗？",
        "咖啡要不要带一杯？",
        "这个月的指标压力好大",
        "今天地铁又晚点了",
    ),
    "i_chat_reply": (
        "随便，你定",
        "哈哈，我带饭了",
        "可以啊",
        "今晚估计要加班",
        "来一杯拿铁，谢谢",
        "谁不是呢",
        "[捂脸]",
    ),
    "i_report": (
        "今天签了{n}单，合计{wan}万",
        "本周新增客户{n}个，资产{wan}万",
        "{cname}今天追加了{wan}万",
        "这个月团队业绩完成了{pct}%",
    ),
    "ig_notice": (
        "各位，{day}{clock}在{room}开月度总结会，请准时参加",
        "【通知】系统将于今晚22:00-24:00升级维护，期间无法登录",
        "提醒：所有宣传材料对外发送前必须经过合规审核",
        "本周五下午{clock}消防演练，请大家配合",
        "【合规提示】对外宣传请使用公司统一材料，沟通中注意风险提示",
        "{product}今天开始发售，额度{wan}万，请大家抓紧",
        "请大家在{weekday}前完成客户回访表",
        "新版反洗钱培训课程已上线，请本周内完成学习",
    ),
    "ig_vote_intro": ("大家投个票", "投票选一下", "麻烦大家投一下票，今天下班前截止"),
    "ig_collect_intro": ("大家填一下这个表", "请各位今天填完这张表", "统计一下，麻烦填表"),
    "ig_celebrate": ("恭喜{ename2}本月业绩第一！发个红包", "今天签了个大单，发红包庆祝一下", "周五啦，发个红包"),
    "ig_thanks": ("谢谢老板", "恭喜恭喜", "谢谢[抱拳]", "手气最佳[呲牙]", "沾沾喜气"),
    "i_customer_pii": (
        "{cname}的身份证号{idcard}，帮我录一下系统",
        "客户银行卡号{bankcard}，{bank}，帮我核对一下",
        "客户手机号{mobile}，你回访一下",
        "客户邮箱{email}，对账单发这个",
    ),
    "i_poaching": (
        "{competitor}那边挖我，底薪给{n}万，要不要一起过去？",
        "我准备把手上的客户带去{competitor}，你也考虑下",
        "{competitor}的人找我了，说带客户过去有额外奖励",
        "听说{ename2}要带着客户去{competitor}了",
    ),
    "i_abuse": (
        "你是猪吗？这点事都办不好",
        "{sb}，客户资料又填错了",
        "废物，赶紧滚",
        "你脑子进水了吧",
        "再出错你就别干了，{sb}",
    ),
    "i_kickback": (
        "这单成了给你{pct2}个点的{kick}",
        "{product}的渠道{kick}下来了，老规矩分你一半",
        "客户那边要{kick}，你看怎么处理",
    ),
    "i_private": ("客户那笔钱先打我卡上周转一下", "这单走{fly}，别录系统", "合同先别录入，我们{private}"),
    "i_off_platform": ("跟客户说事别在这上面说，加{wx}聊", "公司能看到聊天记录，敏感的事{wx}上说"),
    # customer groups
    "g_broadcast": (
        "各位早上好！今日市场要闻：{market}",
        "【早盘播报】{market}，{advice}",
        "{product}本周开放申购，{wan}万起购，业绩比较基准{rate}%，有兴趣的朋友可以单独联系我",
        "【收评】{market}，{advice}",
    ),
    "g_activity": (
        "【活动通知】{day}{clock}在{branch}举办{topic}讲座，名额有限，欢迎报名",
        "本周六上午有亲子财商课堂，地址：{branch}",
        "{festival}客户答谢会报名开始啦，欢迎大家携家属参加",
    ),
    "g_c_ask": (
        "请问{product}还有额度吗？",
        "讲座可以带家属吗？",
        "今天大跌，大家怎么看？",
        "{product}净值在哪里查？",
        "这个月的讲座是线上还是线下？",
        "@{ename} 我的定投扣款了吗？",
    ),
    "g_e_answer": (
        "还有的，需要的话单独联系我",
        "可以带家属的，欢迎",
        "短期波动不用太担心，坚持长期配置",
        "APP首页-我的持仓里可以查",
        "线下，地址在{branch}",
        "已经扣款成功了[OK]",
    ),
    "g_c_reply": ("收到", "谢谢分享", "👍", "学习了", "[强]", "好的", "报名+1", "感谢老师", "谢谢[抱拳]"),
    "g_c_chat": (
        "今天又跌了[捂脸]",
        "大家早上好",
        "这波行情看不懂",
        "有没有人买了{product}？",
        "周末去讲座的举个手",
        "早[太阳]",
        "基金又绿了",
        "最近{product}表现还不错",
    ),
    "g_c_join": ("报名，{n}个人", "我参加", "+1", "带家属{n}人"),
    "g_spam": (
        "内部消息，带你炒股月入十万，加{wx}：{wxid}",
        "免费领取牛股，加我{qq}{qqnum}",
        "有想做兼职的加我{wx}，日结",
    ),
    "g_e_warn": ("请勿在群内发广告，谨防诈骗", "提醒各位：本群不推荐任何个股，谨防上当受骗", "已移除，请大家注意防范"),
    "g_festival": ("{festival}快乐！给大家发个红包", "感谢各位一直以来的支持，发个红包"),
}

_CATEGORY_LABELS: dict[str, str] = {
    "e_guaranteed": "sensitive:guaranteed_return",
    "e_off_platform": "sensitive:off_platform",
    "e_kickback": "sensitive:kickback",
    "e_private": "sensitive:private_dealing",
    "e_poaching": "sensitive:poaching",
    "e_abuse": "sensitive:abuse",
    "c_off_platform": "sensitive:off_platform",
    "c_kickback": "sensitive:kickback",
    "i_poaching": "sensitive:poaching",
    "i_abuse": "sensitive:abuse",
    "i_kickback": "sensitive:kickback",
    "i_private": "sensitive:private_dealing",
    "i_off_platform": "sensitive:off_platform",
    "g_spam": "sensitive:off_platform",
}

TEMPLATES: dict[str, tuple[tuple[str, frozenset[str]], ...]] = {}
for _cat, _entries in _T.items():
    _base = frozenset(_CATEGORY_LABELS.get(_cat, "").split())
    _parsed: list[tuple[str, frozenset[str]]] = []
    for _entry in _entries:
        _labels, _sep, _text = _entry.rpartition("|")
        _parsed.append((_text, _base | frozenset(_labels.split())))
    TEMPLATES[_cat] = tuple(_parsed)

# --- evasion helpers --------------------------------------------------------------------

ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060")
PUNCT = (".", "·", "*", "/", "-", "_", "。")
# fmt: off
TRADITIONAL: dict[str, str] = {
    "飞单": "飛單", "私单": "私單", "稳赚不赔": "穩賺不賠", "保证收益": "保證收益", "零风险": "零風險",
    "返点": "返點", "好处费": "好處費", "私下转账": "私下轉賬",
}
# fmt: on
FULLWIDTH_OFFSET = 0xFEE0
CN_DIGITS = ("零", "一", "二", "三", "四", "五", "六", "七", "八", "九")


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + FULLWIDTH_OFFSET) if "!" <= c <= "~" else c for c in text)


def idcard_check_char(first17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(first17, weights, strict=True))
    return "10X98765432"[total % 11]


def luhn_check_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # positions that get doubled once the check digit is appended
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


class TextMaker:
    """Fills templates; ``make`` returns the text and its labels."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._labels: set[str] = set()
        self._ctx: Mapping[str, str] = {}
        self._memo: dict[str, str] = {}
        r = rng
        ch = r.choice
        self._gen: dict[str, Callable[[], str]] = {
            "product": lambda: ch(PRODUCTS),
            "product2": lambda: ch([p for p in PRODUCTS if p != self["product"]]),
            "ins": lambda: ch(INSURANCE),
            "wan": lambda: str(ch((5, 10, 20, 30, 50, 80, 100, 150, 200, 300))),
            "yuan": lambda: str(r.randrange(5, 200) * 100),
            "rate": lambda: f"{r.uniform(1.8, 4.8):.2f}",
            "ratef": lambda: f"{r.uniform(1.9, 2.9):.2f}",
            "pctf": lambda: f"{r.uniform(0.05, 2.5):.2f}",
            "yi": lambda: str(r.randrange(20, 9000)),
            "days": lambda: str(ch((30, 63, 91, 180, 270, 365))),
            "risk": lambda: str(r.randint(1, 4)),
            "pct": lambda: str(r.randint(2, 30)),
            "pct2": lambda: str(r.randint(1, 5)),
            "fee": lambda: f"{r.uniform(0.15, 1.5):.2f}",
            "age": lambda: str(r.randint(25, 62)),
            "n": lambda: str(r.randint(2, 9)),
            "m": lambda: str(r.randint(1, 12)),
            "weekday": lambda: ch(("周一", "周二", "周三", "周四", "周五")),
            "day": lambda: ch(
                (
                    "今天",
                    "明天",
                    "后天",
                    "周三",
                    "周四",
                    "下周一",
                    "下周二",
                    f"{r.randint(1, 12)}月{r.randint(1, 28)}日",
                )
            ),
            "clock": lambda: ch(
                ("9:30", "10:00", "10:30", "11:00", "14:00", "14:30", "15:00", "16:00", "下午三点", "上午十点")
            ),
            "branch": lambda: ch(BRANCHES),
            "place": lambda: ch(PLACES),
            "room": lambda: ch(ROOMS),
            "festival": lambda: ch(FESTIVALS),
            "topic": lambda: ch(TOPICS),
            "competitor": lambda: ch(COMPETITORS),
            "issue": lambda: self._fill(ch(ISSUES)),
            "market": lambda: self._fill(ch(MARKET)),
            "advice": lambda: ch(ADVICE),
            "bank": lambda: ch(BANKS)[0],
            "city": lambda: ch(CITIES),
            "guar": lambda: self._keyword(("保本保息", "稳赚不赔", "保证收益", "零风险", "保本保收益")),
            "kick": lambda: self._keyword(("返利", "回扣", "返点", "好处费")),
            "fly": lambda: self._keyword(("飞单", "私单")),
            "private": lambda: self._keyword(("私下交易", "私下转账")),
            "wx": self._wx,
            "qq": self._qq,
            "qqnum": self._qqnum,
            "wxid": self._wxid,
            "sb": self._sb,
            "mobile": self._mobile_pii,
            "idcard": self._idcard,
            "bankcard": self._bankcard,
            "email": self._email,
        }

    def make(self, category: str, ctx: Mapping[str, str]) -> tuple[str, frozenset[str]]:
        template, labels = self._rng.choice(TEMPLATES[category])
        self._labels = set(labels)
        self._ctx = ctx
        self._memo = {}
        text = self._fill(template)
        return text, frozenset(self._labels)

    def fill(self, template: str, ctx: Mapping[str, str]) -> str:
        """Fill a benign data template (titles, file names ...); labels are discarded."""
        self._ctx = ctx
        self._memo = {}
        return self._fill(template)

    def _fill(self, template: str) -> str:
        return template.format_map(self) if "{" in template else template

    def __getitem__(self, key: str) -> str:
        """A slot's value; the same slot repeated in one template gets the same value."""
        value = self._ctx.get(key)
        if value is None:
            value = self._memo.get(key)
            if value is None:
                value = self._memo[key] = self._gen[key]()
        return value

    # --- risky slots ---

    def _keyword(self, words: tuple[str, ...]) -> str:
        rng = self._rng
        word = rng.choice(words)
        if rng.random() >= 0.45:
            return word
        options = ["spaced", "punct", "zerowidth"]
        if word in TRADITIONAL:
            options += ["traditional", "traditional"]
        how = rng.choice(options)
        self._labels.add("evasion:" + how)
        if how == "spaced":
            return " ".join(word)
        if how == "punct":
            return rng.choice(PUNCT).join(word)
        if how == "zerowidth":
            return rng.choice(ZERO_WIDTH).join(word)
        return TRADITIONAL[word]

    def _wx(self) -> str:
        rng = self._rng
        roll = rng.random()
        if roll < 0.45:
            return "微信"
        if roll < 0.75:
            self._labels.add("evasion:homophone")
            return rng.choice(("V信", "薇信", "威信", "vx", "wx", "VX", "WX", "徽信", "卫星"))
        if roll < 0.83:
            self._labels.update(("evasion:homophone", "evasion:fullwidth"))
            return rng.choice(("ＶＸ", "ｖｘ", "ＷＸ", "Ｖ信"))
        if roll < 0.89:
            self._labels.add("evasion:spaced")
            return "微 信"
        if roll < 0.95:
            self._labels.add("evasion:zerowidth")
            return "微" + rng.choice(ZERO_WIDTH) + "信"
        self._labels.add("evasion:punct")
        return "微" + rng.choice(PUNCT) + "信"

    def _qq(self) -> str:
        rng = self._rng
        roll = rng.random()
        if roll < 0.5:
            return "QQ"
        if roll < 0.85:
            self._labels.add("evasion:homophone")
            return rng.choice(("扣扣", "企鹅号", "球球", "qq号"))
        if roll < 0.93:
            self._labels.add("evasion:fullwidth")
            return "ＱＱ"
        self._labels.add("evasion:spaced")
        return "Q Q"

    def _qqnum(self) -> str:
        num = str(self._rng.randrange(10_000_000, 3_999_999_999))
        if self._rng.random() < 0.2:
            self._labels.add("evasion:fullwidth")
            return fullwidth(num)
        return num

    def _wxid(self) -> str:
        rng = self._rng
        roll = rng.random()
        if roll < 0.3:
            return self._mobile_pii()
        sur = rng.choice(SURNAMES)[1].lower()
        given = rng.choice(GIVEN)[1].lower()
        ident = rng.choice(
            (
                f"{sur}{given}{rng.randint(60, 99)}",
                f"{sur}_{given}{rng.randint(100, 9999)}",
                f"wxid_{''.join(rng.choices('abcdefghijkmnpqrstuvwxyz0123456789', k=14))}",
            )
        )
        if roll > 0.85:
            self._labels.add("evasion:fullwidth")
            return fullwidth(ident)
        return ident

    def _sb(self) -> str:
        rng = self._rng
        roll = rng.random()
        if roll < 0.5:
            return "傻逼"
        if roll < 0.85:
            self._labels.add("evasion:homophone")
            return rng.choice(("SB", "傻X", "煞笔", "沙比", "sb"))
        self._labels.add("evasion:spaced")
        return "傻 逼"

    # --- PII slots ---

    def mobile_number(self) -> str:
        return self._rng.choice(MOBILE_PREFIXES) + f"{self._rng.randrange(100_000_000):08d}"

    def _mobile_pii(self) -> str:
        rng = self._rng
        self._labels.add("pii:mobile")
        num = self.mobile_number()
        roll = rng.random()
        if roll < 0.55:
            return num
        if roll < 0.7:
            return f"{num[:3]} {num[3:7]} {num[7:]}"
        if roll < 0.8:
            return f"{num[:3]}-{num[3:7]}-{num[7:]}"
        if roll < 0.9:
            self._labels.add("evasion:fullwidth")
            return fullwidth(num)
        return "".join(CN_DIGITS[int(d)] for d in num)

    def _idcard(self) -> str:
        rng = self._rng
        year = rng.randint(1950, 2004)
        month = rng.randint(1, 12)
        day = rng.randint(1, 28)
        body = f"{rng.choice(ID_REGIONS)}{year:04d}{month:02d}{day:02d}{rng.randrange(1000):03d}"
        check = idcard_check_char(body)
        if rng.random() < 0.2:
            self._labels.add("pii:idcard-invalid")
            check = rng.choice([c for c in "0123456789X" if c != check])
        else:
            self._labels.add("pii:idcard-valid")
        return body + check

    def _bankcard(self) -> str:
        rng = self._rng
        _name, bin_, length = rng.choice(BANKS)
        body = bin_ + "".join(rng.choices("0123456789", k=length - len(bin_) - 1))
        check = luhn_check_digit(body)
        if rng.random() < 0.2:
            self._labels.add("pii:bankcard-invalid")
            check = str((int(check) + rng.randint(1, 9)) % 10)
        else:
            self._labels.add("pii:bankcard-valid")
        number = body + check
        if rng.random() < 0.3:
            return " ".join(number[i : i + 4] for i in range(0, len(number), 4))
        return number

    def _email(self) -> str:
        rng = self._rng
        self._labels.add("pii:email")
        sur = rng.choice(SURNAMES)[1].lower()
        given = rng.choice(GIVEN)[1].lower()
        local = rng.choice(
            (f"{sur}{given}", f"{sur}.{given}", f"{given}{sur}{rng.randint(1, 99)}", f"{sur}{rng.randint(1970, 2000)}")
        )
        if rng.random() < 0.3:
            return f"{rng.randrange(10_000_000, 2_999_999_999)}@qq.com"
        return f"{local}@{rng.choice(MAIL_DOMAINS)}"
