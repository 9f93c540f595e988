import { z } from "zod";
import { AppError } from "../core/errors.js";

/** An opaque keyset cursor over (instant, id), newest first: stable while new rows arrive. */
const cursorShape = z.tuple([z.iso.datetime(), z.uuid()]);

export function encodeCursor(at: Date, id: string): string {
  return Buffer.from(JSON.stringify([at.toISOString(), id])).toString("base64url");
}

export function decodeCursor(cursor: string): { at: Date; id: string } {
  let decoded: unknown = null;
  try {
    decoded = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    // Falls through to the refusal below.
  }
  const parsed = cursorShape.safeParse(decoded);
  if (!parsed.success) throw new AppError("INVALID_INPUT", "querystring.cursor: must be a nextCursor returned by a previous page");
  return { at: new Date(parsed.data[0]), id: parsed.data[1] };
}

/** A page of `limit` rows out of `limit + 1` fetched, and the cursor of the next page if there is one. */
export function keysetPage<Row>(rows: Row[], limit: number, keyOf: (row: Row) => { at: Date; id: string }): { page: Row[]; nextCursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  if (rows.length <= limit || !last) return { page, nextCursor: null };
  const key = keyOf(last);
  return { page, nextCursor: encodeCursor(key.at, key.id) };
}
