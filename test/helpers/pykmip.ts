// Runs PyKMIP (Debian's python3-pykmip, for /usr/bin/python3) against a
// relay: test/fixtures/pykmip/client.py does the steps and prints JSON.
import { execFile } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { RunningRelay } from "./relay.js";

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
  /** For the "register" step: a PKCS#1 RSAPrivateKey, hex. */
  private_key?: string;
  /** create_aes: ask for an exportable key (Extractable true). */
  extractable?: boolean;
  /** register_aes: the AES key, hex. */
  aes_key?: string;
  /** register_secret: a password. */
  secret?: string;
}

/** Where and as whom PyKMIP reaches a relay: its address, its generated certificate, its token's label and PIN. */
export function pykmipTarget(relay: RunningRelay): Pick<PyKmipArgs, "host" | "port" | "ca" | "username" | "password"> {
  return { host: relay.host, port: relay.port, ca: join(relay.dir, "state", "tls", "cert.pem"), username: relay.token.label, password: relay.token.pin };
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
