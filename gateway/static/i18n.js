// Words of the dashboard in English and Chinese, and what each message of the single window means.
// Document and message names follow domain.md (报关单, CEB messages, receipt codes 120/800/899).
(() => {
"use strict";

const UI = {
  en: {
    skip: "Skip to the board",
    title: "Single window · trainer's dashboard 培训看板",
    offline: "offline", live: "live", connecting: "connecting…",
    api_key: "API key", run_pace: "Run pace",
    pace: "Pace", pace_run: "run's pace", pace_instant: "instant", pace_demo: "demo (a few s a stage)",
    pace_step: "step (trainer advances)",
    composer: "New declaration", direction: "Direction", export: "export", import: "import",
    trade_mode: "Trade mode", scenario: "Scenario", scenario_none: "seeded simulation decides",
    body: "Declaration (JSON, editable)", submit: "Declare once ▶",
    board: "Live board", declaration: "Declaration", status: "Status",
    lane_customs: "Customs 海关", lane_inspection: "Inspection 商检", lane_forex: "Forex 外汇",
    lane_tax: "Tax 税务",
    board_empty: "No declaration yet: open New declaration (N), pick an example and declare.",
    composer_open: "＋ New declaration", close: "Close ✕", present: "Presentation",
    more: (shown, total, moving) => `The ${shown} most recently moved of ${total} declarations in this run (${moving} still moving); the class view counts every one.`,
    timeline: "Timeline", saga: "Saga diagram", class_view: "Class view",
    select_hint: "Select a declaration on the board (click, or Tab and Enter).",
    reset_run: "Reset the run", since: (t) => `Run started ${t}`,
    keys_help: "Keys: N new declaration · P presentation · L language · S declare · A advance the selected declaration · 1 2 3 tabs · ↑ ↓ move on the board",
    advance: "Advance ▶", advanced: (types) => `Released: ${types}`,
    nothing_held: "Nothing to advance: an agency is still working.",
    submitted_ok: (id) => `Submitted ${id}`, error: "Error",
    time: "Time", agency: "Agency", what: "What happened", why: "Why / figures",
    stage_times: "Time per stage", stage: "Stage", took: "Took", total: "Total",
    show_status: "show status messages",
    declarations: "Declarations", by_status: "By status", channels: "Channel mix",
    refunds_paid: "Refunds paid", median_stage: "Median time per stage", events: "status changes",
    dropped: (n) => `${n} board updates sampled away for this page`,
    saga_table: "Table (direction, trade modes)",
    current_state: (s) => `Selected declaration is in: ${s}`, no_selection: "No declaration selected",
    channel: "channel", held: "waiting for the trainer", demo_wait: "officer working…",
    resent: (n, at) => `↻ sent ${n} times (no answer in time), last at ${at}`,
    examples: {
      "0110": "0110 phones export", "9610": "9610 parcel export", "1210": "1210 bonded import",
      "9710": "9710 B2B export", "9810": "9810 overseas warehouse",
    },
  },
  zh: {
    skip: "跳到看板",
    title: "培训看板 · Trainer's dashboard",
    offline: "离线", live: "实时", connecting: "连接中…",
    api_key: "API 密钥", run_pace: "本场节奏",
    pace: "节奏", pace_run: "本场节奏", pace_instant: "即时", pace_demo: "演示（每环节数秒）",
    pace_step: "单步（讲师推进）",
    composer: "新申报", direction: "进出口", export: "出口", import: "进口",
    trade_mode: "监管方式", scenario: "场景", scenario_none: "按种子模拟",
    body: "申报数据（JSON，可编辑）", submit: "一次申报 ▶",
    board: "实时看板", declaration: "申报", status: "状态",
    lane_customs: "海关 Customs", lane_inspection: "商检 Inspection", lane_forex: "外汇 Forex",
    lane_tax: "税务 Tax",
    board_empty: "尚无申报：打开“新申报”（N），选择示例并申报。",
    composer_open: "＋ 新申报", close: "关闭 ✕", present: "演示模式",
    more: (shown, total, moving) => `显示本场 ${total} 票中最近变动的 ${shown} 票（${moving} 票在途）；全部数字见“全班统计”。`,
    timeline: "时间线", saga: "流程图", class_view: "全班统计",
    select_hint: "在看板上选择一票申报（点击，或 Tab 再回车）。",
    reset_run: "重新开始本场", since: (t) => `本场开始于 ${t}`,
    keys_help: "快捷键：N 新申报 · P 演示模式 · L 切换语言 · S 申报 · A 推进所选申报 · 1 2 3 切换标签 · ↑ ↓ 在看板上移动",
    advance: "推进 ▶", advanced: (types) => `已放行指令：${types}`,
    nothing_held: "无可推进：机构仍在处理。",
    submitted_ok: (id) => `已提交 ${id}`, error: "错误",
    time: "时间", agency: "机构", what: "发生了什么", why: "原因 / 数字",
    stage_times: "各环节用时", stage: "环节", took: "用时", total: "合计",
    show_status: "显示状态消息",
    declarations: "申报数", by_status: "按状态", channels: "通道分布",
    refunds_paid: "已退税", median_stage: "各环节用时中位数", events: "状态变更",
    dropped: (n) => `本页看板已抽样略去 ${n} 次更新`,
    saga_table: "流程表（进出口、监管方式）",
    current_state: (s) => `所选申报当前处于：${s}`, no_selection: "未选择申报",
    channel: "通道", held: "等待讲师推进", demo_wait: "关员处理中…",
    resent: (n, at) => `↻ 超时未答复，共发送 ${n} 次，最后一次 ${at}`,
    examples: {
      "0110": "0110 一般贸易 手机出口", "9610": "9610 跨境直邮包裹", "1210": "1210 保税进口",
      "9710": "9710 跨境B2B直接出口", "9810": "9810 海外仓出口",
    },
  },
};

const AGENCY = {
  customs: { en: "Customs", zh: "海关" },
  inspection: { en: "Inspection & quarantine", zh: "检验检疫" },
  forex: { en: "Forex (SAFE / bank)", zh: "外汇（外汇局/银行）" },
  tax: { en: "Tax bureau", zh: "税务局" },
  gateway: { en: "Single window", zh: "单一窗口" },
  trader: { en: "Trader", zh: "企业" },
};

const STATE = {
  customs_review: { en: "customs review", zh: "海关审核" },
  inspection: { en: "inspection", zh: "检验检疫" },
  detaining: { en: "detaining goods", zh: "扣留中" },
  release_pending: { en: "awaiting release", zh: "待放行" },
  closing_and_settling: { en: "closing ∥ settling", zh: "结关 ∥ 结汇" },
  closing_and_paying: { en: "closing ∥ payment", zh: "结关 ∥ 付汇" },
  settling: { en: "settling forex", zh: "结汇中" },
  closing: { en: "closing (结关)", zh: "结关中" },
  paying: { en: "registering payment", zh: "付汇登记中" },
  assessing: { en: "import taxes", zh: "计征税款" },
  refunding: { en: "export refund", zh: "出口退税" },
  summarising: { en: "summary (CEB701)", zh: "汇总申报 CEB701" },
  completed: { en: "completed", zh: "完成" },
  rejected: { en: "rejected", zh: "退单" },
  failed: { en: "failed", zh: "失败" },
  cancelled: { en: "cancelled", zh: "已撤销" },
};

const STATUS = {
  submitted: { en: "submitted", zh: "已提交" },
  in_progress: { en: "in progress", zh: "处理中" },
  completed: { en: "completed", zh: "已完成" },
  rejected: { en: "rejected", zh: "已退单" },
  failed: { en: "failed", zh: "失败" },
  stalled: { en: "stalled", zh: "停滞" },
  cancelled: { en: "cancelled", zh: "已撤销" },
};

const STEP = {
  waiting: { en: "waiting", zh: "等待" },
  pending: { en: "working…", zh: "处理中…" },
  accepted: { en: "120 accepted", zh: "120 入库" },
  rejected: { en: "100 rejected", zh: "100 退单" },
  released: { en: "800 released", zh: "800 放行" },
  closed: { en: "899 closed", zh: "899 结关" },
  detained: { en: "detained", zh: "扣留" },
  passed: { en: "passed", zh: "合格" },
  failed: { en: "failed", zh: "不合格" },
  not_required: { en: "not required", zh: "免检" },
  settled: { en: "settled", zh: "已结汇" },
  registered: { en: "registered", zh: "已付汇登记" },
  refund_paid: { en: "refund paid", zh: "已退税" },
  refund_denied: { en: "refund denied", zh: "不予退税" },
  collected: { en: "taxes collected", zh: "已缴税" },
  summarised: { en: "summarised (CEB792)", zh: "已汇总（CEB792）" },
  exempt: { en: "VAT exempt (无票免税)", zh: "无票免税" },
};

const CHANNEL = {
  green: { en: "green", zh: "绿色" }, yellow: { en: "yellow", zh: "黄色" }, red: { en: "red", zh: "红色" },
  blue: { en: "blue", zh: "蓝色" },
};

// The document the filing carries, by trade mode and direction (domain.md §1).
function filingDoc(mode, direction) {
  const docs = {
    "0110": { en: "customs declaration 报关单 (combined customs and inspection)", zh: "报关单（报关报检合一）" },
    "9610export": { en: "CEB303 order, CEB505 waybill and CEB603 export inventory list", zh: "CEB303 订单、CEB505 运单、CEB603 出口清单" },
    "9610import": { en: "CEB311 order, CEB411 payment, CEB511 waybill and CEB621 import list (三单比对)", zh: "CEB311 订单、CEB411 支付单、CEB511 运单、CEB621 进口清单（三单比对）" },
    "1210": { en: "CEB621 bonded import list against the ledger 账册", zh: "CEB621 进口清单（网购保税，账册核注）" },
    "9710": { en: "报关单 under 9710 with attached document 10000004 (CBEC B2B export)", zh: "9710 报关单，随附单证 10000004 跨境B2B出口单证" },
    "9810": { en: "报关单 under 9810 with the warehouse booking note 订仓单", zh: "9810 报关单，随附订仓单" },
  };
  return docs[mode + direction] || docs[mode] || docs["0110"];
}

function money(v, cur) {
  if (v === null || v === undefined || v === "") return "";
  const n = Number(v);
  const s = Number.isFinite(n) ? n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 }) : String(v);
  return (cur && cur !== "CNY" ? cur + " " : "¥") + s;
}

// What a message means: {what, why} in one language. `d` is the declaration (direction, mode).
function describe(type, p, lang, d) {
  const zh = lang === "zh";
  const L = (en, z) => (zh ? z : en);
  const st = (s) => (STATE[s] ? STATE[s][lang] : s);
  const mode = d.trade_mode || "0110", dir = d.direction || "export";
  switch (type) {
    case "declaration.submitted":
      return { what: L("The trader declared once through the single window", "企业通过单一窗口一次申报"),
        why: `${mode} · ${L(dir, dir === "export" ? "出口" : "进口")} · ${money(totalOf(p.declaration), p.declaration && p.declaration.currency)}` };
    case "customs.declaration.file": {
      const doc = filingDoc(mode, dir);
      return { what: L("Filed with customs: ", "向海关申报：") + doc[lang], why: L("status 2 declaring → 3 sent to customs", "状态 2 申报中 → 3 已发送海关") };
    }
    case "customs.declaration.accepted":
      return { what: L(`Receipt 120: accepted into the customs database; entry no. ${p.entry_id}`, `回执 120：入库，报关单号 ${p.entry_id}`),
        why: L(`risk channel ${p.channel}`, `${(CHANNEL[p.channel] || {}).zh || p.channel}通道`) +
          (p.inspection_required ? L(`; inspection: ${p.inspection_reason || "required"}`, `；需查验：${p.inspection_reason || "布控"}`) : L("; no inspection", "；免检")) +
          ` · ${L("customs value", "完税价格")} ${money(p.total_value_cny)} (${L("rate", "汇率")} ${p.fx_rate})` };
    case "customs.declaration.rejected":
      return { what: L("Receipt 100: rejected (退单)", "回执 100：退单"), why: `${p.reason_code} ${p.field}: ${zh ? p.reason_zh : p.reason}` };
    case "inspection.goods.inspect":
      return { what: L("Customs targets the goods for inspection & quarantine (500 查验)", "海关布控，检验检疫查验（500 查验）"), why: p.reason || "" };
    case "inspection.goods.passed":
      return { what: L("Inspection & quarantine passed", "检验检疫合格"), why: L(`certificate ${p.certificate_no}`, `证书号 ${p.certificate_no}`) };
    case "inspection.goods.failed":
      return { what: L("Inspection & quarantine failed", "检验检疫不合格"), why: `${p.reason_code}: ${zh ? p.reason_zh : p.reason}` };
    case "customs.goods.detain":
      return { what: L("Customs is asked to detain the goods", "要求海关扣留货物"), why: `${p.reason_code}: ${p.reason}` };
    case "customs.goods.detained":
      return { what: L(`Receipt ${p.status_code}: goods detained`, `回执 ${p.status_code}：货物扣留`), why: `${p.reason_code}: ${p.reason}` };
    case "customs.goods.release":
      return { what: L("Every check is in: release requested", "各项查核完成，申请放行"), why: "" };
    case "customs.goods.released":
      return { what: L("Receipt 800: goods released (放行)", "回执 800：放行"), why: p.entry_id || "" };
    case "customs.declaration.close":
      return { what: dir === "export"
          ? L(`Departure (${mode === "9610" ? "CEB509 离境单" : "manifest"}): closure requested`, `离境（${mode === "9610" ? "CEB509 离境单" : "舱单核销"}），申请结关`)
          : L("Entry complete: closure requested", "入境完成，申请结关"), why: "" };
    case "customs.declaration.closed":
      return { what: L("Receipt 899: declaration closed (结关)", "回执 899：结关"), why: p.entry_id || "" };
    case "forex.receipt.settle":
      return { what: L(`Match the buyer's payment to entry ${p.entry_id} and settle it (结汇)${mode === "9610" ? "; CEB403 receipt 收款单" : ""}`,
        `核对收汇与报关单 ${p.entry_id}，办理结汇${mode === "9610" ? "；CEB403 收款单" : ""}`), why: money(p.amount, p.currency) };
    case "forex.receipt.settled":
      return { what: L("Forex receipt settled into CNY", "收汇已结汇入人民币"), why: `${money(p.amount, p.currency)} × ${p.rate} = ${money(p.amount_cny)}` };
    case "forex.payment.register":
      return { what: L(`Register the payment abroad against entry ${p.entry_id}`, `对报关单 ${p.entry_id} 办理付汇登记`) + (mode === "1210" || mode === "9610" ? L(" (CEB411 payment 支付单)", "（CEB411 支付单）") : ""), why: money(p.amount, p.currency) };
    case "forex.payment.registered":
      return { what: L("Import payment registered", "付汇已登记"), why: `${money(p.amount, p.currency)} × ${p.rate} = ${money(p.amount_cny)}` };
    case "tax.refund.apply":
      return { what: L("Export VAT refund filed with the 报关单 data (出口退税)", "凭报关单数据申报出口退税"), why: (p.lines || []).map((l) => `${l.hs_code} ${money(l.value_cny)}`).join("; ") };
    case "tax.refund.paid":
      return { what: L(`Refund approved and paid: ${money(p.refund && p.refund.amount)}`, `退税已审批并支付：${money(p.refund && p.refund.amount)}`), why: p.refund ? p.refund.formula : "" };
    case "tax.refund.denied":
      return { what: L("Refund denied", "不予退税"), why: `${p.reason_code}: ${zh ? p.reason_zh : p.reason}` };
    case "tax.import.assess":
      return { what: L("Assess import duty, consumption tax and VAT", "计征进口关税、消费税、增值税") + (mode === "1210" || mode === "9610" ? L(" (CEB816 tax bill 税单)", "（CEB816 电子税单）") : ""), why: "" };
    case "tax.import.collected":
      return { what: L(`Import taxes collected: ${money(p.total)}`, `税款已缴纳：${money(p.total)}`),
        why: `${L("duty", "关税")} ${money(p.duty && p.duty.amount)} · ${L("consumption tax", "消费税")} ${money(p.consumption_tax && p.consumption_tax.amount)} · ${L("VAT", "增值税")} ${money(p.vat && p.vat.amount)}` };
    case "customs.summary.apply":
      return { what: L(`Summarise the export lists into a 报关单 (CEB701 汇总申报) for entry ${p.entry_id}`, `清单汇总申报报关单（CEB701），清单 ${p.entry_id}`), why: L("清单核放、汇总申报: lists released one by one, declared in summary", "清单核放、汇总申报") };
    case "customs.summary.concluded":
      return { what: L(`Summary concluded (CEB792): 报关单 ${p.entry_id}`, `汇总结果（CEB792）：报关单 ${p.entry_id}`),
        why: `${p.sum_no} · ${p.period_start} – ${p.period_end} · ${money(p.total_value_cny)}` };
    case "tax.refund.exempted":
      return { what: L("9610 无票免税: exempt from VAT and consumption tax, nothing refunded", "9610 无票免税：免征增值税、消费税，不退税"),
        why: `${p.rule}: ${zh ? p.reason_zh : p.reason} · ${money(p.exempt_value)}` };
    case "declaration.status.changed":
      return { what: L("Status: ", "状态：") + `${p.previous_state ? st(p.previous_state) + " → " : ""}${st(p.state)}`, why: p.reason || "" };
    default:
      return { what: type, why: "" };
  }
}

function totalOf(decl) {
  if (!decl || !decl.items) return null;
  return decl.items.reduce((s, i) => s + Number(i.quantity) * Number(i.unit_price), 0);
}

// What a command asks, as a stage name for "time per stage".
const STAGE_OF_COMMAND = {
  "customs.declaration.file": { en: "Customs review (file → 120/100)", zh: "海关审核（申报 → 120/100）" },
  "inspection.goods.inspect": { en: "Inspection & quarantine", zh: "检验检疫" },
  "customs.goods.release": { en: "Release (→ 800)", zh: "放行（→ 800）" },
  "customs.goods.detain": { en: "Detention", zh: "扣留" },
  "customs.declaration.close": { en: "Closure (→ 899)", zh: "结关（→ 899）" },
  "forex.receipt.settle": { en: "Forex settlement", zh: "结汇" },
  "forex.payment.register": { en: "Payment registration", zh: "付汇登记" },
  "tax.refund.apply": { en: "Export refund", zh: "出口退税" },
  "tax.import.assess": { en: "Import taxes", zh: "进口税款" },
  "customs.summary.apply": { en: "Summary declaration (CEB701 → CEB792)", zh: "汇总申报（CEB701 → CEB792）" },
};

function commandLabel(type, lang) {
  const s = STAGE_OF_COMMAND[type];
  return s ? s[lang] : type;
}

window.SW = { UI, AGENCY, STATE, STATUS, STEP, CHANNEL, describe, money, commandLabel, filingDoc };
})();
