// The `ttlv` command: decode a vector file, reject garbage with its offset,
// and encode the JSON form to hex that decodes back.
import assert from "node:assert/strict";
import { test } from "node:test";
import { PassThrough } from "node:stream";
import { runTtlvCommand } from "../../src/cli/ttlv-command.js";
import { decodeTtlv } from "../../src/ttlv/decode.js";
import { parseHex, toHex } from "../../src/ttlv/hex.js";
import { toJson } from "../../src/ttlv/json.js";
import { loadVectors, vectorDirectory, VENDOR_EXTENSION_VECTOR } from "../helpers/vectors.js";

async function run(argv: string[], stdin: string | Uint8Array = ""): Promise<{ status: number; stdout: string; stderr: string }> {
  const input = new PassThrough();
  input.end(stdin);
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on("data", (c: Buffer) => out.push(c));
  stderr.on("data", (c: Buffer) => err.push(c));
  const status = await runTtlvCommand(argv, { stdin: input, stdout, stderr });
  return { status, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") };
}

const SIGN_REQUEST = `${vectorDirectory}kmip_1_3_testcase_5_9_8_1_step_2_sign_request.hex`;
const REGISTER_REQUEST = `${vectorDirectory}kmip_1_3_testcase_5_9_8_1_step_1_register_request.hex`;

test("decode prints a vector file as a tree", async () => {
  const { status, stdout, stderr } = await run(["decode", SIGN_REQUEST]);
  assert.equal(stderr, "");
  assert.equal(status, 0);
  assert.match(stdout, /^RequestMessage \(Structure\)\n/);
  assert.match(stdout, /\n {4}Operation \(Enumeration\): Sign\n/);
  assert.match(stdout, /Data \(ByteString\): 16 bytes 01020304050607080910111213141516\n$/);
});

test("decode redacts key material unless --no-redact", async () => {
  const redacted = await run(["decode", REGISTER_REQUEST]);
  assert.match(redacted.stdout, /KeyMaterial \(ByteString\): <redacted 1193 bytes>/);
  const plain = await run(["decode", "--no-redact", REGISTER_REQUEST]);
  assert.match(plain.stdout, /KeyMaterial \(ByteString\): 1193 bytes 308204A5/);
});

test("decode reads hex or raw bytes from standard input", async () => {
  const bytes = parseHex("42000D02 00000004 00000001 00000000");
  assert.equal((await run(["decode"], "42000D02 00000004\n00000001 00000000\n")).stdout, "BatchCount (Integer): 1\n");
  assert.equal((await run(["decode", "-"], bytes)).stdout, "BatchCount (Integer): 1\n");
  assert.equal((await run(["decode", "--raw"], bytes)).stdout, "BatchCount (Integer): 1\n");
});

test("decode of garbage exits 1 with the error and its offset", async () => {
  const { status, stdout, stderr } = await run(["decode"], "42007801 00000010 42000D02 00000004");
  assert.equal(status, 1);
  assert.equal(stdout, "");
  assert.equal(stderr, "ttlv decode: LENGTH_PAST_END: Structure RequestMessage declares 16 bytes of content but the input has only 8 bytes left (at byte offset 0)\n");
  const odd = await run(["decode"], "abc");
  assert.equal(odd.status, 1);
  assert.match(odd.stderr, /BAD_HEX: odd number of hex digits/);
});

test("encode turns the JSON form into hex that decodes to the same tree", async () => {
  const json = {
    tag: "RequestMessage",
    type: "Structure",
    value: [
      { tag: "BatchCount", type: "Integer", value: 1 },
      {
        tag: "BatchItem",
        type: "Structure",
        value: [
          { tag: "Operation", type: "Enumeration", value: "Sign" },
          { tag: "Data", type: "ByteString", value: "00FF" },
        ],
      },
    ],
  };
  const { status, stdout } = await run(["encode"], JSON.stringify(json));
  assert.equal(status, 0);
  assert.match(stdout, /^[0-9A-F]+\n$/);
  assert.deepEqual(toJson(decodeTtlv(parseHex(stdout))), json);
  const decoded = await run(["decode"], stdout);
  assert.match(decoded.stdout, /Operation \(Enumeration\): Sign/);
});

test("encode reports bad JSON and bad items", async () => {
  const syntax = await run(["encode"], "{");
  assert.equal(syntax.status, 1);
  assert.match(syntax.stderr, /^ttlv encode: invalid JSON: /);
  const range = await run(["encode"], '{"tag": "BatchCount", "type": "Integer", "value": 4294967296}');
  assert.equal(range.status, 1);
  assert.match(range.stderr, /BAD_VALUE: cannot encode Integer BatchCount: 4294967296 is not a signed 32-bit integer/);
});

test("help, usage errors and unreadable files", async () => {
  const help = await run(["--help"]);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^Usage: kmip2pkcs11 ttlv/);
  assert.equal((await run([])).status, 2);
  assert.equal((await run(["frobnicate"])).status, 2);
  assert.match((await run(["decode", "--bogus"])).stderr, /unknown option --bogus for decode/);
  const missing = await run(["decode", "/nonexistent/file.hex"]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /cannot read \/nonexistent\/file\.hex/);
});

test("decode --json --no-redact prints the form encode turns back into the same bytes, for every vector", async () => {
  const vectors = loadVectors().filter((v) => v.name !== VENDOR_EXTENSION_VECTOR);
  assert.ok(vectors.length > 80);
  for (const v of vectors) {
    const decoded = await run(["decode", "--json", "--no-redact", `${vectorDirectory}${v.file}`]);
    assert.equal(decoded.status, 0, `${v.name}: ${decoded.stderr}`);
    const encoded = await run(["encode"], decoded.stdout);
    assert.equal(encoded.status, 0, `${v.name}: ${encoded.stderr}`);
    assert.equal(encoded.stdout, `${toHex(v.bytes)}\n`, v.name);
  }
});

test("decode --json redacts the password and key material unless --no-redact", async () => {
  const redacted = await run(["decode", "--json", REGISTER_REQUEST]);
  assert.equal(redacted.status, 0);
  assert.match(redacted.stdout, /"tag": "KeyMaterial",\n\s+"type": "ByteString",\n\s+"value": "<redacted 1193 bytes>"/);
  assert.doesNotMatch(redacted.stdout, /308204A5/);
  const plain = await run(["decode", "--json", "--no-redact", REGISTER_REQUEST]);
  assert.match(plain.stdout, /"value": "308204A5/);
  // A redacted form does not encode: the value is no longer there.
  const refused = await run(["encode"], redacted.stdout);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /^ttlv encode: \$(\.value\[\d+\])+\.value: "<redacted 1193 bytes>" stands for a value `ttlv decode` left out; decode with --no-redact to keep it, or write the value\n$/);
});

test("decode redacts a password without telling its length", async () => {
  const password = (text: string) => {
    const bytes = Buffer.from(text);
    const padded = Buffer.concat([bytes, Buffer.alloc((8 - (bytes.length % 8)) % 8)]);
    return `4200A107${bytes.length.toString(16).padStart(8, "0")}${padded.toString("hex")}`;
  };
  for (const pin of ["1234", "a much longer PIN"]) {
    const tree = await run(["decode"], password(pin));
    assert.equal(tree.stdout, "Password (TextString): <redacted>\n");
    const json = await run(["decode", "--json"], password(pin));
    assert.match(json.stdout, /"value": "<redacted>"/);
    // Sent on, the placeholder would be tried as the PIN (and count as a failed login): refused.
    const encoded = await run(["encode"], json.stdout);
    assert.deepEqual([encoded.status, encoded.stdout], [1, ""]);
    assert.match(encoded.stderr, /^ttlv encode: \$\.value: "<redacted>" stands for a value `ttlv decode` left out/);
  }
});
