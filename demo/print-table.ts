/** Prints rows as an aligned text table, for the demo and the benchmark. */
export function formatTable(rows: readonly object[]): string {
  if (rows.length === 0) return "  (none)";
  const columns = Object.keys(rows[0]!);
  const cells = rows.map((row) => columns.map((column) => formatCell((row as Record<string, unknown>)[column])));
  const widths = columns.map((column, i) => Math.max(column.length, ...cells.map((line) => line[i]!.length)));
  const line = (values: string[]) => "  " + values.map((value, i) => value.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(columns), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n");
}

function formatCell(value: unknown): string {
  if (value instanceof Date) return value.toISOString().replace("T", " ").slice(0, 19);
  if (value === null || value === undefined) return "";
  return String(value);
}
