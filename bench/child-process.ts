import { fork } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const projectRoot = fileURLToPath(new URL("..", import.meta.url));

/**
 * A bench helper process (a TypeScript file run through tsx): resolves once it
 * sends its first message; stop() asks it to finish and resolves with its last.
 */
export async function spawnBenchProcess<First>(
  script: string,
  env: Record<string, string>,
  isFirst: (message: Record<string, unknown>) => boolean,
  options: { stdout: "inherit" | "ignore" } = { stdout: "inherit" },
) {
  const child = fork(path.join(projectRoot, script), [], {
    execArgv: ["--import", "tsx"], env: { ...process.env, LOG_LEVEL: "error", ...env }, stdio: ["ignore", options.stdout, "inherit", "ipc"],
  });
  const message = await new Promise<First>((resolve, reject) => {
    child.on("message", (received) => { if (isFirst(received as Record<string, unknown>)) resolve(received as First); });
    child.once("exit", (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  return {
    message,
    stop<Last>(): Promise<Last> {
      return new Promise((resolve) => {
        child.on("message", (received) => resolve(received as Last));
        child.send({ stop: true });
      });
    },
  };
}
