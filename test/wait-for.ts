import { setTimeout as sleep } from "node:timers/promises";

/** Polls until `probe` returns a value that `done` accepts; fails with the last value seen. */
export async function waitFor<T>(probe: () => Promise<T>, done: (value: T) => boolean, options: { timeoutMs?: number; what?: string } = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  let last: T = await probe();
  while (!done(last)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${options.what ?? "condition"}; last seen: ${JSON.stringify(last)}`);
    await sleep(50);
    last = await probe();
  }
  return last;
}
