import { createRequire } from "node:module";
import path from "node:path";
import { Readable } from "node:stream";
import * as fontkit from "fontkit";
import { describe, expect, it } from "vitest";
import { coalesceChunks } from "./coalesce-chunks.js";
import { TrueTypeGlyphs, TrueTypeSubset } from "./font-subset.js";
import { toBuffer } from "./pdf-layout.js";
import { renderInvoice } from "./render-invoice.js";
import { readSfntTables, writeSfnt } from "./sfnt.js";

const require = createRequire(import.meta.url);
const dejaVu = path.join(path.dirname(require.resolve("dejavu-fonts-ttf/package.json")), "ttf", "DejaVuSans.ttf");
const notoSubset = (index: number) => path.join(path.dirname(require.resolve("@fontsource/noto-sans-sc/package.json")), "files", `noto-sans-sc-${index}-400-normal.woff`);

describe("font files", () => {
  it("reads a WOFF that fontkit's own inflater rejects, and writes it back as a font fontkit reads", () => {
    const font = fontkit.create(writeSfnt(readSfntTables(notoSubset(101)))) as fontkit.Font;
    expect(font.hasGlyphForCodePoint("業".codePointAt(0)!)).toBe(true);
    expect(font.layout("業").glyphs[0]!.id).toBeGreaterThan(0);
  });

  it("a subset keeps each glyph's outline and metrics, numbered in the order of first use, composites included", () => {
    const original = fontkit.openSync(dejaVu) as fontkit.Font;
    // "Å" and "é" are composites in DejaVu: their components must come along, renumbered.
    const used = original.layout("Zoë Åström é Ωμέγα Ж 1,234").glyphs;
    const subset = new TrueTypeSubset(new TrueTypeGlyphs(readSfntTables(dejaVu)));
    const subsetIds = used.map((glyph) => subset.includeGlyph(glyph.id));
    expect(subsetIds[0]).toBe(1); // 0 is .notdef
    const encoded = fontkit.create(subset.encode()) as fontkit.Font;
    used.forEach((glyph, index) => {
      const copy = encoded.getGlyph(subsetIds[index]!);
      expect(copy.advanceWidth).toBe(glyph.advanceWidth);
      expect(copy.path.toSVG()).toBe(glyph.path.toSVG());
    });
    expect(used.some((glyph) => (glyph as unknown as { _decode(): { numberOfContours: number } })._decode().numberOfContours < 0)).toBe(true);
    expect(encoded.numGlyphs).toBeGreaterThan(new Set(used.map((glyph) => glyph.id)).size);
  });

  it("the same glyphs in the same order give the same bytes", () => {
    const glyphs = new TrueTypeGlyphs(readSfntTables(dejaVu));
    const build = () => {
      const subset = new TrueTypeSubset(glyphs);
      for (const id of [36, 68, 200, 5, 36]) subset.includeGlyph(id);
      return subset.encode();
    };
    expect(build().equals(build())).toBe(true);
  });
});

describe("documents share font work", () => {
  it("an invoice renders to the same bytes before and after other documents warmed the shared caches", async () => {
    const invoice = (orgName: string) => ({
      number: "INV-2026-000007", issuedAt: new Date("2026-10-02T09:00:00Z"), credits: 500, unitPrice: "0.05", currency: "EUR",
      subtotalMinor: 2500n, taxRate: "0", taxMinor: 0n, totalMinor: 2500n, paymentReference: "pi_7",
      buyer: { orgName, orgId: "5b0c1e0e-8c1e-4b7e-9a59-3f0c4f3a0d11", timeZone: "Asia/Tokyo", contact: null },
    });
    const seller = { name: "Credits Platform Ltd", addressLines: ["1 Harbour Street"], taxId: "IE1234567X" };
    const first = await toBuffer(renderInvoice(invoice("光影工作室 Zoë 📸"), seller));
    for (const name of ["Фотостудия Север", "東京写真 卒業式", "Ærø Dvořák 🎉", "Zoë 光影"]) await toBuffer(renderInvoice(invoice(name), seller));
    const again = await toBuffer(renderInvoice(invoice("光影工作室 Zoë 📸"), seller));
    expect(again.equals(first)).toBe(true);
  });
});

describe("coalesceChunks", () => {
  const pieces = Array.from({ length: 5_000 }, (_, index) => Buffer.from(`${index};`));
  const collect = async (stream: Readable) => {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return chunks;
  };

  it("passes a source that pushed everything at once (as pdfkit does) on as one chunk", async () => {
    const source = new Readable({ read() {} });
    for (const piece of pieces) source.push(piece);
    source.push(null);
    const chunks = await collect(coalesceChunks(source));
    expect(chunks).toHaveLength(1);
    expect(chunks[0]!.equals(Buffer.concat(pieces))).toBe(true);
  });

  it("passes every byte on, in order, from a source that pushes over time", async () => {
    let next = 0;
    const source = new Readable({
      read() {
        setImmediate(() => {
          for (let n = 0; n < 100 && next < pieces.length; n++) this.push(pieces[next++]);
          if (next === pieces.length) this.push(null);
        });
      },
    });
    const chunks = await collect(coalesceChunks(source));
    expect(Buffer.concat(chunks).equals(Buffer.concat(pieces))).toBe(true);
    expect(chunks.length).toBeLessThanOrEqual(pieces.length / 100);
  });

  it("ends with the source's error", async () => {
    const failing = new Readable({ read() { this.destroy(new Error("render failed")); } });
    await expect(collect(coalesceChunks(failing))).rejects.toThrow("render failed");
  });
});
