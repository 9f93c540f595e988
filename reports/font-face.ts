import * as fontkit from "fontkit";
import { TrueTypeGlyphs, TrueTypeSubset } from "./font-subset.js";
import { readSfntTables, writeSfnt } from "./sfnt.js";

export interface FontFace {
  /** The parsed font, for questions about it (which characters it has). */
  font: fontkit.Font;
  /**
   * The same font as documents get it (pdfkit's registerFont): its subsets
   * are built from glyph data read once per process, where fontkit's
   * subsetter decodes every glyph again for every document.
   */
  forDocuments: fontkit.Font;
}

/** A TrueType or WOFF font file, parsed once. */
export function loadFontFace(file: string): FontFace {
  const tables = readSfntTables(file);
  const font = fontkit.create(writeSfnt(tables)) as fontkit.Font;
  const glyphs = new TrueTypeGlyphs(tables);
  const createSubset = () => new TrueTypeSubset(glyphs);
  const forDocuments = new Proxy(font, {
    get(target, property) {
      if (property === "createSubset") return createSubset;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { font, forDocuments };
}
