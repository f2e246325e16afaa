// Renders pino's JSON records as one human-readable line each:
//   2025-01-31T12:00:00.000Z INFO  Listening on 127.0.0.1:5696 conn=7 slot="my token"
// Messages and values are escaped so that nothing a client sends (a username,
// a malformed string) can start a forged line of its own.

/** The numeric levels of pino's default level set. */
export const PINO_LEVEL_NAMES: Readonly<Record<number, string>> = {
  10: "TRACE",
  20: "DEBUG",
  30: "INFO",
  40: "WARNING",
  50: "ERROR",
  60: "FATAL",
};

/** Keys of a pino record shown in the line's fixed part, or not at all. */
const FIXED_KEYS = new Set(["time", "level", "msg", "name", "pid", "hostname"]);

export interface FormatOptions {
  /** Start the line with the ISO 8601 time (syslog adds its own). */
  readonly time: boolean;
  /** Add the level name after the time (syslog carries it as the severity). */
  readonly level: boolean;
  /** Follow the line with an error's stack trace, indented, on more lines. */
  readonly stacks: boolean;
}

/** A pino record, as parsed from the JSON pino writes. */
export type LogRecord = Record<string, unknown>;

export function formatRecord(record: LogRecord, options: FormatOptions): string {
  const parts: string[] = [];
  if (options.time && typeof record.time === "number") parts.push(new Date(record.time).toISOString());
  if (options.level) parts.push((PINO_LEVEL_NAMES[record.level as number] ?? `LEVEL${String(record.level)}`).padEnd(5));
  if (typeof record.name === "string") parts.push(`[${escapeText(record.name)}]`);
  let msg = typeof record.msg === "string" ? record.msg : "";
  const fields: string[] = [];
  let stack: string | undefined;
  for (const [key, value] of Object.entries(record)) {
    if (FIXED_KEYS.has(key) || value === undefined) continue;
    if (isSerializedError(value)) {
      stack ??= value.stack;
      // `logger.error(err)` and `logger.error({ err }, err.message)` repeat
      // the message; pino adds the messages of the error's causes to it.
      if (value.message.startsWith(msg)) msg = value.message;
      else fields.push(`${key}=${formatValue(value.message)}`);
      continue;
    }
    fields.push(`${key}=${formatValue(value)}`);
  }
  if (msg !== "") parts.push(escapeText(msg));
  parts.push(...fields);
  let line = parts.join(" ");
  if (options.stacks && stack !== undefined) {
    // The first line of a stack repeats the message.
    const frames = stack.split("\n").slice(1).map((f) => `    ${escapeText(f.trim())}`);
    if (frames.length > 0) line += `\n${frames.join("\n")}`;
  }
  return line;
}

interface SerializedError {
  message: string;
  stack?: string;
}

/** What pino's err serializer makes of an Error: { type, message, stack, ... }. */
function isSerializedError(value: unknown): value is SerializedError {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as SerializedError).message === "string" &&
    typeof (value as { type?: unknown }).type === "string"
  );
}

// eslint-disable-next-line no-control-regex -- finding control characters is the point
const PLAIN_WORD = /^[^\s"=\\\x00-\x1f\x7f]+$/;
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL_CHARS = /[\x00-\x1f\x7f]/g;

/** A value bare when it is one plain word, else as a JSON literal. */
function formatValue(value: unknown): string {
  if (typeof value === "string") return PLAIN_WORD.test(value) ? value : JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint" || value === null) {
    return String(value);
  }
  return JSON.stringify(value) ?? String(value);
}

/** Control characters as JSON escapes, so that a message stays one line. */
function escapeText(text: string): string {
  return text.replace(CONTROL_CHARS, (c) => JSON.stringify(c).slice(1, -1));
}
