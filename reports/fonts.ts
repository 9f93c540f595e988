import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type * as fontkit from "fontkit";
import type PDFDocument from "pdfkit";
import { loadFontFace, type FontFace } from "./font-face.js";

const require = createRequire(import.meta.url);
const packageDir = (name: string) => path.dirname(require.resolve(`${name}/package.json`));

interface SubsetFace {
  name: string;
  file: string;
  ranges: [number, number][];
}

const documentsPerLayoutGeneration = 500;

/**
 * The report fonts: DejaVu Sans for Latin, Greek, Cyrillic and most symbols;
 * for what DejaVu lacks (CJK, emoji), the subset of Noto Sans SC or Noto Emoji
 * whose unicode-range holds the character, as fontsource ships them. Text is
 * cut into runs by font; only the subsets a document uses are embedded.
 */
export class FontBook {
  private readonly regular = loadFontFace(path.join(packageDir("dejavu-fonts-ttf"), "ttf", "DejaVuSans.ttf"));
  private readonly bold = loadFontFace(path.join(packageDir("dejavu-fonts-ttf"), "ttf", "DejaVuSans-Bold.ttf"));
  /** Parsed once per process and shared by every document: parsing a font costs more than a page. */
  private readonly parsedSubsets = new Map<string, FontFace>();
  private readonly subsets: SubsetFace[] = [
    ...readFontsourceFaces("@fontsource/noto-sans-sc", "sc"),
    ...readFontsourceFaces("@fontsource/noto-emoji", "emoji"),
  ];
  /**
   * Each font's shaped words, scaled as pdfkit keeps them, shared by every
   * document (see `use`). Dropped every `documentsPerLayoutGeneration`
   * documents, so the cache stays bounded however many names go by.
   */
  private layouts = new Map<string, Record<string, unknown>>();
  private documentsThisGeneration = 0;

  /** Registers the base fonts in a new document (subsets are registered when first used). */
  prepare(doc: PDFKit.PDFDocument): void {
    if (++this.documentsThisGeneration > documentsPerLayoutGeneration) {
      this.layouts = new Map();
      this.documentsThisGeneration = 1;
    }
    // pdfkit takes a parsed fontkit font as a font source.
    doc.registerFont("body", this.regular.forDocuments as unknown as string);
    doc.registerFont("bold", this.bold.forDocuments as unknown as string);
    this.use(doc, "body");
  }

  /**
   * Makes a registered font the document's current one. pdfkit shapes each
   * word once per document and keeps the result in that document's font
   * (`layoutCache`); the statement template's words, digits and the names
   * that recur would be shaped again for every PDF, which was a fifth of its
   * CPU. Shaping depends on the font and the text alone, and pdfkit only
   * reads what it keeps, so the documents share one such cache per font. If
   * pdfkit ever stops keeping one, each document simply shapes for itself.
   */
  use(doc: PDFKit.PDFDocument, font: string): PDFKit.PDFDocument {
    doc.font(font);
    const current = (doc as unknown as { _font?: { layoutCache?: Record<string, unknown> } })._font;
    if (current?.layoutCache) {
      let shared = this.layouts.get(font);
      if (!shared) {
        shared = current.layoutCache;
        this.layouts.set(font, shared);
      }
      current.layoutCache = shared;
    }
    return doc;
  }

  /** A subset face, parsed on first use, as documents get it. */
  subset(file: string): fontkit.Font {
    let face = this.parsedSubsets.get(file);
    if (!face) {
      face = loadFontFace(file);
      this.parsedSubsets.set(file, face);
    }
    return face.forDocuments;
  }

  /** The text cut into runs that one font can draw, in order. */
  runs(text: string, weight: "body" | "bold" = "body"): { font: string; file?: string; text: string }[] {
    const runs: { font: string; file?: string; text: string }[] = [];
    for (const character of text) {
      const codePoint = character.codePointAt(0)!;
      let font: string = weight;
      let file: string | undefined;
      if (!this.regular.font.hasGlyphForCodePoint(codePoint) && codePoint > 0x20) {
        const face = this.subsets.find((subset) => subset.ranges.some(([from, to]) => codePoint >= from && codePoint <= to));
        if (face) {
          font = face.name;
          file = face.file;
        }
      }
      const last = runs[runs.length - 1];
      if (last && last.font === font) last.text += character;
      else runs.push({ font, ...(file ? { file } : {}), text: character });
    }
    return runs;
  }
}

function readFontsourceFaces(packageName: string, prefix: string): SubsetFace[] {
  const dir = packageDir(packageName);
  const css = readFileSync(path.join(dir, "400.css"), "utf8");
  const faces: SubsetFace[] = [];
  for (const block of css.split("@font-face").slice(1)) {
    const file = block.match(/url\(\.\/files\/([^)]+\.woff)\) format\('woff'\)/)?.[1];
    const ranges = block.match(/unicode-range:\s*([^;]+);/)?.[1];
    if (!file || !ranges) continue;
    faces.push({
      name: `${prefix}-${faces.length}`,
      file: path.join(dir, "files", file),
      ranges: ranges.split(",").map((range) => {
        const [from, to] = range.trim().replace(/^U\+/i, "").split("-");
        return [parseInt(from!, 16), parseInt(to ?? from!, 16)] as [number, number];
      }),
    });
  }
  return faces;
}

/**
 * Writes one line of text, each run in its font, placed side by side: cut
 * with "…" to `width` when given, aligned left or right within it.
 */
export function writeText(
  doc: PDFKit.PDFDocument,
  fonts: FontBook,
  text: string,
  x: number,
  y: number,
  options: { width?: number; align?: "left" | "right" | "center"; weight?: "body" | "bold" } = {},
): void {
  const weight = options.weight ?? "body";
  const widthOf = (font: string, value: string) => fonts.use(doc, font).widthOfString(value);
  const measured = fonts.runs(text, weight).map((run) => {
    if (run.file) doc.registerFont(run.font, fonts.subset(run.file) as unknown as string);
    return { ...run, width: widthOf(run.font, run.text) };
  });
  const limit = options.width ?? Number.POSITIVE_INFINITY;
  let total = measured.reduce((sum, run) => sum + run.width, 0);
  if (total > limit) {
    const ellipsisWidth = widthOf(weight, "…");
    // Cut the last run to the longest start that fits beside the runs before it and an ellipsis, dropping runs that cannot keep a character.
    while (measured.length > 0) {
      const last = measured[measured.length - 1]!;
      const room = limit - ellipsisWidth - (total - last.width);
      if (last.width <= room) break;
      const characters = [...last.text];
      let fits = 0;
      let fitsWidth = 0;
      for (let low = 1, high = characters.length - 1; low <= high;) {
        const middle = (low + high) >> 1;
        const width = widthOf(last.font, characters.slice(0, middle).join(""));
        if (width <= room) {
          fits = middle;
          fitsWidth = width;
          low = middle + 1;
        } else {
          high = middle - 1;
        }
      }
      total -= last.width;
      if (fits > 0) {
        last.text = characters.slice(0, fits).join("");
        last.width = fitsWidth;
        total += fitsWidth;
        break;
      }
      measured.pop();
    }
    measured.push({ font: weight, text: "…", width: ellipsisWidth });
    total += ellipsisWidth;
  }
  let cursor = x;
  if (options.width !== undefined && options.align === "right") cursor = x + options.width - total;
  if (options.width !== undefined && options.align === "center") cursor = x + (options.width - total) / 2;
  const lineHeight = fonts.use(doc, "body").currentLineHeight(true);
  for (const run of measured) {
    fonts.use(doc, run.font).text(run.text, cursor, y, { lineBreak: false });
    cursor += run.width;
  }
  fonts.use(doc, "body");
  doc.x = x;
  doc.y = y + lineHeight;
}

export type { PDFDocument };
