// A throw-away SoftHSM installation for tests: a temp dir with its own
// softhsm2.conf and token directory, tokens initialised with softhsm2-util.
// Nothing touches the system token directory.
//
// SoftHSM reads SOFTHSM2_CONF when the module is initialised, so a test that
// loads the module in its own process must set process.env.SOFTHSM2_CONF =
// token.conf before opening the backend (each test file runs in its own
// process under `node --test`). Child processes get `token.env`.
import { execFile } from "node:child_process";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pino from "pino";
import pkcs11js from "pkcs11js";
import type { HsmBackend } from "../../src/hsm/backend.js";
import { openPkcs11Backend, type Pkcs11BackendOptions } from "../../src/hsm/pkcs11-backend.js";

const execFileAsync = promisify(execFile);

export const SOFTHSM_MODULE_PATH = "/usr/lib/softhsm/libsofthsm2.so";

export interface SoftHsmToken {
  /** The temp dir holding the config and the tokens. */
  dir: string;
  /** Path of the softhsm2.conf to put in SOFTHSM2_CONF. */
  conf: string;
  /** process.env plus SOFTHSM2_CONF, for child processes. */
  env: NodeJS.ProcessEnv;
  modulePath: string;
  /** Label of the first token. */
  label: string;
  /** Labels of all tokens, in creation order. */
  labels: string[];
  pin: string;
  soPin: string;
  /** Removes the temp dir. */
  cleanup(): Promise<void>;
}

export interface SoftHsmOptions {
  label?: string;
  pin?: string;
  soPin?: string;
  /** How many tokens to initialise (default 1), labelled `label`, `label-2`, ... */
  tokens?: number;
  /** Labels of the tokens to initialise instead (overrides `label` and `tokens`). */
  labels?: string[];
}

export async function createSoftHsmToken(options: SoftHsmOptions = {}): Promise<SoftHsmToken> {
  const base = options.label ?? "kmip2pkcs11-test";
  const wanted = options.labels ?? Array.from({ length: options.tokens ?? 1 }, (_, i) => (i === 0 ? base : `${base}-${i + 1}`));
  const pin = options.pin ?? "1234";
  const soPin = options.soPin ?? "5678";

  const dir = await mkdtemp(join(tmpdir(), "kmip2pkcs11-softhsm-"));
  const tokenDir = join(dir, "tokens");
  const conf = join(dir, "softhsm2.conf");
  await mkdir(tokenDir);
  await writeFile(
    conf,
    [`directories.tokendir = ${tokenDir}`, "objectstore.backend = file", "log.level = ERROR", "slots.removable = false", ""].join(
      "\n",
    ),
  );
  const env = { ...process.env, SOFTHSM2_CONF: conf };

  const labels: string[] = [];
  try {
    for (const tokenLabel of wanted) {
      await execFileAsync(
        "softhsm2-util",
        ["--init-token", "--free", "--label", tokenLabel, "--pin", pin, "--so-pin", soPin],
        { env },
      );
      labels.push(tokenLabel);
    }
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    dir,
    conf,
    env,
    modulePath: SOFTHSM_MODULE_PATH,
    label: labels[0]!,
    labels,
    pin,
    soPin,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Runs pkcs11-tool against the token's module with the token's environment; resolves to stdout. */
export async function pkcs11Tool(token: SoftHsmToken, args: string[]): Promise<string> {
  const { stdout } = await execFileAsync("pkcs11-tool", ["--module", token.modulePath, ...args], { env: token.env });
  return stdout;
}

/** A backend on a fresh SoftHSM token, logged in, for tests of the layers above. */
export interface SoftHsmBackend {
  token: SoftHsmToken;
  backend: HsmBackend;
  /** Slot id of the first token. */
  slotId: string;
  /** Closes the backend and removes the token. */
  close(): Promise<void>;
}

/**
 * Creates a token, points this process's SOFTHSM2_CONF at it (before the
 * module is loaded: once per process), opens the in-process backend with a
 * silent logger and authenticates with the token's PIN.
 */
export async function openSoftHsmBackend(
  options: SoftHsmOptions & Omit<Partial<Pkcs11BackendOptions>, "libPath"> = {},
): Promise<SoftHsmBackend> {
  const token = await createSoftHsmToken(options);
  process.env.SOFTHSM2_CONF = token.conf;
  const backend = await openPkcs11Backend({ ...options, libPath: token.modulePath }, pino({ level: "silent" }));
  const { slotId } = await backend.resolveSlot(token.label);
  await backend.authenticate(slotId, Buffer.from(token.pin));
  return {
    token,
    backend,
    slotId,
    close: async () => {
      await backend.close();
      await token.cleanup();
    },
  };
}

/** Calls made through spied pkcs11js methods, and the PKCS11 instances that made them. */
export interface Pkcs11Spy {
  readonly counts: Map<string, number>;
  readonly instances: Set<pkcs11js.PKCS11>;
  restore(): void;
}

/**
 * Counts calls of the named pkcs11js methods. pkcs11js copies the native
 * methods onto each PKCS11 instance when it is constructed, so the spy must
 * be installed before the backend is opened.
 */
export function spyOnPkcs11(methods: string[]): Pkcs11Spy {
  const native = Object.getPrototypeOf(pkcs11js.PKCS11.prototype) as Record<string, (...args: unknown[]) => unknown>;
  const counts = new Map<string, number>();
  const instances = new Set<pkcs11js.PKCS11>();
  const originals = methods.map((name) => [name, native[name]!] as const);
  for (const [name, original] of originals) {
    counts.set(name, 0);
    native[name] = function (this: pkcs11js.PKCS11, ...args: unknown[]) {
      counts.set(name, counts.get(name)! + 1);
      instances.add(this);
      return original.apply(this, args);
    };
  }
  return {
    counts,
    instances,
    restore: () => {
      for (const [name, original] of originals) native[name] = original;
    },
  };
}
