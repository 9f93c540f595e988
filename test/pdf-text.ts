import { PDFParse } from "pdf-parse";

/** The text of a PDF, as a reader's copy-paste would give it, and its page count. */
export async function pdfText(data: Buffer): Promise<{ text: string; pages: number }> {
  const parser = new PDFParse({ data: new Uint8Array(data) });
  try {
    const result = await parser.getText();
    return { text: result.text, pages: result.total };
  } finally {
    await parser.destroy();
  }
}
