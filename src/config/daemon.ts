// [daemon]: logging, daemonizing, the pid file and the identity to drop to.
import { resolve } from "node:path";
import { LOG_LEVEL_ALIASES, LOG_LEVELS, type LogLevel, type LogTarget } from "../log/logger.js";
import { DEFAULTS } from "./defaults.js";
import { tomlType, type TableReader } from "./table-reader.js";

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

export function readDaemon(t: TableReader): DaemonConfig {
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
