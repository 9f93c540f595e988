import { Decimal } from "decimal.js";
import { formatMoney } from "../payments/money.js";
import type { InvoiceView } from "./build-statement.js";
import { count, dateLabel } from "./format.js";
import { contentWidth, newDocument, page, table, text } from "./pdf-layout.js";

export interface Seller {
  name: string;
  addressLines: string[];
  taxId: string;
}

/** One invoice as a PDF; the same invoice always renders to the same bytes. */
export function renderInvoice(invoice: InvoiceView, seller: Seller): PDFKit.PDFDocument {
  const doc = newDocument({ title: `Invoice ${invoice.number}`, createdAt: invoice.issuedAt });
  const money = (minor: bigint) => formatMoney(minor, invoice.currency);
  doc.fontSize(20);
  text(doc, "Invoice", page.margin, page.margin, { weight: "bold" });
  doc.fontSize(10);
  text(doc, invoice.number, page.margin, page.margin + 28, { weight: "bold" });
  doc.save().rotate(-12, { origin: [page.margin + contentWidth - 70, page.margin + 20] });
  doc.roundedRect(page.margin + contentWidth - 120, page.margin, 110, 36, 6).lineWidth(2).stroke("#1a7f37");
  doc.fontSize(20).fillColor("#1a7f37");
  text(doc, "PAID", page.margin + contentWidth - 120, page.margin + 8, { width: 110, align: "center", weight: "bold" });
  doc.restore().fillColor("black").fontSize(9);

  const blockTop = page.margin + 70;
  text(doc, "From", page.margin, blockTop, { weight: "bold" });
  [seller.name, ...seller.addressLines, `VAT ${seller.taxId}`].forEach((line, index) => text(doc, line, page.margin, blockTop + 14 + index * 12, { width: 230 }));
  const buyerX = page.margin + 260;
  text(doc, "Billed to", buyerX, blockTop, { weight: "bold" });
  [invoice.buyer.orgName, `Account ${invoice.buyer.orgId}`, ...(invoice.buyer.contact ? [`Attn. ${invoice.buyer.contact}`] : [])]
    .forEach((line, index) => text(doc, line, buyerX, blockTop + 14 + index * 12, { width: contentWidth - 260 }));

  const detailsTop = blockTop + 90;
  [["Invoice number", invoice.number], ["Issue date", dateLabel(invoice.issuedAt, invoice.buyer.timeZone)],
    ["Payment reference", invoice.paymentReference], ["Currency", invoice.currency], ["Status", "Paid"]]
    .forEach(([label, value], index) => {
      text(doc, label!, page.margin, detailsTop + index * 13, { weight: "bold" });
      text(doc, value!, page.margin + 120, detailsTop + index * 13, { width: contentWidth - 120 });
    });

  doc.y = detailsTop + 80;
  table(doc, [
    { header: "Description", width: 215 }, { header: "Quantity", width: 80, align: "right" },
    { header: "Unit price", width: 100, align: "right" }, { header: "Amount", width: 100, align: "right" },
  ], [[
    "Photo-processing credits", count(invoice.credits), `${new Decimal(invoice.unitPrice).toFixed()} ${invoice.currency}`, money(invoice.subtotalMinor),
  ]]);
  doc.y += 10;
  const taxPercent = new Decimal(invoice.taxRate).times(100).toFixed();
  [["Subtotal", money(invoice.subtotalMinor)], [`Tax (${taxPercent} %)`, money(invoice.taxMinor)], ["Total", money(invoice.totalMinor)]]
    .forEach(([label, value], index) => {
      const y = doc.y + index * 15;
      text(doc, label!, page.margin + 295, y, { width: 100, weight: index === 2 ? "bold" : "body" });
      text(doc, value!, page.margin + 395, y, { width: 94, align: "right", weight: index === 2 ? "bold" : "body" });
    });
  doc.y += 60;
  text(doc, `Paid in full on ${dateLabel(invoice.issuedAt, invoice.buyer.timeZone)}. Thank you.`, page.margin, doc.y, { width: contentWidth });
  doc.end();
  return doc;
}
