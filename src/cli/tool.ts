// What the operator commands (check, keys, client) share: option parsing with
// the relay's usage conventions, secrets from a file or the environment (never
// from the command line, where `ps` and shell history would show them), the
// config file, an in-process HSM backend, text tables and a progress line.
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { DEFAULT_CONFIG_PATH, loadConfig, type Config } from "../config/config.js";
import { ConfigError } from "../config/table-reader.js";
import type { HsmBackend, SlotSummary } from "../hsm/backend.js";
import { HsmError } from "../hsm/hsm-error.js";
import { createLogger, type RootLogger } from "../log/logger.js";
import { describeParseError, UsageError } from "./args.js";
import type { CliIo } from "./io.js";

/** Exit statuses of the commands: like the relay's own, so that scripts can tell them apart. */
export const EXIT_OK = 0;
/** The command ran and something is wrong (printed on stderr). */
export const EXIT_FAILED = 1;
/** The command line is wrong. */
export const EXIT_USAGE = 2;

/** A failure the command has explained: `message` says what is wrong, `fix` how to put it right. */
export class ToolError extends Error {
  override readonly name = "ToolError";
  constructor(
    message: string,
    readonly fix?: string,
  ) {
    super(message);
  }
}

/** util.parseArgs (strict unless the config says otherwise), with its errors turned into UsageErrors. */
export function parseToolArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (err) {
    throw new UsageError(describeParseError(err as Error & { code?: string }));
  }
}

/** `-c/--config`, shared by the commands that read the relay's config file. */
export const CONFIG_OPTION = { config: { type: "string", short: "c" } } as const;

/**
 * Runs a command body: a UsageError exits 2 with a hint, a ToolError exits 1
 * with its message and fix; anything else is a bug and propagates.
 */
export async function runTool(name: string, io: CliIo, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`kmip2pkcs11 ${name}: ${err.message}\nTry 'kmip2pkcs11 ${name} --help' for more information.\n`);
      return EXIT_USAGE;
    }
    if (err instanceof ToolError) {
      io.stderr.write(`kmip2pkcs11 ${name}: ${err.message}\n${err.fix === undefined ? "" : `  fix: ${err.fix}\n`}`);
      return EXIT_FAILED;
    }
    throw err;
  }
}

/** The config file named by -c (or the default) and its path; a ToolError when it cannot be used. */
export async function loadToolConfig(path: string | undefined): Promise<{ config: Config; path: string }> {
  const file = resolve(path ?? DEFAULT_CONFIG_PATH);
  try {
    return { config: await loadConfig(file), path: file };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const fix =
      err.key === undefined && /no such file/.test(err.detail)
        ? `name the relay's config file with -c FILE (default ${DEFAULT_CONFIG_PATH})`
        : `correct the file; \`kmip2pkcs11 --check-config -c ${file}\` checks it`;
    throw new ToolError(err.message, fix);
  }
}

/**
 * The HSM backend of the config, with the module loaded into this process
 * (a tool needs no isolation from a module it uses for a moment). Only
 * errors are logged (to stderr): the commands report what matters themselves.
 */
export async function openToolBackend(config: Config): Promise<{ backend: HsmBackend; logger: RootLogger }> {
  const logger = createLogger({ level: "error", target: { type: "stderr" } });
  const { openBackend } = await import("../hsm/open-backend.js");
  try {
    const backend = await openBackend({ ...config, pkcs11: { ...config.pkcs11, isolation: "in-process" } }, logger);
    return { backend, logger };
  } catch (err) {
    await logger.close();
    throw new ToolError((err as Error).message, moduleFix(config.pkcs11.libPath, (err as Error).message));
  }
}

/** What to do about a module that does not load, from the loader's message (hsm/module.ts). */
function moduleFix(libPath: string, message: string): string {
  if (/cannot load the library/.test(message)) {
    return `check [pkcs11] lib-path = "${libPath}": the file must exist, be readable by this user and be a PKCS#11 module for this machine (\`ls -l ${libPath}\`, \`file ${libPath}\`)`;
  }
  if (/C_Initialize/.test(message)) {
    return "the module refused to start: check its own configuration file and the environment variables it needs ([pkcs11] env), and that this user may read them";
  }
  return "see the module vendor's documentation for this error";
}

/** Where a secret may come from: a file, a named environment variable, or a default variable. */
export interface SecretSource {
  /** A file holding the secret; one trailing newline is dropped. */
  readonly file?: string;
  /** The name of an environment variable holding it. */
  readonly env?: string;
  /** The variable consulted when neither is given. */
  readonly defaultEnv: string;
  /** "PIN" or "password", for messages. */
  readonly what: string;
}

/** The secret, or undefined when no source holds one. */
export async function readSecret(source: SecretSource, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (source.file !== undefined && source.env !== undefined) {
    throw new UsageError(`give the ${source.what} by file or by environment variable, not both`);
  }
  if (source.file !== undefined) {
    let text: string;
    try {
      text = await readFile(source.file, "utf8");
    } catch (err) {
      throw new ToolError(`cannot read the ${source.what} file ${source.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const secret = text.replace(/\r?\n$/, "");
    if (secret === "") throw new ToolError(`the ${source.what} file ${source.file} is empty`);
    return secret;
  }
  const name = source.env ?? source.defaultEnv;
  const value = env[name];
  if (source.env !== undefined && (value === undefined || value === "")) {
    throw new ToolError(`the environment variable ${name} holds no ${source.what}`, `export ${name}=... before running the command`);
  }
  return value === "" ? undefined : value;
}

/** --pin-file and --pin-env, for the commands that log in to a token. */
export const PIN_OPTIONS = { "pin-file": { type: "string" }, "pin-env": { type: "string" } } as const;

/** The token's user PIN: --pin-file, --pin-env, or KMIP2PKCS11_PIN. */
export function pinSource(values: { "pin-file"?: string; "pin-env"?: string }): SecretSource {
  return { file: values["pin-file"], env: values["pin-env"], defaultEnv: "KMIP2PKCS11_PIN", what: "PIN" };
}

/** What to do about a failed login, by the backend's error code. */
export function loginFix(err: HsmError): string | undefined {
  switch (err.code) {
    case "AUTH_FAILED":
      return "give the token's user PIN (the password KMIP clients send); tokens lock the PIN after a few wrong attempts, so check the PIN file or variable before trying again";
    case "PIN_LOCKED":
      return "the token has locked the user PIN: unblock it with the security officer PIN using the vendor's tool (e.g. pkcs11-tool --init-pin --login --login-type so)";
    case "TOKEN_NOT_INITIALISED":
      return "initialise the token with the vendor's tool (e.g. softhsm2-util --init-token), or name another token";
    case "SLOT_NOT_FOUND":
      return "name a token by its label, slot id or slot index; `kmip2pkcs11 check` lists them";
    default:
      return undefined;
  }
}

/** What to do when the module shows no token. */
export const NO_TOKEN_FIX =
  "initialise a token with the vendor's tool (SoftHSM: softhsm2-util --init-token --free --label NAME), and check that this user can see it (SoftHSM: directories.tokendir in SOFTHSM2_CONF must be readable and writable)";

/**
 * The token a KMIP client with username `name` would use (the same rule:
 * label, then slot id, then index); without a name, the only token.
 */
export async function pickSlot(backend: HsmBackend, name: string | undefined): Promise<SlotSummary> {
  const slots = await backend.listSlots();
  if (slots.length === 0) throw new ToolError("the module reports no slot with a token", NO_TOKEN_FIX);
  // SoftHSM, for one, always shows an uninitialised token in a spare slot.
  const usable = slots.filter((s) => s.tokenInitialized);
  const tokens = usable.map((s) => `"${s.tokenLabel}" (slot ${s.index}, id ${s.slotId})`).join(", ");
  if (name === undefined) {
    if (usable.length === 1) return usable[0] as SlotSummary;
    throw new ToolError(`the module has ${usable.length} initialised tokens`, usable.length === 0 ? NO_TOKEN_FIX : `name one with --slot: ${tokens}`);
  }
  try {
    return await backend.resolveSlot(name);
  } catch (err) {
    if (err instanceof HsmError && err.code === "SLOT_NOT_FOUND") throw new ToolError(err.message, `name one of the tokens: ${tokens}`);
    throw err;
  }
}

/** Left-aligned columns separated by two spaces; the last column is not padded. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}

/**
 * A progress line on stderr for commands that take a while. On a terminal it
 * is rewritten in place a few times a second; otherwise (a log, a pipe) a
 * line is written every `logIntervalMs`, so that nothing floods a file.
 */
export class Progress {
  private timer: NodeJS.Timeout | undefined;
  private readonly started = performance.now();
  private shown = false;

  constructor(
    private readonly stream: NodeJS.WritableStream & { isTTY?: boolean },
    private readonly describe: (elapsedSeconds: number) => string,
    private readonly logIntervalMs = 5_000,
  ) {}

  start(): this {
    const tty = this.stream.isTTY === true;
    this.timer = setInterval(() => this.show(tty), tty ? 250 : this.logIntervalMs);
    this.timer.unref();
    return this;
  }

  /** Clears a terminal line; the caller prints the result. */
  stop(): void {
    clearInterval(this.timer);
    if (this.shown && this.stream.isTTY === true) this.stream.write("\r\x1b[K");
  }

  private show(tty: boolean): void {
    const text = this.describe((performance.now() - this.started) / 1000);
    this.shown = true;
    this.stream.write(tty ? `\r\x1b[K${text}` : `${text}\n`);
  }
}
