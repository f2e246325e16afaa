// Reading one TOML table of the config file with typed getters, and the
// ConfigError its checks throw. Validation is strict: an unknown key, a value
// of the wrong type or out of range is a ConfigError naming the file and the
// dotted key, with a "did you mean" or a corrected example where one can be
// told. The section readers (src/config/*.ts) are written with it.
import { resolve } from "node:path";
import { TomlDate, type TomlTable, type TomlValue } from "smol-toml";
import { parseHostPort } from "./host-port.js";

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

/** The TOML type name used in "expected ..., got ..." messages. */
export function tomlType(value: TomlValue): string {
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
