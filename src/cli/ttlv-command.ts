// `kmip2pkcs11 ttlv ...`: decode TTLV to a readable tree, and encode the
// JSON form (src/ttlv/json.ts) to TTLV, for debugging clients and crafting
// test messages by hand.
import { readFile } from "node:fs/promises";
import { decodeTtlv } from "../ttlv/decode.js";
import { encodeTtlv } from "../ttlv/encode.js";
import { TtlvError } from "../ttlv/errors.js";
import { parseHex, toHex } from "../ttlv/hex.js";
import { fromJson, toJson } from "../ttlv/json.js";
import { formatTtlv } from "../ttlv/pretty.js";

export interface TtlvCommandIo {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

const USAGE = `Usage: kmip2pkcs11 ttlv <command> [options] [FILE]

Commands:
  decode [--raw] [--json] [--no-redact] [FILE]
      Print the TTLV message in FILE (or standard input) as a tree, or with
      --json in the JSON form that encode reads. The input is hex digits
      (whitespace allowed) unless --raw is given or it is not hex, in which
      case it is raw TTLV bytes. Passwords and key material are redacted
      unless --no-redact is given; with --json --no-redact everything is
      kept, so \`decode --json --no-redact | encode\` gives the same bytes
      (encode refuses the placeholders of a redacted decode).
      Malformed input prints the error and its byte offset, and exits with
      status 1.
  encode [--raw] [FILE]
      Read one item in the JSON form from FILE (or standard input) and print
      its TTLV encoding as hex (or as raw bytes with --raw). The form:
        {"tag": "RequestMessage", "type": "Structure", "value": [
          {"tag": "Operation", "type": "Enumeration", "value": "Sign"},
          {"tag": "0x4200C2", "type": "ByteString", "value": "01020304"}, ...]}
      Tags by name or hex; enumerations by name or number; Long Integer, Big
      Integer and Date-Time as decimal strings; byte strings as hex.

Options:
  -h, --help   Show this help.
`;

/** Runs `ttlv` with its arguments (without "ttlv"); resolves to the exit status. */
export async function runTtlvCommand(argv: string[], io: TtlvCommandIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "-h" || command === "--help" || command === "help") {
    io.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command !== "decode" && command !== "encode") return usageError(io, `unknown command ${JSON.stringify(command)}`);

  const flags = new Set<string>();
  const files: string[] = [];
  for (const arg of rest) {
    if (arg === "-h" || arg === "--help") {
      io.stdout.write(USAGE);
      return 0;
    }
    if (arg.startsWith("--")) flags.add(arg);
    else files.push(arg);
  }
  const allowed = command === "decode" ? ["--raw", "--json", "--no-redact"] : ["--raw"];
  const unknown = [...flags].find((f) => !allowed.includes(f));
  if (unknown !== undefined) return usageError(io, `unknown option ${unknown} for ${command}`);
  if (files.length > 1) return usageError(io, `${command} takes at most one FILE`);

  let input: Buffer;
  const file = files[0];
  try {
    input = file === undefined || file === "-" ? await readAll(io.stdin) : await readFile(file);
  } catch (error) {
    return fail(io, command, `cannot read ${file ?? "standard input"}: ${(error as Error).message}`);
  }

  try {
    if (command === "decode") {
      const bytes = flags.has("--raw") || !isHexText(input) ? input : parseHex(input.toString("latin1"));
      const item = decodeTtlv(bytes);
      const redact = !flags.has("--no-redact");
      io.stdout.write((flags.has("--json") ? JSON.stringify(toJson(item, { redact }), null, 2) : formatTtlv(item, { redact })) + "\n");
    } else {
      const json: unknown = JSON.parse(input.toString("utf8"));
      const placeholder = findRedacted(json, "$");
      if (placeholder !== undefined) {
        return fail(io, command, `${placeholder.path}: ${JSON.stringify(placeholder.value)} stands for a value \`ttlv decode\` left out; decode with --no-redact to keep it, or write the value`);
      }
      const encoded = encodeTtlv(fromJson(json));
      io.stdout.write(flags.has("--raw") ? encoded : toHex(encoded) + "\n");
    }
    return 0;
  } catch (error) {
    if (error instanceof TtlvError) return fail(io, command, `${error.code}: ${error.message}`);
    if (error instanceof SyntaxError) return fail(io, command, `invalid JSON: ${error.message}`);
    throw error;
  }
}

/** The first value that is a redaction placeholder of decode (src/ttlv/pretty.ts), with its JSON path. */
function findRedacted(json: unknown, path: string): { path: string; value: string } | undefined {
  if (typeof json !== "object" || json === null) return undefined;
  const value = (json as { value?: unknown }).value;
  if (typeof value === "string" && /^<redacted( \d+ bytes)?>$/.test(value)) return { path: `${path}.value`, value };
  if (!Array.isArray(value)) return undefined;
  for (const [i, child] of value.entries()) {
    const found = findRedacted(child, `${path}.value[${i}]`);
    if (found !== undefined) return found;
  }
  return undefined;
}

function usageError(io: TtlvCommandIo, message: string): number {
  io.stderr.write(`ttlv: ${message}\n\n${USAGE}`);
  return 2;
}

function fail(io: TtlvCommandIo, command: string, message: string): number {
  io.stderr.write(`ttlv ${command}: ${message}\n`);
  return 1;
}

/** Hex text: only hex digits and whitespace, and at least one digit. */
function isHexText(bytes: Uint8Array): boolean {
  let digits = 0;
  for (const b of bytes) {
    const isDigit = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
    if (isDigit) digits++;
    else if (b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) return false;
  }
  return digits > 0;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}
