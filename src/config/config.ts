// The TOML configuration file, format "v1" (doc/compatibility.md#config-file).
//
// The keys of the original Rust relay keep their meaning; every other key is
// an addition with a default, so an existing config file keeps working.
// Validation is strict: an unknown key, a value of the wrong type or out of
// range is a ConfigError naming the file and the dotted key, because a typo
// that silently falls back to a default is worse than a refusal to start.
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { parse, TomlDate, TomlError, type TomlTable, type TomlValue } from "smol-toml";
import { OMITTABLE_ATTRIBUTES, SKIPPABLE_ATTRIBUTES, type QuirkAttributeName } from "../hsm/quirks.js";
import { aliasProblem, type TokenSelector } from "../hsm/token-aliases.js";
import { LOG_LEVEL_ALIASES, LOG_LEVELS, type LogLevel, type LogTarget } from "../log/logger.js";
import { readClients, type ClientConfig } from "./clients.js";

export const DEFAULT_CONFIG_PATH = "/etc/kmip2pkcs11/config.toml";

/** Worker processes: a count, or "auto" for one per core but one, at least one (src/server/workers/). */
export type Workers = number | "auto";
/** More would only add processes: each worker holds a module session pool of its own. */
export const MAX_WORKERS = 256;

/** How the PKCS#11 module is hosted. */
export const ISOLATION_MODES = ["process", "in-process"] as const;
export type Isolation = (typeof ISOLATION_MODES)[number];

/**
 * [tokens.NAME] key-export: whether symmetric keys made on that token may
 * leave it in the clear (README "Key export", src/operations/key-export.ts).
 * "on-request" (the default): only when the client's template says
 * Extractable true; "by-default": unless it says Extractable false or
 * Sensitive true; "never": not at all.
 */
export const KEY_EXPORT_POLICIES = ["on-request", "by-default", "never"] as const;
export type KeyExport = (typeof KEY_EXPORT_POLICIES)[number];

/** A [tokens] table's key-export, with how that table selects its token. */
export interface KeyExportRule extends TokenSelector {
  /** The [tokens] table's name. */
  readonly alias: string;
  readonly policy: KeyExport;
}

/**
 * The default of every optional key, in config-file units (seconds, bytes).
 * The sample config, the docs and the tests read them from here.
 */
export const DEFAULTS = {
  pkcs11: {
    isolation: "process" as Isolation,
    callTimeout: 60,
    writeTimeout: 600,
    maxQueuedCalls: 1024,
    maxQueuedWrites: 64,
    startTimeout: 30,
    maxSessions: 16,
    loginFailureLimit: 5,
    loginFailureWindow: 60,
    loginCooldown: 300,
    loginFailureBudget: 20,
    pinRecheck: 300,
    quirks: { omitAttributes: [] as readonly QuirkAttributeName[], skipAttributes: [] as readonly QuirkAttributeName[] },
  },
  server: {
    addr: "127.0.0.1:5696",
    maxMessageSize: 65536,
    stateDir: "/var/lib/kmip2pkcs11",
    handshakeTimeout: 10,
    firstRequestTimeout: 10,
    idleTimeout: 300,
    maxConnections: 1024,
    maxConnectionsPerPeer: 256,
    maxHandshakesPerPeer: 64,
    maxResponseSize: 1048576,
    maxRequestsInFlight: 32,
    maxBatchCount: 1024,
    shutdownTimeout: 10,
    workers: "auto" as Workers,
  },
  lifecycle: {
    strictDestroy: false,
  },
  daemon: {
    logLevel: "info" as LogLevel,
    logTarget: { type: "stderr" } as LogTarget,
    daemonize: false,
  },
} as const;

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

export interface TlsIdentityPaths {
  readonly certPath: string;
  readonly keyPath: string;
}

export interface ServerConfig {
  /** "host:port"; IPv6 hosts in brackets. Split it with parseHostPort(). */
  readonly addr: string;
  /** Absent: a self-signed certificate for localhost is used. */
  readonly identity?: TlsIdentityPaths;
  /** Bytes, TTLV header included. */
  readonly maxMessageSize: number;
  readonly stateDir: string;
  /** When set, clients must present a certificate chaining to these CAs. */
  readonly clientCaPath?: string;
  /** Seconds. */
  readonly handshakeTimeout: number;
  /** Seconds from the handshake to the first whole request. */
  readonly firstRequestTimeout: number;
  /** Seconds. */
  readonly idleTimeout: number;
  readonly maxConnections: number;
  /** Per peer address (an IPv6 /64) and per client certificate. */
  readonly maxConnectionsPerPeer: number;
  /** Connections of one peer address in the TLS handshake at once. */
  readonly maxHandshakesPerPeer: number;
  /** Bytes of one response message, at most. */
  readonly maxResponseSize: number;
  /** Per connection. */
  readonly maxRequestsInFlight: number;
  readonly maxBatchCount: number;
  /** Seconds to let requests in progress finish on shutdown. */
  readonly shutdownTimeout: number;
  /** Worker processes serving clients; 1 serves them in the relay's own process. */
  readonly workers: Workers;
}

/** `identity = "user:group"` or `"user"`. */
export interface RunAs {
  readonly user: string;
  readonly group?: string;
}

export interface DaemonConfig {
  readonly logLevel: LogLevel;
  readonly logTarget: LogTarget;
  readonly daemonize: boolean;
  /** Written only when daemonizing. */
  readonly pidFile?: string;
  /** Privileges to drop to once the listener is bound and the module loaded. */
  readonly identity?: RunAs;
}

/** [lifecycle]: what KMIP leaves to the server about the object lifecycle (doc/object-model.md). */
export interface LifecycleConfig {
  /** Destroy of an Active object is refused (KMIP 1.x 4.21) instead of deactivating it first. */
  readonly strictDestroy: boolean;
}

export interface MetricsConfig {
  /** "host:port" of the Prometheus endpoint; absent: no endpoint. */
  readonly addr?: string;
}

export interface Config {
  readonly version: "v1";
  readonly pkcs11: Pkcs11Config;
  readonly server: ServerConfig;
  readonly daemon: DaemonConfig;
  readonly metrics: MetricsConfig;
  readonly lifecycle: LifecycleConfig;
  /** [tokens]: names that select a token by label and/or serial number (src/hsm/slots.ts). */
  readonly tokens: Readonly<Record<string, TokenSelector>>;
  /** [tokens.NAME] key-export, for the tables that set it. */
  readonly keyExport: readonly KeyExportRule[];
  /** [clients.NAME]: client certificates mapped to a token and a PIN source (src/config/clients.ts). */
  readonly clients: readonly ClientConfig[];
}

/** A config file that cannot be used; the message names the file and key. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    readonly file: string,
    /** Dotted key ("server.addr"); absent for read and syntax errors. */
    readonly key: string | undefined,
    readonly detail: string,
  ) {
    super(key === undefined ? `${file}: ${detail}` : `${file}: ${key}: ${detail}`);
  }
}

export async function loadConfig(path: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : (err as Error).message;
    throw new ConfigError(path, undefined, `cannot read config file: ${why}`);
  }
  return parseConfig(text, path);
}

/**
 * Parses and validates a config file's text. `path` names the file in error
 * messages; relative paths inside the file are resolved against the current
 * working directory (doc/compatibility.md#config-file), now, because daemonizing changes it to "/".
 */
export function parseConfig(text: string, path: string): Config {
  let doc: TomlTable;
  try {
    // Integers as BigInt so that `5696` and `5696.0` stay distinguishable.
    doc = parse(text, { integersAsBigInt: true, unsafeKeyBehaviour: "throw" });
  } catch (err) {
    if (err instanceof TomlError) {
      const what = (err.message.split("\n")[0] ?? "").replace(/^Invalid TOML document: /, "");
      throw new ConfigError(`${path}:${err.line}:${err.column}`, undefined, `TOML syntax error: ${what}`);
    }
    throw err;
  }
  const root = new TableReader(doc, "", path);
  const version = root.string("version", { required: true });
  if (version !== "v1") root.fail("version", `unsupported version ${JSON.stringify(version)}, expected "v1"`);
  const config: Config = {
    version: "v1",
    pkcs11: readPkcs11(root.table("pkcs11", { required: true })),
    server: readServer(root.table("server")),
    daemon: readDaemon(root.table("daemon")),
    metrics: readMetrics(root.table("metrics")),
    lifecycle: readLifecycle(root.table("lifecycle")),
    ...readTokens(root.table("tokens")),
    clients: readClients(root.table("clients")),
  };
  if (config.clients.length > 0 && config.server.clientCaPath === undefined) {
    root.fail("clients", "a client certificate is verified only with server.client-ca-path: set it to the CA that issues the clients' certificates");
  }
  root.finish();
  return config;
}

function readPkcs11(t: TableReader): Pkcs11Config {
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

function readTokens(t: TableReader): Pick<Config, "tokens" | "keyExport"> {
  const tokens: Record<string, TokenSelector> = {};
  const keyExport: KeyExportRule[] = [];
  for (const name of t.keys()) {
    const alias = t.table(name, { required: true });
    const selector: TokenSelector = { label: alias.string("label"), serial: alias.string("serial") };
    const policy = alias.oneOf("key-export", KEY_EXPORT_POLICIES);
    alias.finish();
    const problem = aliasProblem(name, selector);
    if (problem !== undefined) t.fail(name, problem);
    // Absent fields are left out rather than undefined, so the selector crosses to the module's process as it is.
    tokens[name] = Object.fromEntries(Object.entries(selector).filter(([, v]) => v !== undefined));
    if (policy !== undefined) keyExport.push({ ...tokens[name], alias: name, policy });
  }
  t.finish();
  return { tokens, keyExport };
}

function readServer(t: TableReader): ServerConfig {
  const d = DEFAULTS.server;
  const config: ServerConfig = {
    addr: t.hostPort("addr") ?? d.addr,
    identity: readIdentity(t.table("identity")),
    maxMessageSize: t.integer("max-message-size", 16, 1 << 30) ?? d.maxMessageSize,
    stateDir: t.path("state-dir") ?? d.stateDir,
    clientCaPath: t.path("client-ca-path"),
    handshakeTimeout: t.seconds("handshake-timeout") ?? d.handshakeTimeout,
    firstRequestTimeout: t.seconds("first-request-timeout") ?? d.firstRequestTimeout,
    idleTimeout: t.seconds("idle-timeout") ?? d.idleTimeout,
    maxConnections: t.integer("max-connections", 1, 1_000_000) ?? d.maxConnections,
    maxConnectionsPerPeer: t.integer("max-connections-per-peer", 1, 1_000_000) ?? d.maxConnectionsPerPeer,
    maxHandshakesPerPeer: t.integer("max-handshakes-per-peer", 1, 1_000_000) ?? d.maxHandshakesPerPeer,
    maxResponseSize: t.integer("max-response-size", 1024, 1 << 30) ?? d.maxResponseSize,
    maxRequestsInFlight: t.integer("max-requests-in-flight", 1, 65536) ?? d.maxRequestsInFlight,
    maxBatchCount: t.integer("max-batch-count", 1, 1_000_000) ?? d.maxBatchCount,
    shutdownTimeout: t.seconds("shutdown-timeout") ?? d.shutdownTimeout,
    workers: readWorkers(t) ?? d.workers,
  };
  t.finish();
  return config;
}

/**
 * The number of worker processes `workers` asks for. "auto" is one per core
 * but one, at least one: a core is left to the module's work (its process,
 * its threads, or its network client), the kernel's TLS and TCP work and
 * the supervisor, and on two cores that is one worker, which measured best
 * there (bench/README.md, "Worker processes").
 */
export function resolveWorkers(workers: Workers, cores = availableParallelism()): number {
  return workers === "auto" ? Math.max(1, Math.min(cores - 1, MAX_WORKERS)) : workers;
}

function readWorkers(t: TableReader): Workers | undefined {
  if (t.raw("workers") === "auto") return "auto";
  if (typeof t.raw("workers") === "string") t.fail("workers", `must be "auto" or an integer between 1 and ${MAX_WORKERS}`);
  return t.integer("workers", 1, MAX_WORKERS);
}

function readIdentity(t: TableReader): TlsIdentityPaths | undefined {
  const certPath = t.path("cert-path");
  const keyPath = t.path("key-path");
  t.finish();
  if (certPath === undefined && keyPath === undefined) return undefined;
  if (certPath === undefined) t.fail("cert-path", "missing: key-path and cert-path go together");
  if (keyPath === undefined) t.fail("key-path", "missing: cert-path and key-path go together");
  return { certPath, keyPath };
}

function readDaemon(t: TableReader): DaemonConfig {
  const d = DEFAULTS.daemon;
  const config: DaemonConfig = {
    logLevel: t.oneOf("log-level", LOG_LEVELS, LOG_LEVEL_ALIASES) ?? d.logLevel,
    logTarget: readLogTarget(t, "log-target") ?? d.logTarget,
    daemonize: t.boolean("daemonize") ?? d.daemonize,
    pidFile: t.path("pid-file"),
    identity: readRunAs(t, "identity"),
  };
  t.finish();
  return config;
}

/** What `log-target` may look like, for error messages. */
const LOG_TARGET_FORMS = '"stderr", "syslog", "file:/var/log/kmip2pkcs11.log", or a table such as { type = "file", path = "/var/log/kmip2pkcs11.log" }';

function readLogTarget(parent: TableReader, key: string): LogTarget | undefined {
  if (!parent.has(key)) return undefined;
  // The command line's form (-l) is taken too: "stderr", "syslog", "file:PATH".
  const text = parent.raw(key);
  if (typeof text === "string") {
    const path = text.startsWith("file:") ? text.slice("file:".length) : undefined;
    if (text === "stderr" || text === "syslog") return { type: text };
    if (path !== undefined && path !== "") return { type: "file", path: resolve(path) };
    return parent.fail(key, `expected ${LOG_TARGET_FORMS}, got ${JSON.stringify(text)}`);
  }
  if (text !== undefined && tomlType(text) !== "table") return parent.fail(key, `expected ${LOG_TARGET_FORMS}, got ${tomlType(text)}`);
  const t = parent.table(key);
  const type = t.oneOf("type", ["stderr", "syslog", "file"] as const);
  let target: LogTarget;
  switch (type) {
    case undefined:
      return t.fail("type", 'missing: expected "stderr", "syslog" or "file"');
    case "stderr":
      target = { type };
      break;
    case "syslog": {
      const socket = t.path("socket");
      target = socket === undefined ? { type } : { type, socket };
      break;
    }
    case "file":
      target = { type, path: t.path("path", { required: true }) };
      break;
  }
  t.finish();
  return target;
}

function readRunAs(t: TableReader, key: string): RunAs | undefined {
  const value = t.string(key);
  if (value === undefined) return undefined;
  const m = /^([^:\s]+)(?::([^:\s]+))?$/.exec(value);
  if (m === null) return t.fail(key, `expected "user" or "user:group", got ${JSON.stringify(value)}`);
  const user = m[1] as string;
  return m[2] === undefined ? { user } : { user, group: m[2] };
}

function readLifecycle(t: TableReader): LifecycleConfig {
  const config: LifecycleConfig = { strictDestroy: t.boolean("strict-destroy") ?? DEFAULTS.lifecycle.strictDestroy };
  t.finish();
  return config;
}

function readMetrics(t: TableReader): MetricsConfig {
  const config: MetricsConfig = { addr: t.hostPort("addr") };
  t.finish();
  return config;
}

/**
 * Splits "host:port" ("[::1]:5696" for IPv6). Returns undefined when the text
 * is not of that form or the port is not 0-65535.
 */
export function parseHostPort(addr: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(addr);
  if (m === null) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  if (m[1] !== undefined) return isIP(m[1]) === 6 ? { host: m[1], port } : undefined;
  const host = m[2] as string;
  return /^[A-Za-z0-9.-]+$/.test(host) ? { host, port } : undefined;
}

/** The TOML type name used in "expected ..., got ..." messages. */
function tomlType(value: TomlValue): string {
  if (typeof value === "bigint") return "integer";
  if (typeof value === "number") return "float";
  if (typeof value === "string" || typeof value === "boolean") return typeof value;
  if (Array.isArray(value)) return "array";
  if (value instanceof TomlDate) return "date-time";
  return "table";
}

interface Required {
  required: true;
}

/**
 * Reads one TOML table with typed getters. Each getter marks its key as seen;
 * finish() then rejects whatever key remains, so every key the file may hold
 * is exactly a key some getter asks for.
 */
export class TableReader {
  private readonly seen = new Set<string>();

  constructor(
    private readonly values: TomlTable,
    private readonly prefix: string,
    private readonly file: string,
  ) {}

  fail(key: string, detail: string): never {
    throw new ConfigError(this.file, this.prefix + key, detail);
  }

  has(key: string): boolean {
    return Object.hasOwn(this.values, key);
  }

  /** The value as written, marking the key as seen (for keys that take several forms). */
  raw(key: string): TomlValue | undefined {
    this.seen.add(key);
    return this.values[key];
  }

  keys(): string[] {
    return Object.keys(this.values);
  }

  private get(key: string, expected: string, required: boolean): TomlValue | undefined {
    this.seen.add(key);
    if (!this.has(key)) {
      if (required) {
        // "lib_path" for "lib-path": the key the operator wrote is the one to name.
        const misspelt = this.keys().find((k) => !this.seen.has(k) && suggestion(k, [key]) !== "");
        if (misspelt !== undefined) this.fail(misspelt, `unknown key${suggestion(misspelt, [key])}`);
        this.fail(key, `missing: expected ${expected}`);
      }
      return undefined;
    }
    return this.values[key];
  }

  private typed<T>(key: string, expected: string, required: boolean, check: (v: TomlValue) => v is TomlValue & T): T | undefined {
    const v = this.get(key, expected, required);
    if (v === undefined) return undefined;
    if (!check(v)) this.fail(key, `expected ${expected}, got ${tomlType(v)}${example(key, expected, v)}`);
    return v;
  }

  string(key: string, opts: Required): string;
  string(key: string): string | undefined;
  string(key: string, opts?: Required): string | undefined {
    return this.typed(key, "a string", opts?.required ?? false, (v): v is string => typeof v === "string");
  }

  boolean(key: string): boolean | undefined {
    return this.typed(key, "a boolean", false, (v): v is boolean => typeof v === "boolean");
  }

  /** A string naming a file; relative paths resolve against the working directory. */
  path(key: string, opts: Required): string;
  path(key: string): string | undefined;
  path(key: string, opts?: Required): string | undefined {
    const v = this.string(key, opts as Required);
    if (v === undefined) return undefined;
    if (v === "") this.fail(key, "must not be empty");
    return resolve(v);
  }

  /** An array of strings, each one of `allowed`, without repeats. */
  stringsOf<T extends string>(key: string, allowed: readonly T[]): T[] | undefined {
    const expected = "an array of strings";
    const v = this.typed(key, expected, false, (x): x is TomlValue[] => Array.isArray(x));
    if (v === undefined) return undefined;
    const seen = new Set<string>();
    for (const item of v) {
      if (typeof item !== "string") this.fail(key, `expected ${expected}, got an array holding a ${tomlType(item)}`);
      if (!(allowed as readonly string[]).includes(item)) {
        this.fail(key, `${JSON.stringify(item)} is not one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}`);
      }
      if (seen.has(item)) this.fail(key, `${JSON.stringify(item)} is listed twice`);
      seen.add(item);
    }
    return [...seen] as T[];
  }

  /** `aliases`: other names operators use for an allowed value ("warn" for "warning"). */
  oneOf<T extends string>(key: string, allowed: readonly T[], aliases: Readonly<Record<string, T>> = {}): T | undefined {
    const v = this.string(key);
    if (v === undefined) return undefined;
    if (Object.hasOwn(aliases, v)) return aliases[v];
    if (!(allowed as readonly string[]).includes(v)) {
      this.fail(key, `expected one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}, got ${JSON.stringify(v)}`);
    }
    return v as T;
  }

  integer(key: string, min: number, max: number): number | undefined {
    const v = this.typed(key, "an integer", false, (x): x is bigint => typeof x === "bigint");
    if (v === undefined) return undefined;
    if (v < BigInt(min) || v > BigInt(max)) this.fail(key, `must be between ${min} and ${max}, got ${v}`);
    return Number(v);
  }

  /** A duration in seconds: a positive integer or float, at most one day. */
  seconds(key: string): number | undefined {
    const expected = "a number of seconds";
    const v = this.typed(key, expected, false, (x): x is bigint | number => typeof x === "bigint" || typeof x === "number");
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!(n > 0 && n <= 86400)) this.fail(key, `must be more than 0 and at most 86400 seconds, got ${v}`);
    return n;
  }

  hostPort(key: string): string | undefined {
    const v = this.string(key);
    if (v === undefined) return undefined;
    if (parseHostPort(v) === undefined) {
      this.fail(key, `expected "host:port" (e.g. "127.0.0.1:5696" or "[::1]:5696"), got ${JSON.stringify(v)}`);
    }
    return v;
  }

  /** A sub-table; an absent one reads as empty so its keys take their defaults. */
  table(key: string, opts?: Required): TableReader {
    const empty: TomlTable = {};
    const v = this.typed(key, "a table", opts?.required ?? false, (x): x is TomlTable => tomlType(x) === "table");
    return new TableReader(v ?? empty, `${this.prefix}${key}.`, this.file);
  }

  finish(): void {
    for (const key of this.keys()) {
      if (!this.seen.has(key)) this.fail(key, `unknown key${suggestion(key, [...this.seen])}`);
    }
  }
}

/** Keys that are short for a word operators spell out (and then misspell). */
const SPELLED_OUT: Readonly<Record<string, string>> = { addr: "address" };

/**
 * ", did you mean ...?" for a key within edit distance 2 of a known one
 * (or of the word it abbreviates), compared without case and with "_" as "-".
 */
function suggestion(key: string, known: string[]): string {
  const written = key.toLowerCase().replaceAll("_", "-");
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    const d = Math.min(...[k, SPELLED_OUT[k] ?? k].map((form) => editDistance(written, form)));
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best === undefined ? "" : ` (did you mean "${best}"?)`;
}

/** ` (e.g. key = ...)`: the value written the way the key takes it, where that can be told. */
function example(key: string, expected: string, v: TomlValue): string {
  const scalar = typeof v === "string" || typeof v === "bigint" || typeof v === "number" || typeof v === "boolean";
  if (expected === "a string" && scalar && typeof v !== "string") return ` (write it in quotes: ${key} = ${JSON.stringify(String(v))})`;
  if (expected !== "a string" && typeof v === "string") {
    const number = /^\s*(\d+(?:\.\d+)?)\s*s?\s*$/.exec(v)?.[1];
    if (number !== undefined && /integer|seconds/.test(expected)) return ` (write it without quotes: ${key} = ${number})`;
    if (/^(true|false|yes|no)$/i.test(v) && expected === "a boolean") return ` (write it without quotes: ${key} = ${/^(true|yes)$/i.test(v)})`;
  }
  return "";
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitute = (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      row.push(Math.min(substitute, (prev[j] as number) + 1, (row[j - 1] as number) + 1));
    }
    prev = row;
  }
  return prev[b.length] as number;
}

/**
 * The "host:port" form (IPv6 in brackets) of a listening server's address,
 * as parseHostPort reads it; `fallback` when the server has none (a pipe).
 */
export function formatBoundAddress(bound: string | { address: string; family: string; port: number } | null, fallback: string): string {
  if (bound === null || typeof bound !== "object") return fallback;
  return bound.family === "IPv6" ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
}
