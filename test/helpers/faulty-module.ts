// Builds the fault-injecting PKCS#11 module (test/fixtures/faulty-pkcs11/faulty.c)
// with gcc into a temporary directory, once per test process. The module
// forwards to SoftHSM and crashes, hangs or prints on request; see the C file
// for the key labels and environment variables that trigger each fault.
import { buildModule } from "./modules.js";

/** CKA_LABELs that make the faulty module's C_SignInit misbehave. */
export const FaultLabel = {
  segv: "fault:segv",
  abort: "fault:abort",
  /** exit(FAULT_EXIT_CODE) */
  exit: "fault:exit",
  /** Also as a new label: C_SetAttributeValue never returns. */
  hang: "fault:hang",
  /** Prints to stdout and stderr (one line of 20,000 characters among them), then signs. */
  stdout: "fault:stdout",
  /** Prints 5,000 lines to stdout, then signs. */
  flood: "fault:flood",
  /** Sleeps 300 ms, then signs; as a new label (C_SetAttributeValue), sleeps 3 s, then sets it. */
  slow: "fault:slow",
} as const;

/** The exit code of the "fault:exit" fault. */
export const FAULT_EXIT_CODE = 42;

/** Environment variable naming a fault (or "fail") to inject in C_Initialize. */
export const INIT_FAULT_ENV = "FAULTY_PKCS11_INIT_FAULT";

/** Compiles the module on first use (once per test process) and returns the path of the shared object. */
export function buildFaultyModule(): Promise<string> {
  return buildModule("test/fixtures/faulty-pkcs11/faulty.c");
}
