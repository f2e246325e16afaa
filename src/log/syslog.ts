// Syslog output through logger(1) (util-linux, Debian package bsdutils, which
// is Essential).
//
// The local syslog socket /dev/log is a Unix *datagram* socket under
// systemd-journald and rsyslog, and Node.js cannot send Unix datagrams without
// a native addon (dgram supports only UDP). A Unix stream connection works only
// where the daemon offers one (syslog-ng's unix-stream). logger(1) speaks both:
// it tries SOCK_DGRAM, then SOCK_STREAM, reconnects when the daemon restarts,
// and writes the RFC 3164 local format "<PRI>TIMESTAMP TAG[PID]: MSG". One
// logger(1) process reads our lines on its stdin, each prefixed with its
// "<PRI>" (--prio-prefix), and is restarted if it dies.
import { spawn, type ChildProcess } from "node:child_process";
import { statSync } from "node:fs";

export const DEFAULT_SYSLOG_SOCKET = "/dev/log";

/** RFC 3164 section 4.1.1 / RFC 5424 section 6.2.1: facility 3, "system daemons". */
const FACILITY_DAEMON = 3;

/** pino level -> syslog severity (RFC 5424 table 2). */
export function syslogSeverity(pinoLevel: number): number {
  if (pinoLevel >= 60) return 2; // critical
  if (pinoLevel >= 50) return 3; // error
  if (pinoLevel >= 40) return 4; // warning
  if (pinoLevel >= 30) return 6; // informational
  return 7; // debug
}

/** Lines queued for a slow logger(1) beyond this are dropped, and counted. */
const MAX_BUFFERED_BYTES = 1 << 20;
/** A logger(1) that died is restarted at most this often. */
const RESTART_INTERVAL_MS = 1000;

export interface SyslogOptions {
  /** The syslog daemon's socket; default /dev/log. */
  readonly socket?: string;
  /** The TAG; default kmip2pkcs11. */
  readonly tag?: string;
  /** Where the sink reports its own trouble (lost lines, logger(1) errors). */
  readonly reportError: (message: string) => void;
}

export class SyslogSink {
  private readonly socket: string;
  private readonly tag: string;
  private child: ChildProcess | undefined;
  private lastStart = 0;
  private dropped = 0;
  private closing = false;

  /** Throws when the socket does not exist: most likely no syslog daemon runs. */
  constructor(private readonly options: SyslogOptions) {
    this.socket = options.socket ?? DEFAULT_SYSLOG_SOCKET;
    this.tag = options.tag ?? "kmip2pkcs11";
    let isSocket = false;
    try {
      isSocket = statSync(this.socket).isSocket();
    } catch {
      // reported below
    }
    if (!isSocket) throw new Error(`syslog: ${this.socket} is not a socket (is a syslog daemon running?)`);
    this.start();
  }

  /** Sends the lines of one record, all with the record's severity. */
  write(text: string, pinoLevel: number): void {
    const child = this.child ?? this.restart();
    const stdin = child?.stdin;
    if (!stdin || !stdin.writable || stdin.writableLength > MAX_BUFFERED_BYTES) {
      this.dropped++;
      return;
    }
    if (this.dropped > 0) {
      this.options.reportError(`syslog: ${this.dropped} log records were lost`);
      this.dropped = 0;
    }
    const pri = `<${FACILITY_DAEMON * 8 + syslogSeverity(pinoLevel)}>`;
    stdin.write(text.split("\n").map((l) => `${pri}${l}\n`).join(""));
  }

  /** Nothing to reopen: logger(1) reconnects to the socket by itself. */
  reopen(): void {}

  /** Lets logger(1) send what it has and waits (briefly) for it to exit. */
  async close(): Promise<void> {
    this.closing = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        child.kill();
        resolve();
      }, 2000);
      child.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
      child.stdin?.end();
    });
  }

  private restart(): ChildProcess | undefined {
    if (this.closing || Date.now() - this.lastStart < RESTART_INTERVAL_MS) return undefined;
    return this.start();
  }

  private start(): ChildProcess {
    this.lastStart = Date.now();
    const child = spawn(
      "logger",
      ["--socket", this.socket, `--id=${process.pid}`, "--tag", this.tag, "--prio-prefix", "--socket-errors=on"],
      // Its own process group: a Ctrl-C meant for the relay must not end
      // logger(1) before the relay's last lines are written.
      { stdio: ["pipe", "ignore", "pipe"], detached: true },
    );
    let errors = "";
    child.stderr?.setEncoding("utf8").on("data", (s: string) => {
      if (errors.length < 4096) errors += s;
    });
    child.stdin?.on("error", () => {
      // EPIPE when logger(1) died; its exit is reported below.
    });
    child.on("error", (err) => this.options.reportError(`syslog: cannot run logger(1): ${err.message}`));
    child.on("exit", (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (!this.closing) {
        const how = signal ?? `code ${code}`;
        this.options.reportError(`syslog: logger(1) exited (${how})${errors ? `: ${errors.trim()}` : ""}`);
      }
    });
    // logger(1) never keeps the relay alive; close() ends it.
    child.unref();
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
    this.child = child;
    return child;
  }
}
