import { formatMoney } from "../payments/money.js";
import type { StatementView } from "./build-statement.js";
import { count, dateLabel, monthLabel, transactionTypeLabels, usageTypeLabels } from "./format.js";
import { contentWidth, ensureRoom, heading, newDocument, page, table, text } from "./pdf-layout.js";

/**
 * The monthly usage report, laid out for a person: header, summary, the four
 * monthly cards, usage by type and by event, free vs paid, a daily bar chart,
 * and the month's credit additions. Returns the document as a stream: call
 * sites pipe it (to mail, to a file) rather than hold it.
 */
export function renderUsageReport(view: StatementView): PDFKit.PDFDocument {
  const doc = newDocument({ title: `Usage statement ${view.month} — ${view.org.name}`, createdAt: view.generatedAt });
  const zone = view.org.timeZone;

  doc.fontSize(18);
  text(doc, view.org.name, page.margin, page.margin, { weight: "bold", width: contentWidth });
  doc.fontSize(11);
  text(doc, `Usage statement — ${monthLabel(view.month)}`, page.margin, doc.y + 4);
  doc.fontSize(9).fillColor("#444444");
  text(doc, `Generated ${dateLabel(view.generatedAt, zone)} · Time zone ${zone} · Currency ${view.org.currency} · ` +
    (view.org.costPerCredit ? `Cost per credit ${view.org.costPerCredit} ${view.org.currency}` : "Custom billing"), page.margin, doc.y + 4, { width: contentWidth });
  doc.fillColor("black");
  doc.y += 6;

  heading(doc, "Summary");
  table(doc, [{ header: "", width: 250 }, { header: "Credits", width: 120, align: "right" }], [
    ["Balance at the start of the month", count(view.balanceAtStart)],
    ["Balance at the end of the month", count(view.balanceAtEnd)],
    ["Credits used", count(view.creditsUsed)],
    ["Credits added", count(view.creditsAdded)],
    ["Net", count(view.netCredits)],
    ["Usage transactions", count(view.usageTransactionCount)],
  ]);
  drawCards(doc, view);

  heading(doc, "Usage by type");
  if (view.creditsUsed === 0 && view.usageTransactionCount === 0) {
    text(doc, "No usage this month.", page.margin, doc.y);
    doc.y += 14;
  } else {
    table(doc, [{ header: "Usage type", width: 250 }, { header: "Credits", width: 120, align: "right" }, { header: "Runs", width: 100, align: "right" }],
      view.usageByType.map((row) => [usageTypeLabels[row.usageType] ?? row.usageType, count(row.credits), count(row.runs)]));
    doc.y += 4;
    text(doc, `Of the credits used, ${count(view.freeCredits)} were free credits and ${count(view.paidCredits)} paid credits (net of refunds).`, page.margin, doc.y, { width: contentWidth });
    doc.y += 14;
    drawDailyChart(doc, view);
  }

  heading(doc, "Credit additions");
  if (view.additions.length === 0) {
    text(doc, "No credits were added this month.", page.margin, doc.y);
    doc.y += 14;
  } else {
    table(doc, [{ header: "Date", width: 90 }, { header: "Type", width: 100 }, { header: "Credits", width: 80, align: "right" }, { header: "Reference", width: 225 }],
      view.additions.map((row) => [dateLabel(row.at, zone), transactionTypeLabels[row.type] ?? row.type, count(row.credits), row.reference ?? ""]));
  }
  if (view.spendMinor !== null) {
    doc.y += 4;
    text(doc, `Spend this month: ${formatMoney(view.spendMinor, view.org.currency)} (${view.invoices.length} invoice${view.invoices.length === 1 ? "" : "s"}, attached).`, page.margin, doc.y, { width: contentWidth });
    doc.y += 14;
  }

  heading(doc, "Usage by event");
  if (view.usageByEvent.length === 0) {
    text(doc, "No usage this month.", page.margin, doc.y);
  } else {
    table(doc, [
      { header: "Event", width: 260 }, { header: "Event id", width: 70, align: "right" },
      { header: "Credits", width: 85, align: "right" }, { header: "Runs", width: 80, align: "right" },
    ], view.usageByEvent.map((row) => [row.eventName, String(row.eventId), count(row.creditsUsed - row.creditsRefunded), count(row.runs)]));
  }
  doc.end();
  return doc;
}

function drawCards(doc: PDFKit.PDFDocument, view: StatementView): void {
  heading(doc, "The last four months");
  const gap = 10;
  const width = (contentWidth - 3 * gap) / 4;
  const height = 74;
  ensureRoom(doc, height + 10);
  const top = doc.y;
  view.cards.forEach((card, index) => {
    const x = page.margin + index * (width + gap);
    doc.roundedRect(x, top, width, height, 4).lineWidth(0.7).stroke(card.month === view.month ? "#1f6feb" : "#bbbbbb");
    doc.fontSize(10);
    text(doc, monthLabel(card.month), x + 8, top + 7, { weight: "bold", width: width - 16 });
    doc.fontSize(8);
    [`Used ${count(card.creditsUsed)}`, `Added ${count(card.creditsAdded)}`, `Net ${count(card.netCredits)}`, `${count(card.usageTransactionCount)} usage transactions`]
      .forEach((line, row) => text(doc, line, x + 8, top + 24 + row * 11, { width: width - 16 }));
  });
  doc.fontSize(9);
  doc.y = top + height + 8;
}

function drawDailyChart(doc: PDFKit.PDFDocument, view: StatementView): void {
  const chartHeight = 110;
  ensureRoom(doc, chartHeight + 50);
  text(doc, "Credits used per day", page.margin, doc.y, { weight: "bold" });
  const top = doc.y + 16;
  const left = page.margin + 34;
  const width = contentWidth - 34;
  const max = Math.max(1, ...view.daily);
  const slot = width / view.daily.length;
  doc.moveTo(left, top).lineTo(left, top + chartHeight).lineTo(left + width, top + chartHeight).lineWidth(0.5).stroke("#999999");
  doc.fontSize(7).fillColor("#444444");
  doc.text(count(max), page.margin, top - 3, { width: 30, align: "right" });
  doc.text("0", page.margin, top + chartHeight - 6, { width: 30, align: "right" });
  view.daily.forEach((credits, index) => {
    const barHeight = (credits / max) * chartHeight;
    if (barHeight > 0) doc.rect(left + index * slot + 1, top + chartHeight - barHeight, Math.max(1, slot - 2), barHeight).fill("#1f6feb");
    if ((index + 1) % 5 === 0 || index === 0) {
      doc.fillColor("#444444").text(String(index + 1), left + index * slot - 4, top + chartHeight + 3, { width: slot + 8, align: "center" });
    }
  });
  doc.fillColor("black").fontSize(9);
  doc.y = top + chartHeight + 18;
}
