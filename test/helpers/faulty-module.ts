// Builds the fault-injecting PKCS#11 module (test/fixtures/faulty-pkcs11/faulty.c)
// with gcc into a temporary directory, once per test process. The module
// forwards to SoftHSM and crashes, hangs or prints on request; see the C file
// for the key labels and environment variables that trigger each fault.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

/** CKA_LABELs that make the faulty module's C_SignInit misbehave. */
export const FaultLabel = {
  segv: "fault:segv",
  abort: "fault:abort",
  /** exit(FAULT_EXIT_CODE) */
  exit: "fault:exit",
  hang: "fault:hang",
  /** Prints to stdout and stderr (one line of 20,000 characters among them), then signs. */
  stdout: "fault:stdout",
  /** Prints 5,000 lines to stdout, then signs. */
  flood: "fault:flood",
} as const;

/** The exit code of the "fault:exit" fault. */
export const FAULT_EXIT_CODE = 42;

/** Environment variable naming a fault (or "fail") to inject in C_Initialize. */
export const INIT_FAULT_ENV = "FAULTY_PKCS11_INIT_FAULT";

// From dist/test/helpers/ back to the sources, which tsc does not copy.
const source = fileURLToPath(new URL("../../../test/fixtures/faulty-pkcs11/faulty.c", import.meta.url));

let built: Promise<string> | undefined;

/** Compiles the module on first use and returns the path of the shared object. */
export function buildFaultyModule(): Promise<string> {
  built ??= compile();
  return built;
}

async function compile(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "kmip2pkcs11-faulty-"));
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  const output = join(dir, "libfaulty-pkcs11.so");
  const flags = ["-std=c11", "-D_DEFAULT_SOURCE", "-Wall", "-Wextra", "-Werror", "-O1", "-shared", "-fPIC"];
  try {
    await promisify(execFile)("gcc", [...flags, "-o", output, source, "-ldl"]);
  } catch (error) {
    // execFile's message holds the command line and gcc's diagnostics.
    throw new Error(`cannot build the faulty PKCS#11 module: ${(error as Error).message}`);
  }
  return output;
}
