// The TOML configuration file, format "v1" (doc/compatibility.md#config-file):
// reading the file, its syntax, and the assembly of the Config object from
// the section readers ([pkcs11] src/config/pkcs11.ts, [server] server.ts,
// [daemon] daemon.ts, [tokens] tokens.ts, [clients] clients.ts; the small
// [lifecycle] and [metrics] here). The defaults are in defaults.ts, the
// typed table reader and ConfigError in table-reader.ts.
//
// The keys of the original Rust relay keep their meaning; every other key is
// an addition with a default, so an existing config file keeps working.
// Validation is strict: an unknown key, a value of the wrong type or out of
// range is a ConfigError naming the file and the dotted key, because a typo
// that silently falls back to a default is worse than a refusal to start.
import { readFile } from "node:fs/promises";
import { parse, TomlError, type TomlTable } from "smol-toml";
import type { TokenSelector } from "../hsm/token-aliases.js";
import { readClients, type ClientConfig } from "./clients.js";
import { readDaemon, type DaemonConfig } from "./daemon.js";
import { DEFAULTS } from "./defaults.js";
import { readPkcs11, type Pkcs11Config } from "./pkcs11.js";
import { readServer, type ServerConfig } from "./server.js";
import { ConfigError, TableReader } from "./table-reader.js";
import { readTokens, type KeyExportRule } from "./tokens.js";

export const DEFAULT_CONFIG_PATH = "/etc/kmip2pkcs11/config.toml";

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
