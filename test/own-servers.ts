import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** A TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitUntil(check: () => boolean, what: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/**
 * A Redis server of the test's own, on a free port, without persistence: a
 * restart empties it, as the machines' Redis would.
 */
export async function startOwnRedis() {
  const port = await freePort();
  let server: ChildProcess | undefined;
  const ping = () => {
    try {
      return execFileSync("redis-cli", ["-p", String(port), "ping"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim() === "PONG";
    } catch {
      return false;
    }
  };
  const start = async () => {
    server = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction"], {
      stdio: "ignore",
    });
    await waitUntil(ping, `redis on ${port}`);
  };
  const kill = async () => {
    if (!server || server.exitCode !== null) return;
    const exited = new Promise((resolve) => server!.once("exit", resolve));
    server.kill("SIGKILL");
    await exited;
  };
  await start();
  return { url: `redis://127.0.0.1:${port}`, port, kill, start, async restart() { await kill(); await start(); }, stop: kill };
}

/**
 * A PostgreSQL cluster of the test's own (initdb in a temporary folder, run as
 * the postgres user, since PostgreSQL refuses to run as root), on a free port.
 */
export async function startOwnPostgres() {
  const binaries = path.join("/usr/lib/postgresql", execFileSync("ls", ["/usr/lib/postgresql"], { encoding: "utf8" }).trim().split("\n").pop()!, "bin");
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(tmpdir(), "credits-pg-"));
  const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }));
  const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }));
  chownSync(dataDir, uid, gid);
  const asPostgres = (tool: string, args: string[]) =>
    execFileSync(path.join(binaries, tool), args, { uid, gid, stdio: "ignore", env: { ...process.env, LC_ALL: "C.UTF-8" } });
  asPostgres("initdb", ["-D", dataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8"]);
  const options = `-p ${port} -k ${dataDir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50`;
  const start = () => asPostgres("pg_ctl", ["-D", dataDir, "-o", options, "-w", "start"]);
  const stop = (mode: "fast" | "immediate") => asPostgres("pg_ctl", ["-D", dataDir, "-m", mode, "-w", "stop"]);
  start();
  return {
    url: `postgresql://postgres@127.0.0.1:${port}/credits`,
    restart() {
      stop("immediate");
      start();
    },
    remove() {
      try {
        stop("immediate");
      } catch {
        // already stopped
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
