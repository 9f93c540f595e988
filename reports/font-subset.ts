import { writeSfnt, type SfntTables } from "./sfnt.js";

interface GlyphRecord {
  /** The glyph's bytes in glyf, as the font has them. */
  bytes: Buffer;
  /** For a composite glyph: each component's glyph id and where in `bytes` it is written. */
  components: { glyphId: number; at: number }[];
  advance: number;
  leftBearing: number;
}

// Composite glyph flags (OpenType glyf table).
const argumentsAreWords = 0x0001;
const hasScale = 0x0008;
const moreComponents = 0x0020;
const hasXAndYScale = 0x0040;
const hasTwoByTwo = 0x0080;

/**
 * A TrueType font's glyphs as subsetting needs them, read from its tables on
 * first use and kept for the life of the process. Every document embeds a
 * subset of the same few fonts; reading and decoding the same glyphs again
 * for each one (as fontkit's subsetter does) was a fifth of a statement's CPU.
 * Bounded by the font: at most one record per glyph.
 */
export class TrueTypeGlyphs {
  private readonly glyf: Buffer;
  private readonly loca: Buffer;
  private readonly longOffsets: boolean;
  private readonly hmtx: Buffer;
  private readonly metricsCount: number;
  private readonly records: (GlyphRecord | undefined)[];
  /** The tables a PDF's embedded TrueType font carries besides the glyphs (hinting programs, header). */
  readonly head: Buffer;
  readonly hhea: Buffer;
  readonly maxp: Buffer;
  readonly unchanged: SfntTables = new Map();

  constructor(tables: SfntTables) {
    const table = (tag: string) => {
      const found = tables.get(tag);
      if (!found) throw new Error(`font has no ${tag} table`);
      return found;
    };
    this.glyf = table("glyf");
    this.loca = table("loca");
    this.hmtx = table("hmtx");
    this.head = table("head");
    this.hhea = table("hhea");
    this.maxp = table("maxp");
    this.longOffsets = this.head.readInt16BE(50) === 1;
    this.metricsCount = this.hhea.readUInt16BE(34);
    this.records = new Array(this.maxp.readUInt16BE(4));
    for (const tag of ["cvt ", "prep", "fpgm"]) {
      const found = tables.get(tag);
      if (found) this.unchanged.set(tag, found);
    }
  }

  glyph(glyphId: number): GlyphRecord {
    let record = this.records[glyphId];
    if (!record) {
      record = this.read(glyphId);
      this.records[glyphId] = record;
    }
    return record;
  }

  private read(glyphId: number): GlyphRecord {
    const offset = (id: number) => (this.longOffsets ? this.loca.readUInt32BE(id * 4) : this.loca.readUInt16BE(id * 2) * 2);
    const bytes = this.glyf.subarray(offset(glyphId), offset(glyphId + 1));
    const components: GlyphRecord["components"] = [];
    if (bytes.length >= 10 && bytes.readInt16BE(0) < 0) {
      let at = 10;
      for (;;) {
        const flags = bytes.readUInt16BE(at);
        components.push({ glyphId: bytes.readUInt16BE(at + 2), at: at + 2 });
        at += 4 + (flags & argumentsAreWords ? 4 : 2);
        if (flags & hasScale) at += 2;
        else if (flags & hasXAndYScale) at += 4;
        else if (flags & hasTwoByTwo) at += 8;
        if (!(flags & moreComponents)) break;
      }
    }
    const metric = Math.min(glyphId, this.metricsCount - 1);
    const leftBearing = glyphId < this.metricsCount
      ? this.hmtx.readInt16BE(glyphId * 4 + 2)
      : this.hmtx.readInt16BE(this.metricsCount * 4 + (glyphId - this.metricsCount) * 2);
    return { bytes, components, advance: this.hmtx.readUInt16BE(metric * 4), leftBearing };
  }
}

/**
 * The glyphs one document uses, numbered in the order it first uses them (so
 * the document's text can be written before the subset is complete), encoded
 * as a TrueType font with the tables a PDF needs: what pdfkit asks of a
 * font's subset (`includeGlyph`, `encode`). The same glyphs in the same order
 * give the same bytes.
 */
export class TrueTypeSubset {
  private readonly glyphIds: number[] = [];
  private readonly mapping = new Map<number, number>();

  constructor(private readonly glyphs: TrueTypeGlyphs) {
    this.includeGlyph(0); // .notdef comes first in every font
  }

  includeGlyph(glyph: number | { id: number }): number {
    const glyphId = typeof glyph === "number" ? glyph : glyph.id;
    let subsetId = this.mapping.get(glyphId);
    if (subsetId === undefined) {
      subsetId = this.glyphIds.length;
      this.glyphIds.push(glyphId);
      this.mapping.set(glyphId, subsetId);
    }
    return subsetId;
  }

  encode(): Buffer {
    const parts: Buffer[] = [];
    const offsets: number[] = [];
    let length = 0;
    // Components join the subset as composites are met, so the list can grow while we walk it.
    for (let index = 0; index < this.glyphIds.length; index++) {
      const record = this.glyphs.glyph(this.glyphIds[index]!);
      let bytes = record.bytes;
      if (record.components.length > 0) {
        bytes = Buffer.from(bytes);
        for (const component of record.components) bytes.writeUInt16BE(this.includeGlyph(component.glyphId), component.at);
      }
      offsets.push(length);
      parts.push(bytes);
      length += bytes.length;
    }
    offsets.push(length);
    const count = this.glyphIds.length;
    const loca = Buffer.alloc(offsets.length * 4);
    offsets.forEach((offset, index) => loca.writeUInt32BE(offset, index * 4));
    const hmtx = Buffer.alloc(count * 4);
    this.glyphIds.forEach((glyphId, index) => {
      const record = this.glyphs.glyph(glyphId);
      hmtx.writeUInt16BE(record.advance, index * 4);
      hmtx.writeInt16BE(record.leftBearing, index * 4 + 2);
    });
    const head = Buffer.from(this.glyphs.head);
    head.writeInt16BE(1, 50); // long loca offsets
    const hhea = Buffer.from(this.glyphs.hhea);
    hhea.writeUInt16BE(count, 34);
    const maxp = Buffer.from(this.glyphs.maxp);
    maxp.writeUInt16BE(count, 4);
    return writeSfnt(new Map([...this.glyphs.unchanged, ["head", head], ["hhea", hhea], ["maxp", maxp], ["loca", loca], ["hmtx", hmtx], ["glyf", Buffer.concat(parts, length)]]));
  }
}
