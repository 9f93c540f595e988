import { pipeline, Transform, type Readable } from "node:stream";

/** Bytes gathered before they go on: a statement's PDF is 30-200 kB, so one to a few chunks each. */
const chunkBytesDefault = 64 * 1024;

/**
 * The stream's bytes in chunks of at least `chunkBytes` (the last one may be
 * shorter). pdfkit pushes every few bytes of PDF syntax as a chunk of its
 * own, and in a mail each chunk costs more (base64, dot-stuffing, a socket
 * write) than its bytes do. Memory stays bounded by one chunk per stream.
 * Errors of the source end the returned stream with the same error.
 */
export function coalesceChunks(source: Readable, chunkBytes = chunkBytesDefault): Transform {
  let held: Buffer[] = [];
  let heldBytes = 0;
  const release = (target: Transform) => {
    if (heldBytes === 0) return;
    target.push(held.length === 1 ? held[0] : Buffer.concat(held, heldBytes));
    held = [];
    heldBytes = 0;
  };
  const coalesced = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      held.push(chunk);
      heldBytes += chunk.length;
      if (heldBytes >= chunkBytes) release(this);
      done();
    },
    flush(done) {
      release(this);
      done();
    },
  });
  // pipeline destroys `coalesced` with the source's error; whoever reads it sees that error.
  return pipeline(source, coalesced, () => {});
}
