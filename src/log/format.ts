// Renders pino's JSON records as one human-readable line each:
//   2025-01-31T12:00:00.000Z INFO  Listening on 127.0.0.1:5696 conn=7 slot="my token"
// Messages and values are escaped so that nothing a client sends (a username,
// a Name, a key id, a malformed string) can start a forged line of its own or
// reorder what a terminal shows: see UNSAFE_CHARS.

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
  if (typeof record.name === "string") parts.push(`[${escapeLogText(record.name)}]`);
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
  if (msg !== "") parts.push(escapeLogText(msg));
  parts.push(...fields);
  let line = parts.join(" ");
  if (options.stacks && stack !== undefined) {
    // The first line of a stack repeats the message.
    const frames = stack.split("\n").slice(1).map((f) => `    ${escapeLogText(f.trim())}`);
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

/**
 * Characters escaped wherever they appear in a line: C0 controls, DEL, C1
 * controls (U+0080-U+009F, among them NEL U+0085, which some readers take for
 * a line break, and CSI U+009B, which a terminal takes for an escape
 * sequence), the line and paragraph separators U+2028/U+2029, and the
 * Unicode bidirectional controls (U+061C, U+200E/U+200F, U+202A-U+202E,
 * U+2066-U+2069), which make a terminal show text in another order than it
 * is written. Unpaired surrogates (which cannot be written as UTF-8) too.
 */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const UNSAFE_CHARS = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
/** The short JSON escapes of the C0 controls that have one. */
const SHORT_ESCAPES: Readonly<Record<string, string>> = { "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r" };

/**
 * `text` with every character of UNSAFE_CHARS as a JSON-style escape
 * (\n, \u0085, \u202e): one line, shown in the order it is written.
 */
export function escapeLogText(text: string): string {
  return text.replace(UNSAFE_CHARS, (c) => SHORT_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

const UNSAFE_CHAR = new RegExp(UNSAFE_CHARS.source);

/** A bare word: nothing to quote and nothing to escape. */
function isPlainWord(value: string): boolean {
  return value !== "" && !/[\s"=\\]/.test(value) && !UNSAFE_CHAR.test(value);
}

/** A value bare when it is one plain word, else as a JSON literal. */
function formatValue(value: unknown): string {
  if (typeof value === "string") return isPlainWord(value) ? value : escapeLogText(JSON.stringify(value));
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint" || value === null) {
    return String(value);
  }
  // JSON escapes C0 controls but leaves DEL, C1, U+2028/2029 and the bidi controls as they are.
  return escapeLogText(JSON.stringify(value) ?? String(value));
}

