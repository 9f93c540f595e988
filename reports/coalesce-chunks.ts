import { Readable } from "node:stream";

/**
 * The source's bytes, passed on in as few chunks as it allows: each read
 * takes everything the source has buffered, as one chunk. pdfkit pushes
 * every few bytes of PDF syntax (each xref line, each operator) as a chunk of
 * its own; piped as they are, each costs stream events, a base64 step,
 * dot-stuffing and a socket write in the mail, more than its bytes do. The
 * bytes held are the ones the source already held: nothing more is buffered.
 * Errors of the source end the returned stream with the same error.
 */
export function coalesceChunks(source: Readable): Readable {
  const coalesced = new Readable({
    read() {
      pull();
    },
    destroy(error, done) {
      source.destroy(error ?? undefined);
      done(error);
    },
  });
  const pull = () => {
    // In paused mode, read() without a size returns all that is buffered, concatenated.
    for (let chunk: Buffer | null = source.read(); chunk !== null; chunk = source.read()) {
      if (!coalesced.push(chunk)) return;
    }
  };
  source.on("readable", pull);
  source.once("end", () => coalesced.push(null));
  source.once("error", (error) => coalesced.destroy(error));
  return coalesced;
}
