import { isAppError } from "./errors.js";

/**
 * Runs a command-line entry point. A typed error is printed as one line with
 * its code (exit 2: the input or the situation is wrong); anything else is a
 * bug and is printed whole (exit 1).
 */
export function runCommand(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    if (isAppError(error)) {
      console.error(`error [${error.code}]: ${error.message}`);
      process.exitCode = 2;
    } else {
      console.error(error);
      process.exitCode = 1;
    }
  });
}
