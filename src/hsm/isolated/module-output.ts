// Logs what the PKCS#11 module process writes to stdout or stderr, line by
// line, with a prefix ("module stdout: ..."), so that vendor chatter never
// mixes with the relay's own output. Both bounds keep a misbehaving module
// from flooding the log:
// - a line longer than `maxLineChars` is cut there and ends with a marker
//   naming how many characters were dropped (the rest is never buffered);
// - at most `maxLinesPerSecond` lines are logged per stream in each
//   one-second window; the lines over that are dropped and counted, and one
//   warning per window says how many were dropped.
import type { Readable } from "node:stream";
import type { Logger } from "../../log/logger.js";

export interface ModuleOutputLimits {
  readonly maxLineChars: number;
  readonly maxLinesPerSecond: number;
}

const DEFAULT_MODULE_OUTPUT_LIMITS: ModuleOutputLimits = { maxLineChars: 1000, maxLinesPerSecond: 50 };

const WINDOW_MS = 1000;

/** Logs `stream` (the module's "stdout" or "stderr") at `level` until it ends. */
export function logModuleOutput(
  stream: Readable,
  name: "stdout" | "stderr",
  level: "info" | "warn",
  logger: Logger,
  limits: ModuleOutputLimits = DEFAULT_MODULE_OUTPUT_LIMITS,
): void {
  const lines = new ModuleOutputLines(`module ${name}: `, level, logger, limits);
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => lines.push(chunk));
  stream.on("end", () => lines.end());
}

class ModuleOutputLines {
  /** The current line so far, at most maxLineChars long. */
  private line = "";
  /** Characters of the current line dropped past maxLineChars. */
  private cut = 0;
  private windowStart = 0;
  private loggedInWindow = 0;
  private dropped = 0;
  private droppedReport: NodeJS.Timeout | undefined;

  constructor(
    private readonly prefix: string,
    private readonly level: "info" | "warn",
    private readonly logger: Logger,
    private readonly limits: ModuleOutputLimits,
  ) {}

  push(chunk: string): void {
    let start = 0;
    for (let newline = chunk.indexOf("\n"); newline !== -1; newline = chunk.indexOf("\n", start)) {
      this.append(chunk, start, newline);
      this.endLine();
      start = newline + 1;
    }
    this.append(chunk, start, chunk.length);
  }

  /** The stream ended: log an unterminated last line and any dropped count. */
  end(): void {
    if (this.line !== "" || this.cut > 0) this.endLine();
    this.reportDropped();
  }

  private append(chunk: string, start: number, end: number): void {
    const room = this.limits.maxLineChars - this.line.length;
    const take = Math.min(room, end - start);
    if (take > 0) this.line += chunk.slice(start, start + take);
    this.cut += end - start - take;
  }

  private endLine(): void {
    let text = this.line.endsWith("\r") ? this.line.slice(0, -1) : this.line;
    if (this.cut > 0) text += ` [truncated: ${this.cut} more characters]`;
    this.line = "";
    this.cut = 0;
    this.admit(text);
  }

  private admit(text: string): void {
    const now = Date.now();
    if (now - this.windowStart >= WINDOW_MS) {
      this.reportDropped();
      this.windowStart = now;
      this.loggedInWindow = 0;
    }
    if (this.loggedInWindow < this.limits.maxLinesPerSecond) {
      this.loggedInWindow++;
      this.logger[this.level](this.prefix + text);
      return;
    }
    if (this.dropped++ === 0) {
      // Report at the end of the window even if the module then falls silent.
      this.droppedReport = setTimeout(() => this.reportDropped(), this.windowStart + WINDOW_MS - now);
      this.droppedReport.unref();
    }
  }

  private reportDropped(): void {
    clearTimeout(this.droppedReport);
    this.droppedReport = undefined;
    if (this.dropped === 0) return;
    this.logger.warn(
      `${this.prefix}${this.dropped} lines dropped (more than ${this.limits.maxLinesPerSecond} lines per second)`,
    );
    this.dropped = 0;
  }
}
