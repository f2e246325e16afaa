// The relay's command line (doc/compatibility.md#command-line), parsed with node's
// util.parseArgs in strict mode.
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_CONFIG_PATH, type Config } from "../config/config.js";
import { LOG_LEVEL_ALIASES, LOG_LEVELS, type LogLevel, type LogTarget } from "../log/logger.js";

export interface CliOptions {
  readonly configPath: string;
  readonly checkConfig: boolean;
  readonly logLevel?: LogLevel;
  readonly logTarget?: LogTarget;
  readonly daemonize: boolean;
  readonly help: boolean;
  readonly version: boolean;
}

/** A command line that cannot be run: exit status 2, like other Unix tools. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

export const USAGE = `Usage: kmip2pkcs11 [OPTIONS]
       kmip2pkcs11 COMMAND [ARGS...]

Serves KMIP over TLS and executes the requests on a PKCS#11 module (HSM).

Options:
  -c, --config <PATH>      Config file (default: ${DEFAULT_CONFIG_PATH})
      --check-config       Validate the config file and run start-up's checks
                           (certificates, identity, directories, ports) without
                           loading the module; exit 0 if all is well, 1 if not
      --log-level <LEVEL>  trace, debug, info, warning (or warn) or error
                           (overrides [daemon] log-level)
  -l, --log <TARGET>       stderr, file:<PATH> or syslog
                           (overrides [daemon] log-target)
  -d, --daemonize          Run in the background (overrides [daemon] daemonize)
  -h, --help               Show this help and exit
  -V, --version            Show the version and exit

Commands (each has --help):
  check                    Check the config, the module, the tokens and a login
  keys list                List the keys on a token with their KMIP ids
  client                   A KMIP client for a running relay
  ttlv                     Decode and encode TTLV messages

Signals: SIGTERM or SIGINT stops the relay after the requests in progress
(a second one stops it at once); SIGHUP reopens the log file.
`;

export function parseCliArgs(argv: string[]): CliOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: "string", short: "c" },
        "check-config": { type: "boolean" },
        "log-level": { type: "string" },
        log: { type: "string", short: "l" },
        daemonize: { type: "boolean", short: "d" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "V" },
      },
    });
  } catch (err) {
    throw new UsageError(describeParseError(err as Error & { code?: string }));
  }
  const v = parsed.values;
  if (v.config === "") throw new UsageError("--config needs a file name");
  const logLevel = v["log-level"] !== undefined && Object.hasOwn(LOG_LEVEL_ALIASES, v["log-level"]) ? LOG_LEVEL_ALIASES[v["log-level"]] : v["log-level"];
  if (logLevel !== undefined && !(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new UsageError(`--log-level: expected one of ${LOG_LEVELS.join(", ")}, got '${logLevel}'`);
  }
  return {
    configPath: resolve(v.config ?? DEFAULT_CONFIG_PATH),
    checkConfig: v["check-config"] ?? false,
    logLevel: logLevel as LogLevel | undefined,
    logTarget: v.log === undefined ? undefined : parseLogTarget(v.log),
    daemonize: v.daemonize ?? false,
    help: v.help ?? false,
    version: v.version ?? false,
  };
}

/** `-l/--log`: "stderr", "syslog" or "file:<PATH>" (a relative PATH from here). */
export function parseLogTarget(text: string): LogTarget {
  if (text === "stderr" || text === "syslog") return { type: text };
  if (text.startsWith("file:") && text.length > "file:".length) return { type: "file", path: resolve(text.slice(5)) };
  throw new UsageError(`--log: expected stderr, file:<PATH> or syslog, got '${text}'`);
}

/** The config with the command line's overrides applied. */
export function applyOverrides(config: Config, options: CliOptions): Config {
  let logTarget = options.logTarget ?? config.daemon.logTarget;
  // `-l syslog` keeps a socket the config file names.
  if (logTarget.type === "syslog" && config.daemon.logTarget.type === "syslog") logTarget = config.daemon.logTarget;
  return {
    ...config,
    daemon: {
      ...config.daemon,
      logLevel: options.logLevel ?? config.daemon.logLevel,
      logTarget,
      daemonize: options.daemonize || config.daemon.daemonize,
    },
  };
}

/** parseArgs's messages, without its advice about "--" that fits no option here. */
export function describeParseError(err: Error & { code?: string }): string {
  if (err.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    const option = /'([^']+)'/.exec(err.message)?.[1];
    if (option !== undefined) return `unknown option '${option}'`;
  }
  if (err.code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
    const arg = /'([^']+)'/.exec(err.message)?.[1];
    if (arg !== undefined) return `unexpected argument '${arg}'`;
  }
  return err.message;
}
