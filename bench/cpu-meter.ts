import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/** CPU seconds used so far: this process, and the PostgreSQL and Redis servers on this machine. */
export interface CpuReading {
  node: number;
  postgres: number;
  redis: number;
}

export interface CpuPerItem {
  nodeUs: number;
  postgresUs: number;
  redisUs: number;
  totalUs: number;
}

let ticksPerSecond: number | undefined;

/**
 * Reads /proc (Linux). PostgreSQL's backends that have exited, such as
 * autovacuum workers, count through the postmaster's reaped-children time.
 * Returns null where /proc cannot be read or shows no PostgreSQL server; the
 * bench then prints no CPU split.
 */
export function readCpu(): CpuReading | null {
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
    ticksPerSecond ??= Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" })) || 100;
  } catch {
    return null;
  }
  const processes = new Map<number, { comm: string; parent: number; own: number; children: number }>();
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue; // exited while we looked
    }
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    processes.set(Number(pid), {
      comm, parent: Number(fields[1]),
      own: Number(fields[11]) + Number(fields[12]), children: Number(fields[13]) + Number(fields[14]),
    });
  }
  let postgres = 0;
  let redis = 0;
  let servers = 0;
  for (const process of processes.values()) {
    if (process.comm.startsWith("postgres")) {
      postgres += process.own;
      if (!processes.get(process.parent)?.comm.startsWith("postgres")) {
        postgres += process.children;
        servers += 1;
      }
    } else if (process.comm.startsWith("redis-server")) {
      redis += process.own + process.children;
    }
  }
  // Servers in another container or on another host are not ours to read: no split rather than a wrong one.
  if (servers === 0) return null;
  const usage = globalThis.process.cpuUsage();
  return { node: (usage.user + usage.system) / 1e6, postgres: postgres / ticksPerSecond, redis: redis / ticksPerSecond };
}

/** CPU microseconds per item between two readings. */
export function cpuPerItem(before: CpuReading | null, after: CpuReading | null, items: number): CpuPerItem | null {
  if (!before || !after) return null;
  const per = (seconds: number) => Number(((seconds * 1e6) / items).toFixed(1));
  const nodeUs = per(after.node - before.node);
  const postgresUs = per(after.postgres - before.postgres);
  const redisUs = per(after.redis - before.redis);
  return { nodeUs, postgresUs, redisUs, totalUs: Number((nodeUs + postgresUs + redisUs).toFixed(1)) };
}

export function describeCpu(cpu: CpuPerItem | null, unit: string): string {
  return cpu
    ? `CPU per ${unit}: this process ${cpu.nodeUs} µs, PostgreSQL ${cpu.postgresUs} µs, Redis ${cpu.redisUs} µs (${cpu.totalUs} µs in all)`
    : "CPU split not available (no /proc)";
}
