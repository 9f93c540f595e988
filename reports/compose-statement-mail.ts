import { escapeHtml } from "../core/escape-html.js";
import type { StatementView } from "./build-statement.js";
import { count, monthLabel } from "./format.js";

/** Subject and bodies of a statement email: the org, the month, and what was used where. */
export function composeStatementMail(view: StatementView): { subject: string; text: string; html: string } {
  const month = monthLabel(view.month);
  const topEvents = view.usageByEvent.slice(0, 5);
  const lines = [
    `Usage statement for ${view.org.name}, ${month}.`,
    "",
    `Credits used: ${count(view.creditsUsed)} (${count(view.usageTransactionCount)} usage transactions)`,
    `Credits added: ${count(view.creditsAdded)}`,
    `Balance: ${count(view.balanceAtStart)} at the start of the month, ${count(view.balanceAtEnd)} at the end`,
    ...(topEvents.length > 0 ? ["", "Events that used the most credits:", ...topEvents.map((e) => `  ${e.eventName} (#${e.eventId}): ${count(e.creditsUsed - e.creditsRefunded)}`)] : ["", "No usage this month."]),
    "",
    `The full report is attached as a PDF${view.invoices.length > 0 ? `, with this month's ${view.invoices.length} invoice${view.invoices.length === 1 ? "" : "s"}` : ""}.`,
  ];
  const html = `<p>Usage statement for <strong>${escapeHtml(view.org.name)}</strong>, ${escapeHtml(month)}.</p>
<table>
<tr><td>Credits used</td><td align="right">${count(view.creditsUsed)}</td></tr>
<tr><td>Credits added</td><td align="right">${count(view.creditsAdded)}</td></tr>
<tr><td>Balance at the start of the month</td><td align="right">${count(view.balanceAtStart)}</td></tr>
<tr><td>Balance at the end of the month</td><td align="right">${count(view.balanceAtEnd)}</td></tr>
</table>
${topEvents.length > 0
    ? `<p>Events that used the most credits:</p><ul>${topEvents.map((e) => `<li>${escapeHtml(e.eventName)} (#${e.eventId}): ${count(e.creditsUsed - e.creditsRefunded)}</li>`).join("")}</ul>`
    : "<p>No usage this month.</p>"}
<p>The full report is attached as a PDF${view.invoices.length > 0 ? `, with this month's invoices` : ""}.</p>`;
  return { subject: `${view.org.name}: usage statement for ${month}`, text: lines.join("\n"), html };
}
