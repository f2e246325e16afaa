// [pkcs11]: the module to load, how it is hosted, its limits and quirks.
import { resolve } from "node:path";
import { OMITTABLE_ATTRIBUTES, SKIPPABLE_ATTRIBUTES, type QuirkAttributeName } from "../hsm/quirks.js";
import { DEFAULTS } from "./defaults.js";
import type { TableReader } from "./table-reader.js";

/** How the PKCS#11 module is hosted. */
export const ISOLATION_MODES = ["process", "in-process"] as const;
export type Isolation = (typeof ISOLATION_MODES)[number];

export interface Pkcs11Config {
  /** Absolute path, or a bare file name left to the dynamic linker's search. */
  readonly libPath: string;
  readonly isolation: Isolation;
  /** Seconds the module may answer nothing while calls wait, before its process is restarted ("process" isolation). */
  readonly callTimeout: number;
  /** The same while a write (key generation, attribute change, destroy, login) waits. */
  readonly writeTimeout: number;
  /** Calls per slot waiting for the module process; more are refused at once. */
  readonly maxQueuedCalls: number;
  /** Writes per slot among them. */
  readonly maxQueuedWrites: number;
  /** Seconds the module's process may take to load and C_Initialize the module ("process" isolation). */
  readonly startTimeout: number;
  /** Open sessions per slot. */
  readonly maxSessions: number;
  /** Failed logins of one client on a slot within loginFailureWindow that start its cooldown. */
  readonly loginFailureLimit: number;
  /** Seconds. */
  readonly loginFailureWindow: number;
  /** Seconds during which the client's logins to the slot are refused. */
  readonly loginCooldown: number;
  /** Failed logins per slot per hour, all clients together (src/server/login-throttle.ts). */
  readonly loginFailureBudget: number;
  /** Seconds between checks, against the token, of the PIN a slot is logged in with ("process" isolation; a changed PIN stops working within it). */
  readonly pinRecheck: number;
  /** C_Initialize pReserved (some vendor modules take their settings there). */
  readonly initArgs?: string;
  /** Environment variables for the module (vendor config locations etc.). */
  readonly env: Readonly<Record<string, string>>;
  /** Attributes the module refuses in templates, or cannot read (src/hsm/quirks.ts). */
  readonly quirks: Pkcs11Quirks;
}

export interface Pkcs11Quirks {
  /** Left out of C_GenerateKeyPair templates. */
  readonly omitAttributes: readonly QuirkAttributeName[];
  /** Never asked for with C_GetAttributeValue; read as absent. */
  readonly skipAttributes: readonly QuirkAttributeName[];
}

export function readPkcs11(t: TableReader): Pkcs11Config {
  const d = DEFAULTS.pkcs11;
  const libPath = t.string("lib-path", { required: true });
  if (libPath === "") t.fail("lib-path", "must not be empty");
  const envTable = t.table("env");
  const env: Record<string, string> = {};
  for (const name of envTable.keys()) {
    // setenv(3) cannot take a name with "=" (or an empty one).
    if (name === "" || name.includes("=")) envTable.fail(name, "not a valid environment variable name");
    env[name] = envTable.string(name, { required: true });
  }
  envTable.finish();
  const config: Pkcs11Config = {
    // dlopen() searches the library path for a name without a slash; only a
    // name with one is a path relative to the working directory.
    libPath: libPath.includes("/") ? resolve(libPath) : libPath,
    isolation: t.oneOf("isolation", ISOLATION_MODES) ?? d.isolation,
    callTimeout: t.seconds("call-timeout") ?? d.callTimeout,
    writeTimeout: t.seconds("write-timeout") ?? d.writeTimeout,
    maxQueuedCalls: t.integer("max-queued-calls", 1, 1_000_000) ?? d.maxQueuedCalls,
    maxQueuedWrites: t.integer("max-queued-writes", 1, 1_000_000) ?? d.maxQueuedWrites,
    startTimeout: t.seconds("start-timeout") ?? d.startTimeout,
    maxSessions: t.integer("max-sessions", 1, 65536) ?? d.maxSessions,
    loginFailureLimit: t.integer("login-failure-limit", 1, 1_000_000) ?? d.loginFailureLimit,
    loginFailureWindow: t.seconds("login-failure-window") ?? d.loginFailureWindow,
    loginCooldown: t.seconds("login-cooldown") ?? d.loginCooldown,
    loginFailureBudget: t.integer("login-failure-budget", 1, 1_000_000) ?? d.loginFailureBudget,
    pinRecheck: t.seconds("pin-recheck") ?? d.pinRecheck,
    initArgs: t.string("init-args"),
    env,
    quirks: readQuirks(t.table("quirks")),
  };
  t.finish();
  return config;
}

function readQuirks(t: TableReader): Pkcs11Quirks {
  const d = DEFAULTS.pkcs11.quirks;
  const quirks: Pkcs11Quirks = {
    omitAttributes: t.stringsOf("omit-attributes", OMITTABLE_ATTRIBUTES) ?? d.omitAttributes,
    skipAttributes: t.stringsOf("skip-attributes", SKIPPABLE_ATTRIBUTES) ?? d.skipAttributes,
  };
  t.finish();
  return quirks;
}
