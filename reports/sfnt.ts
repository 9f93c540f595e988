import { readFileSync } from "node:fs";
import { inflateSync } from "node:zlib";
import { AppError } from "../core/errors.js";

/** A font's tables by tag ("glyf", "head", ...), uncompressed. */
export type SfntTables = Map<string, Buffer>;

/**
 * The tables of a TrueType/OpenType (sfnt) or WOFF 1 font file. WOFF tables
 * are inflated with node:zlib: fontkit's own inflater rejects some valid
 * fontsource subsets (Noto Sans SC's subset 101, which holds 業, among others).
 */
export function readSfntTables(file: string): SfntTables {
  const data = readFileSync(file);
  const signature = data.toString("latin1", 0, 4);
  const tables: SfntTables = new Map();
  if (signature === "wOFF") {
    const count = data.readUInt16BE(12);
    for (let index = 0; index < count; index++) {
      const entry = 44 + index * 20;
      const tag = data.toString("latin1", entry, entry + 4);
      const offset = data.readUInt32BE(entry + 4);
      const compressedLength = data.readUInt32BE(entry + 8);
      const length = data.readUInt32BE(entry + 12);
      const stored = data.subarray(offset, offset + compressedLength);
      tables.set(tag, compressedLength < length ? inflateSync(stored) : Buffer.from(stored));
    }
    return tables;
  }
  if (signature === "\0\x01\0\0" || signature === "OTTO" || signature === "true") {
    const count = data.readUInt16BE(4);
    for (let index = 0; index < count; index++) {
      const record = 12 + index * 16;
      const offset = data.readUInt32BE(record + 8);
      tables.set(data.toString("latin1", record, record + 4), data.subarray(offset, offset + data.readUInt32BE(record + 12)));
    }
    return tables;
  }
  throw new AppError("INVALID_INPUT", `${file} is neither a TrueType/OpenType nor a WOFF font`);
}

/**
 * An sfnt font file of the given tables: records sorted by tag, tables
 * 4-byte aligned, checksums and head's checkSumAdjustment set as the
 * OpenType spec says.
 */
export function writeSfnt(tables: SfntTables, flavor = 0x00010000): Buffer {
  const tags = [...tables.keys()].sort();
  const headerLength = 12 + 16 * tags.length;
  const totalLength = tags.reduce((sum, tag) => sum + padded(tables.get(tag)!.length), headerLength);
  const out = Buffer.alloc(totalLength);
  const entrySelector = Math.floor(Math.log2(tags.length));
  out.writeUInt32BE(flavor, 0);
  out.writeUInt16BE(tags.length, 4);
  out.writeUInt16BE(16 * 2 ** entrySelector, 6);
  out.writeUInt16BE(entrySelector, 8);
  out.writeUInt16BE(16 * tags.length - 16 * 2 ** entrySelector, 10);
  let offset = headerLength;
  let headOffset = -1;
  tags.forEach((tag, index) => {
    const table = tables.get(tag)!;
    table.copy(out, offset);
    if (tag === "head") {
      headOffset = offset;
      out.writeUInt32BE(0, offset + 8); // checkSumAdjustment is summed as 0
    }
    const record = 12 + index * 16;
    out.write(tag, record, 4, "latin1");
    out.writeUInt32BE(checksum(out, offset, padded(table.length)), record + 4);
    out.writeUInt32BE(offset, record + 8);
    out.writeUInt32BE(table.length, record + 12);
    offset += padded(table.length);
  });
  if (headOffset >= 0) out.writeUInt32BE((0xb1b0afba - checksum(out, 0, out.length)) >>> 0, headOffset + 8);
  return out;
}

const padded = (length: number) => (length + 3) & ~3;

/** Sum of the big-endian uint32 words of a 4-byte-aligned range, modulo 2^32. */
function checksum(data: Buffer, start: number, length: number): number {
  let sum = 0;
  for (let at = start; at < start + length; at += 4) sum = (sum + data.readUInt32BE(at)) >>> 0;
  return sum;
}
