import PDFDocument from "pdfkit";
import { FontBook, writeText } from "./fonts.js";

export const page = { width: 595.28, height: 841.89, margin: 50 };
export const contentWidth = page.width - 2 * page.margin;
const bottom = page.height - page.margin - 24;

let fontBook: FontBook | undefined;
/** One font book per process: parsing the subset tables once is enough. */
export function fonts(): FontBook {
  fontBook ??= new FontBook();
  return fontBook;
}

/** A new A4 document with our fonts; `createdAt` fixed makes the bytes repeatable. */
export function newDocument(info: { title: string; createdAt: Date }): PDFKit.PDFDocument {
  const doc = new PDFDocument({
    size: "A4", margin: page.margin, bufferPages: false, autoFirstPage: true,
    // No default font: pdfkit would parse Helvetica's metrics for every document, and we never use it.
    font: null as unknown as string,
    // Deflating every stream costs a tenth of a statement's time; the PDFs stay small (about 40 kB) without it.
    compress: false,
    info: { Title: info.title, Producer: "credits-metering", Creator: "credits-metering", CreationDate: info.createdAt },
  });
  fonts().prepare(doc);
  return doc;
}

export function text(doc: PDFKit.PDFDocument, value: string, x: number, y: number, options: Parameters<typeof writeText>[5] = {}): void {
  writeText(doc, fonts(), value, x, y, options);
}

export function heading(doc: PDFKit.PDFDocument, title: string): void {
  ensureRoom(doc, 40);
  doc.moveDown(0.6);
  const y = doc.y;
  doc.fontSize(12);
  text(doc, title, page.margin, y, { weight: "bold" });
  doc.fontSize(9);
  doc.y = y + 18;
}

export function ensureRoom(doc: PDFKit.PDFDocument, height: number): void {
  if (doc.y + height > bottom) doc.addPage();
}

export interface Column {
  header: string;
  width: number;
  align?: "left" | "right";
}

/** A table whose rows break onto new pages cleanly, with the header repeated on each. */
export function table(doc: PDFKit.PDFDocument, columns: Column[], rows: string[][]): void {
  const rowHeight = 14;
  const drawHeader = () => {
    let x = page.margin;
    const y = doc.y;
    for (const column of columns) {
      text(doc, column.header, x, y, { width: column.width - 6, align: column.align ?? "left", weight: "bold" });
      x += column.width;
    }
    doc.moveTo(page.margin, y + rowHeight - 2).lineTo(page.margin + contentWidth, y + rowHeight - 2).lineWidth(0.5).stroke("#999999");
    doc.y = y + rowHeight + 2;
  };
  doc.fontSize(9);
  ensureRoom(doc, rowHeight * 3);
  drawHeader();
  for (const row of rows) {
    if (doc.y + rowHeight > bottom) {
      doc.addPage();
      drawHeader();
    }
    const y = doc.y;
    let x = page.margin;
    row.forEach((cell, index) => {
      const column = columns[index]!;
      text(doc, cell, x, y, { width: column.width - 6, align: column.align ?? "left" });
      x += column.width;
    });
    doc.y = y + rowHeight;
  }
}

/** Collects a document's bytes (for tests and previews; mail streams it instead). */
export function toBuffer(doc: PDFKit.PDFDocument): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    doc.on("data", (chunk: Buffer) => chunks.push(chunk));
    doc.on("end", () => resolve(Buffer.concat(chunks)));
    doc.on("error", reject);
  });
}
