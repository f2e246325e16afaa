// Runs PyKMIP (Debian's python3-pykmip, for /usr/bin/python3) against a
// relay: test/fixtures/pykmip/client.py does the steps and prints JSON.
import { execFile } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const SCRIPT = resolve(dirname(fileURLToPath(import.meta.url)), "../../../test/fixtures/pykmip/client.py");

export interface PyKmipArgs {
  host: string;
  port: number;
  /** CA file to verify the relay with (its generated certificate). */
  ca: string;
  username?: string;
  password?: string;
  cert?: string;
  key?: string;
  version?: string;
  steps: string[];
  name?: string;
  bits?: number;
  data?: string;
}

/** The steps' results; rejects with PyKMIP's error when a step fails. */
export async function runPyKmip(args: PyKmipArgs): Promise<Record<string, unknown>> {
  try {
    const { stdout } = await promisify(execFile)("/usr/bin/python3", [SCRIPT, JSON.stringify(args)], { timeout: 60_000 });
    return JSON.parse(stdout) as Record<string, unknown>;
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`PyKMIP failed: ${e.stdout ?? ""} ${e.stderr ?? ""} ${e.message}`);
  }
}
