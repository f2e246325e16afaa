// The relay's structured logger (pino). Layers receive a Logger from their
// caller; none keeps a global one.
//
// pino writes JSON; each record is rendered by format.ts into one readable
// line and handed to the configured target:
//   stderr  one line per record (synchronous, so nothing is lost at exit);
//           under systemd each line starts with its journal priority "<N>"
//   file    the same lines, appended (O_APPEND, so several writers and
//           logrotate's copytruncate are safe); reopen() opens the path anew,
//           for logrotate's create mode on SIGHUP
//   syslog  facility daemon, via logger(1) (see syslog.ts)
// The file target uses the human-readable lines rather than JSON because the
// original relay wrote text logs and operators read and grep them; a log
// collector wanting structure can use syslog.
import { closeSync, fstatSync, openSync, writeSync } from "node:fs";
import { pino, type Logger as PinoLogger } from "pino";
import { formatRecord, type FormatOptions, type LogRecord } from "./format.js";
import { SyslogSink, syslogSeverity } from "./syslog.js";

export type Logger = PinoLogger;

/** The level names of the config file and the command line (doc/compatibility.md#command-line). */
export const LOG_LEVELS = ["trace", "debug", "info", "warning", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/** Other names for a level that operators write out of habit (pino and many tools say "warn"). */
export const LOG_LEVEL_ALIASES: Readonly<Record<string, LogLevel>> = { warn: "warning" };

/** Where log lines go: `[daemon] log-target` in the config file. */
export type LogTarget =
  | { readonly type: "stderr" }
  /** `socket` defaults to /dev/log. */
  | { readonly type: "syslog"; readonly socket?: string }
  | { readonly type: "file"; readonly path: string };

export interface LoggerOptions {
  readonly level: LogLevel;
  readonly target: LogTarget;
  /** Shown as "[name]" in every line (e.g. for a child process's logger). */
  readonly name?: string;
}

/** The root logger, owner of the output: main reopens and closes it. */
export type RootLogger = Logger & {
  /** Reopens a log file (after logrotate moved it away); no-op for other targets. */
  reopen(): void;
  /** Flushes and releases the output. */
  close(): Promise<void>;
};

/**
 * Keys whose values never reach a log, as a second line of defence behind the
 * code that should not log them in the first place (doc/architecture.md#secrets).
 */
const REDACTED_KEYS = ["password", "pin", "userPin", "soPin", "newPin", "oldPin", "secret", "privateKey"];
const REDACT_PATHS = REDACTED_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);

interface Sink {
  write(line: string, pinoLevel: number): void;
  reopen(): void;
  close(): Promise<void>;
}

export function createLogger(options: LoggerOptions): RootLogger {
  const debugging = options.level === "trace" || options.level === "debug";
  const reportError = (message: string) => process.stderr.write(`kmip2pkcs11: ${message}\n`);
  const { sink, format } = openSink(options.target, debugging, reportError);
  const destination = {
    write(json: string): void {
      const record = JSON.parse(json) as LogRecord;
      sink.write(formatRecord(record, format), record.level as number);
    },
  };
  const logger = pino(
    {
      level: options.level === "warning" ? "warn" : options.level,
      base: options.name === undefined ? null : { name: options.name },
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    },
    destination,
  );
  return Object.assign(logger, { reopen: () => sink.reopen(), close: () => sink.close() });
}

function openSink(target: LogTarget, stacks: boolean, reportError: (m: string) => void): { sink: Sink; format: FormatOptions } {
  switch (target.type) {
    case "stderr":
      if (stderrIsJournal()) {
        // sd-daemon(3): a "<N>" prefix on each line gives journald its
        // priority (SyslogLevelPrefix=, on by default); the journal keeps the time.
        const write = (line: string, pinoLevel: number) => {
          const prefix = `<${syslogSeverity(pinoLevel)}>`;
          process.stderr.write(`${prefix}${line.replaceAll("\n", `\n${prefix}`)}\n`);
        };
        return { sink: { write, reopen: () => {}, close: async () => {} }, format: { time: false, level: true, stacks } };
      }
      return {
        sink: { write: (line) => void process.stderr.write(`${line}\n`), reopen: () => {}, close: async () => {} },
        format: { time: true, level: true, stacks },
      };
    case "file":
      return { sink: new FileSink(target.path, reportError), format: { time: true, level: true, stacks } };
    case "syslog":
      return {
        sink: new SyslogSink({ socket: target.socket, reportError }),
        format: { time: false, level: false, stacks },
      };
  }
}

/**
 * systemd.exec(5): JOURNAL_STREAM holds "device:inode" of the stream stderr
 * was connected to; stderr is the journal while fd 2 is still that stream
 * (not redirected since, by a shell or a test).
 */
export function stderrIsJournal(env: NodeJS.ProcessEnv = process.env): boolean {
  const m = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? "");
  if (m === null) return false;
  try {
    const st = fstatSync(2, { bigint: true });
    return st.dev === BigInt(m[1] as string) && st.ino === BigInt(m[2] as string);
  } catch {
    return false;
  }
}

class FileSink implements Sink {
  private fd: number;

  constructor(
    private readonly path: string,
    private readonly reportError: (m: string) => void,
  ) {
    this.fd = FileSink.open(path);
  }

  private static open(path: string): number {
    try {
      return openSync(path, "a", 0o640);
    } catch (err) {
      throw new Error(`cannot open log file ${path}: ${(err as Error).message}`);
    }
  }

  write(line: string): void {
    if (this.fd < 0) return;
    try {
      writeSync(this.fd, `${line}\n`);
    } catch (err) {
      this.reportError(`cannot write to log file ${this.path}: ${(err as Error).message}`);
    }
  }

  reopen(): void {
    let fd: number;
    try {
      fd = FileSink.open(this.path);
    } catch (err) {
      // Keep writing to the old file rather than nowhere.
      this.write(formatRecord({ time: Date.now(), level: 50, msg: (err as Error).message }, { time: true, level: true, stacks: false }));
      return;
    }
    closeSync(this.fd);
    this.fd = fd;
  }

  async close(): Promise<void> {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
