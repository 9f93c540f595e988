import * as fontkit from "fontkit";
import { TrueTypeGlyphs, TrueTypeSubset } from "./font-subset.js";
import { readSfntTables, writeSfnt } from "./sfnt.js";

/** Distinct texts whose shaping one face remembers; beyond that the oldest are forgotten. */
const layoutsKeptMax = 20_000;

interface Layout {
  glyphs: fontkit.Glyph[];
  positions: { xAdvance: number; yAdvance: number; xOffset: number; yOffset: number }[];
}

export interface FontFace {
  /** The parsed font, for questions about it (which characters it has). */
  font: fontkit.Font;
  /**
   * The same font as documents get it (pdfkit's registerFont). pdfkit keeps
   * its caches per document, so every statement would shape the same words
   * and decode the same glyphs again; this face does both once per process:
   * a word's shaping (fontkit's layout, which depends on the text alone) is
   * remembered, and subsets are built from glyph data read once.
   */
  forDocuments: fontkit.Font;
}

/** A TrueType or WOFF font file, parsed once, with what every document would redo shared across documents. */
export function loadFontFace(file: string): FontFace {
  const tables = readSfntTables(file);
  const font = fontkit.create(writeSfnt(tables)) as fontkit.Font;
  const glyphs = new TrueTypeGlyphs(tables);
  const layouts = new Map<string, Layout>();

  const layout = (text: string, features?: unknown) => {
    if (features !== undefined) return font.layout(text, features as string[]);
    let known = layouts.get(text);
    if (!known) {
      const run = font.layout(text);
      known = {
        glyphs: run.glyphs,
        positions: run.positions.map(({ xAdvance, yAdvance, xOffset, yOffset }) => ({ xAdvance, yAdvance, xOffset, yOffset })),
      };
      if (layouts.size >= layoutsKeptMax) layouts.delete(layouts.keys().next().value!);
      layouts.set(text, known);
    }
    // pdfkit scales the positions it gets in place: each caller gets its own.
    return {
      glyphs: known.glyphs,
      positions: known.positions.map((position) => ({ ...position })),
      get advanceWidth() {
        let width = 0;
        for (const position of this.positions) width += position.xAdvance;
        return width;
      },
    };
  };
  const createSubset = () => new TrueTypeSubset(glyphs);

  const forDocuments = new Proxy(font, {
    get(target, property) {
      if (property === "layout") return layout;
      if (property === "createSubset") return createSubset;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { font, forDocuments };
}
