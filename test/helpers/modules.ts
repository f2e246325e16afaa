// PKCS#11 modules other than plain SoftHSM, set up for tests:
//   - "p11-kit": p11-kit's client module talking over a Unix socket to a
//     `p11-kit server` that serves SoftHSM tokens (Debian p11-kit and
//     p11-kit-modules): a module that is really remote.
//   - "nss": NSS's softokn (libsoftokn3.so, Debian libnss3) on a database made
//     with certutil (libnss3-tools), configured through C_Initialize's
//     initialisation arguments.
//   - "tpm2": tpm2-pkcs11 (libtpm2-pkcs11-1) on the swtpm software TPM,
//     through the tpm2-abrmd resource manager on a D-Bus session bus of its
//     own (without one, the TPM's three object slots fill up at the second
//     key), with the tss2 TCTI modules for both.
//   - a "quirky" module built here with gcc: SoftHSM behind a shim that
//     misbehaves as some vendor modules do (test/hsm/quirky-pkcs11.c).
// Every set-up lives in a temp dir of its own and stops what it started.
import { execFile, spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createSoftHsmToken, SOFTHSM_MODULE_PATH, type SoftHsmToken } from "./softhsm.js";

const execFileAsync = promisify(execFile);

/** The first `/usr/lib/<multiarch triplet>/<relative>` that exists, if any. */
export function findLibrary(relative: string): string | undefined {
  for (const dir of readdirSync("/usr/lib")) {
    const path = join("/usr/lib", dir, relative);
    if (dir.endsWith("-linux-gnu") && existsSync(path)) return path;
  }
  return undefined;
}

/** Whether `command` is on the PATH. */
function onPath(command: string): boolean {
  return (process.env.PATH ?? "").split(":").some((dir) => dir !== "" && existsSync(join(dir, command)));
}

const built = new Map<string, Promise<string>>();

/**
 * Compiles a PKCS#11 module from a C file of the test sources (a path
 * relative to the repository), with the forwarding base of
 * test/fixtures/pkcs11-shim, once per test process; resolves to the shared
 * object, in a temp dir removed when the process exits.
 */
export function buildModule(source: string): Promise<string> {
  let module = built.get(source);
  if (module === undefined) {
    module = compile(source);
    built.set(source, module);
  }
  return module;
}

/** The forwarding base every test module is built with (shim.h, shim.c). */
const SHIM_DIR = fileURLToPath(new URL("../../../test/fixtures/pkcs11-shim/", import.meta.url));

async function compile(source: string): Promise<string> {
  // From dist/test/helpers/ back to the sources, which tsc does not copy.
  const path = fileURLToPath(new URL(`../../../${source}`, import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), "kmip2pkcs11-module-"));
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  const output = join(dir, "module.so");
  const flags = ["-std=c11", "-D_DEFAULT_SOURCE", "-Wall", "-Wextra", "-Werror", "-O1", "-shared", "-fPIC"];
  try {
    await execFileAsync("gcc", [...flags, "-I", SHIM_DIR, "-o", output, path, join(SHIM_DIR, "shim.c"), "-ldl"]);
  } catch (error) {
    throw new Error(`cannot build the PKCS#11 module ${source}: ${(error as Error).message}`);
  }
  return output;
}

/** Environment variables of the quirky module (see test/hsm/quirky-pkcs11.c). */
export const Quirk = {
  /** C_Initialize answers CKR_ARGUMENTS_BAD unless pReserved holds exactly this string. */
  initArgs: "QUIRKY_PKCS11_INIT_ARGS",
  /** C_Initialize takes this many milliseconds more. */
  initDelayMs: "QUIRKY_PKCS11_INIT_DELAY_MS",
  /** C_GenerateKeyPair answers CKR_DEVICE_ERROR to a template holding one of these attributes (hex CKA values, comma-separated). */
  refuseTemplate: "QUIRKY_PKCS11_REFUSE_TEMPLATE",
  /** C_GetAttributeValue answers CKR_DEVICE_ERROR when asked for this attribute. */
  failRead: "QUIRKY_PKCS11_FAIL_READ",
  /** C_GetAttributeValue answers CKR_ATTRIBUTE_TYPE_INVALID for this attribute: the module lacks it. */
  lack: "QUIRKY_PKCS11_LACK",
} as const;

export function buildQuirkyModule(): Promise<string> {
  return buildModule("test/hsm/quirky-pkcs11.c");
}

/** A `p11-kit server` serving SoftHSM tokens, and how its client module reaches it. */
export interface P11KitServer {
  /** p11-kit's client module. */
  readonly modulePath: string;
  /** process.env with SOFTHSM2_CONF and P11_KIT_SERVER_ADDRESS, for the relay. */
  readonly env: NodeJS.ProcessEnv;
  /** Stops the server (the SoftHSM token stays). */
  stop(): Promise<void>;
}

export const P11KIT_CLIENT = "pkcs11/p11-kit-client.so";

/** Why p11-kit cannot be tested here, or undefined when it can. */
export function p11KitUnavailable(): string | undefined {
  if (!onPath("p11-kit")) return "p11-kit is not installed (Debian package p11-kit)";
  if (findLibrary(P11KIT_CLIENT) === undefined) return "p11-kit's client module is not installed (Debian package p11-kit-modules)";
  return undefined;
}

/**
 * Starts `p11-kit server` in the foreground on a socket in the token's dir,
 * serving the tokens labelled `labels` (in that order: the client numbers its
 * slots 0x11, 0x12, ... in the order the server lists them).
 */
export async function startP11KitServer(token: SoftHsmToken, labels: readonly string[] = [token.label]): Promise<P11KitServer> {
  const modulePath = findLibrary(P11KIT_CLIENT);
  if (modulePath === undefined) throw new Error(p11KitUnavailable());
  const socket = join(token.dir, `p11-kit-${process.pid}-${Date.now()}.sock`);
  const uris = labels.map((label) => `pkcs11:token=${encodeURIComponent(label)}`);
  const server = spawn("p11-kit", ["server", "--foreground", "--name", socket, "--provider", token.modulePath, ...uris], {
    env: token.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const address = await new Promise<string>((resolve, reject) => {
    let output = "";
    const onData = (chunk: Buffer): void => {
      output += chunk.toString("utf8");
      // The server prints the shell assignment once its socket listens.
      const m = /P11_KIT_SERVER_ADDRESS=([^;\s]+)/.exec(output);
      if (m !== null) resolve(m[1]!);
    };
    server.stdout.on("data", onData);
    server.stderr.on("data", onData);
    server.once("error", reject);
    server.once("exit", (code) => reject(new Error(`p11-kit server exited (${code}) before listening:\n${output}`)));
  });
  return {
    modulePath,
    env: { ...token.env, P11_KIT_SERVER_ADDRESS: address },
    stop: () => stopProcess(server),
  };
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

/** Starts a helper daemon in the foreground; its output is kept for the error when it dies early. */
function startDaemon(command: string, args: string[], options: SpawnOptions): { child: ChildProcess; output: () => string } {
  const child = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  return { child, output: () => output };
}

/** A TCP port free on 127.0.0.1 just now (`port` 0: any), or undefined when `port` is taken. */
function freePort(port = 0): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(undefined));
    server.listen(port, "127.0.0.1", () => {
      const { port: bound } = server.address() as { port: number };
      server.close(() => resolve(bound));
    });
  });
}

/** Two consecutive TCP ports free on 127.0.0.1 just now; returns the first. */
async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await freePort();
    if (port !== undefined && port < 65535 && (await freePort(port + 1)) !== undefined) return port;
  }
  throw new Error("no two consecutive free TCP ports on 127.0.0.1");
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`. */
function connectable(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => {
      socket.end();
      resolve();
    });
    socket.once("error", reject);
  });
}

/** Retries `attempt` every 100 ms until it resolves, for at most `ms`; then throws its last error. */
async function retry<T>(ms: number, attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** An NSS softokn database and the init-args that open it. */
export interface NssDatabase {
  readonly dir: string;
  readonly modulePath: string;
  /** For [pkcs11] init-args (C_Initialize's pReserved). */
  readonly initArgs: string;
  /** The token that holds keys; the other, "NSS Generic Crypto Services", cannot keep token objects. */
  readonly label: string;
  /** The database password, which is the token's user PIN. */
  readonly pin: string;
  cleanup(): Promise<void>;
}

export const NSS_SOFTOKN = "libsoftokn3.so";

export function nssUnavailable(): string | undefined {
  if (findLibrary(NSS_SOFTOKN) === undefined) return "NSS's softokn is not installed (Debian package libnss3)";
  if (!onPath("certutil")) return "certutil is not installed (Debian package libnss3-tools)";
  return undefined;
}

/** A new NSS database (cert9.db/key4.db) with `pin` as its password. */
export async function createNssDatabase(pin = "1234"): Promise<NssDatabase> {
  const modulePath = findLibrary(NSS_SOFTOKN);
  if (modulePath === undefined) throw new Error(nssUnavailable());
  const dir = await mkdtemp(join(tmpdir(), "kmip2pkcs11-nss-"));
  try {
    const passwordFile = join(dir, "password.txt");
    await writeFile(passwordFile, `${pin}\n`, { mode: 0o600 });
    await execFileAsync("certutil", ["-N", "-d", `sql:${dir}`, "-f", passwordFile]);
    await rm(passwordFile);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    dir,
    modulePath,
    // NSS's module spec: the database, no file name prefixes, and no flags (read-write).
    initArgs: `configdir='sql:${dir}' certPrefix='' keyPrefix='' secmod='secmod.db' flags=`,
    label: "NSS Certificate DB",
    pin,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

export const TPM2_PKCS11 = "pkcs11/libtpm2_pkcs11.so";

export function tpm2Unavailable(): string | undefined {
  if (findLibrary(TPM2_PKCS11) === undefined) return "tpm2-pkcs11 is not installed (Debian package libtpm2-pkcs11-1)";
  for (const [command, pkg] of [
    ["swtpm", "swtpm"],
    ["tpm2-abrmd", "tpm2-abrmd"],
    ["dbus-daemon", "dbus"],
    ["pkcs11-tool", "opensc"],
  ] as const) {
    if (!onPath(command) && !existsSync(`/usr/sbin/${command}`)) return `${command} is not installed (Debian package ${pkg})`;
  }
  for (const [library, pkg] of [
    ["libtss2-tcti-swtpm.so.0", "libtss2-tcti-swtpm0"],
    ["libtss2-tcti-tabrmd.so.0", "libtss2-tcti-tabrmd0"],
  ] as const) {
    if (findLibrary(library) === undefined) return `${library} is not installed (Debian package ${pkg})`;
  }
  return undefined;
}

/** A software TPM with a resource manager and a tpm2-pkcs11 token, initialised with pkcs11-tool. */
export interface Tpm2Token {
  readonly modulePath: string;
  /** process.env with the store, the TCTI and the D-Bus address. */
  readonly env: NodeJS.ProcessEnv;
  readonly label: string;
  readonly pin: string;
  cleanup(): Promise<void>;
}

export async function createTpm2Token(label = "kmip2pkcs11-tpm", pin = "1234"): Promise<Tpm2Token> {
  const modulePath = findLibrary(TPM2_PKCS11);
  if (modulePath === undefined) throw new Error(tpm2Unavailable());
  const dir = await mkdtemp(join(tmpdir(), "kmip2pkcs11-tpm2-"));
  const daemons: ChildProcess[] = [];
  const cleanup = async (): Promise<void> => {
    for (const daemon of daemons.reverse()) await stopProcess(daemon);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const [state, store] = [join(dir, "state"), join(dir, "store")];
    await Promise.all([mkdir(state), mkdir(store)]);
    const port = await freePortPair();
    const swtpm = startDaemon("swtpm", [
      "socket",
      "--tpm2",
      "--tpmstate", `dir=${state}`,
      "--server", `type=tcp,port=${port},bindaddr=127.0.0.1`,
      // The swtpm TCTI finds the control channel on the next port.
      "--ctrl", `type=tcp,port=${port + 1},bindaddr=127.0.0.1`,
      // Powered on and TPM2_Startup done by swtpm itself.
      "--flags", "not-need-init,startup-clear",
    ], {});
    daemons.push(swtpm.child);
    const busPath = join(dir, "bus");
    daemons.push(startDaemon("dbus-daemon", ["--session", "--nofork", "--nopidfile", `--address=unix:path=${busPath}`], {}).child);
    const env = { ...process.env, DBUS_SESSION_BUS_ADDRESS: `unix:path=${busPath}`, TPM2_PKCS11_STORE: store, TPM2_PKCS11_TCTI: "tabrmd:bus_type=session" };
    // tpm2-abrmd gives up when the TPM or the bus is not there yet.
    await retry(10_000, async () => {
      if (!existsSync(busPath)) throw new Error(`dbus-daemon has not made ${busPath}`);
      if (swtpm.child.exitCode !== null) throw new Error(`swtpm exited: ${swtpm.output()}`);
      await connectable(port);
    });
    const abrmd = startDaemon("tpm2-abrmd", ["--session", `--tcti=swtpm:host=127.0.0.1,port=${port}`, ...(process.getuid?.() === 0 ? ["--allow-root"] : [])], { env });
    daemons.push(abrmd.child);
    const tool = (args: string[]) => execFileAsync("pkcs11-tool", ["--module", modulePath, ...args], { env });
    await retry(10_000, async () => {
      if (abrmd.child.exitCode !== null) throw new Error(`tpm2-abrmd exited: ${abrmd.output()} (swtpm: ${swtpm.output()})`);
      await tool(["--list-slots"]);
    });
    await tool(["--init-token", "--label", label, "--so-pin", "5678"]);
    await tool(["--token-label", label, "--login", "--login-type", "so", "--so-pin", "5678", "--init-pin", "--pin", pin]);
    return { modulePath, env, label, pin, cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** What a relay needs to use one module, for the module-parameterised tests. */
export interface ModuleSetUp {
  readonly modulePath: string;
  /** The relay's environment. */
  readonly env: NodeJS.ProcessEnv;
  /** Extra [pkcs11] lines (init-args, ...). */
  readonly pkcs11: string[];
  /** The KMIP username and password that select and unlock the token. */
  readonly username: string;
  readonly pin: string;
  /** The SoftHSM token behind the module, when there is one. */
  readonly token?: SoftHsmToken;
  cleanup(): Promise<void>;
}

export interface ExpectedFailure {
  readonly step: string;
  /** Matched against "Result Reason: Result Message". */
  readonly error: RegExp;
}

/** The relay's refusal, before C_GenerateKeyPair, of a key type the token does not list. */
const NO_EDDSA: ExpectedFailure = {
  step: "Create Key Pair",
  error: /^CryptographicFailure: C_GetMechanismInfo: CKR_MECHANISM_INVALID \(the token cannot generate EdDSA keys\)$/,
};

export interface ModuleUnderTest {
  readonly name: string;
  /**
   * What the module's Debian 12 version cannot do, by algorithm (the names of
   * test/e2e/modules.test.ts): the first step that fails and its KMIP error.
   */
  readonly expectedFailures: Readonly<Record<string, ExpectedFailure>>;
  /** Why the module cannot be tested on this machine, or undefined. */
  unavailable(): string | undefined;
  setUp(): Promise<ModuleSetUp>;
}

const toml = (s: string): string => JSON.stringify(s);

/** The modules the end-to-end suite runs against, plain SoftHSM first. */
export const MODULES: readonly ModuleUnderTest[] = [
  {
    name: "SoftHSM",
    expectedFailures: {},
    unavailable: () => (existsSync(SOFTHSM_MODULE_PATH) ? undefined : "SoftHSM is not installed (Debian package softhsm2)"),
    async setUp() {
      const token = await createSoftHsmToken();
      return { modulePath: token.modulePath, env: token.env, pkcs11: [], username: token.label, pin: token.pin, token, cleanup: token.cleanup };
    },
  },
  {
    name: "p11-kit client -> p11-kit server -> SoftHSM",
    // p11-kit 0.24's RPC drops the PKCS#11 v3.0 EdDSA mechanisms.
    expectedFailures: { Ed25519: NO_EDDSA },
    unavailable: p11KitUnavailable,
    async setUp() {
      const token = await createSoftHsmToken();
      let server: P11KitServer;
      try {
        server = await startP11KitServer(token);
      } catch (error) {
        await token.cleanup();
        throw error;
      }
      return {
        modulePath: server.modulePath,
        env: server.env,
        pkcs11: [],
        username: token.label,
        pin: token.pin,
        token,
        async cleanup() {
          await server.stop();
          await token.cleanup();
        },
      };
    },
  },
  {
    name: "NSS softokn",
    // NSS 3.87 has no CKM_EC_EDWARDS_KEY_PAIR_GEN.
    expectedFailures: { Ed25519: NO_EDDSA },
    unavailable: nssUnavailable,
    async setUp() {
      const db = await createNssDatabase();
      return {
        modulePath: db.modulePath,
        env: process.env,
        pkcs11: [`init-args = ${toml(db.initArgs)}`],
        username: db.label,
        pin: db.pin,
        cleanup: db.cleanup,
      };
    },
  },
  {
    name: "tpm2-pkcs11 -> tpm2-abrmd -> swtpm",
    unavailable: tpm2Unavailable,
    expectedFailures: {
      // tpm2-pkcs11 1.9 offers RSA PSS only with its own hashing (CKM_SHA*_RSA_PKCS_PSS), and not even that on swtpm.
      "RSA-2048 PSS": { step: "Sign", error: /^CryptographicFailure: C_Sign: CKR_MECHANISM_INVALID$/ },
      // It makes P-521 keys (with a malformed CKA_EC_POINT, see src/hsm/ec.ts) but cannot sign with them.
      "P-521": { step: "Sign", error: /^GeneralFailure: C_SignInit: CKR_HOST_MEMORY$/ },
      Ed25519: NO_EDDSA,
    },
    async setUp() {
      const tpm = await createTpm2Token();
      return {
        modulePath: tpm.modulePath,
        env: tpm.env,
        // TPM keys both sign and decrypt: tpm2-pkcs11 refuses CKA_ENCRYPT and CKA_DECRYPT false (CKR_GENERAL_ERROR).
        pkcs11: ['quirks = { omit-attributes = ["CKA_ENCRYPT", "CKA_DECRYPT"] }'],
        username: tpm.label,
        pin: tpm.pin,
        cleanup: tpm.cleanup,
      };
    },
  },
];
