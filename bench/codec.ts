// TTLV codec throughput: decode and encode of a typical Sign request and its
// response (one batch item, and a batch of 32, as Cascade sends), in messages
// per second, next to two baselines measured in the same run on the same
// message: Buffer.copy of its bytes (the floor any codec pays to touch the
// bytes once) and JSON.stringify + JSON.parse of its tree (a general-purpose
// serializer in the same process). Prints a markdown table.
// Run: npx tsc -p tsconfig.json && node dist/bench/codec.js
import { randomBytes } from "node:crypto";
import {
  byteString,
  dateTime,
  enumeration,
  integer,
  structure,
  textString,
} from "../src/ttlv/build.js";
import { decodeTtlv } from "../src/ttlv/decode.js";
import { encodeTtlv } from "../src/ttlv/encode.js";
import { CredentialType, CryptographicAlgorithm, HashingAlgorithm, Operation, PaddingMethod, ResultStatus } from "../src/ttlv/enums.js";
import type { TtlvItem } from "../src/ttlv/item.js";
import { Tag } from "../src/ttlv/tags.js";

/** Each measurement runs this long (after a short warm-up). */
const MEASURE_MS = 350;
const WARMUP_MS = 50;

const protocolVersion = structure(Tag.ProtocolVersion, [integer(Tag.ProtocolVersionMajor, 1), integer(Tag.ProtocolVersionMinor, 2)]);
// Unique Identifiers as the relay makes them: hex of a 20-byte CKA_ID + suffix.
const privateKeyId = randomBytes(20).toString("hex").toUpperCase() + "_priv";

function signRequest(batchCount: number): TtlvItem {
  const items = Array.from({ length: batchCount }, (_, i) =>
    structure(Tag.BatchItem, [
      enumeration(Tag.Operation, Operation.Sign),
      byteString(Tag.UniqueBatchItemID, Uint8Array.of(0, 0, 0, i)),
      structure(Tag.RequestPayload, [
        textString(Tag.UniqueIdentifier, privateKeyId),
        structure(Tag.CryptographicParameters, [
          enumeration(Tag.PaddingMethod, PaddingMethod.Pkcs1v15),
          enumeration(Tag.HashingAlgorithm, HashingAlgorithm.SHA256),
          enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.RSA),
        ]),
        byteString(Tag.Data, randomBytes(32)),
      ]),
    ]),
  );
  return structure(Tag.RequestMessage, [
    structure(Tag.RequestHeader, [
      protocolVersion,
      structure(Tag.Authentication, [
        structure(Tag.Credential, [
          enumeration(Tag.CredentialType, CredentialType.UsernameAndPassword),
          structure(Tag.CredentialValue, [textString(Tag.Username, "kmip2pkcs11"), textString(Tag.Password, "1234")]),
        ]),
      ]),
      integer(Tag.BatchCount, batchCount),
    ]),
    ...items,
  ]);
}

function signResponse(batchCount: number): TtlvItem {
  const items = Array.from({ length: batchCount }, (_, i) =>
    structure(Tag.BatchItem, [
      enumeration(Tag.Operation, Operation.Sign),
      byteString(Tag.UniqueBatchItemID, Uint8Array.of(0, 0, 0, i)),
      enumeration(Tag.ResultStatus, ResultStatus.Success),
      structure(Tag.ResponsePayload, [
        textString(Tag.UniqueIdentifier, privateKeyId),
        byteString(Tag.SignatureData, randomBytes(256)), // RSA-2048
      ]),
    ]),
  );
  return structure(Tag.ResponseMessage, [
    structure(Tag.ResponseHeader, [protocolVersion, dateTime(Tag.TimeStamp, BigInt(Math.floor(Date.now() / 1000))), integer(Tag.BatchCount, batchCount)]),
    ...items,
  ]);
}

/** JSON cannot hold bigints or bytes: Date-Times become decimal strings, bytes base64. */
function replacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64");
  return value;
}

let sink = 0;

/** Calls per second of `fn`, timed in rounds of a calibrated size. */
function perSecond(fn: () => number): number {
  const deadline = (ms: number) => process.hrtime.bigint() + BigInt(ms) * 1_000_000n;
  let round = 1;
  for (const end = deadline(WARMUP_MS); process.hrtime.bigint() < end; round *= 2) {
    for (let i = 0; i < round; i++) sink += fn();
  }
  round = Math.max(1, round >> 4);
  let calls = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(MEASURE_MS) * 1_000_000n;
  let now = start;
  while (now < end) {
    for (let i = 0; i < round; i++) sink += fn();
    calls += round;
    now = process.hrtime.bigint();
  }
  return (calls * 1e9) / Number(now - start);
}

const cases: [string, TtlvItem][] = [
  ["Sign request, 1 item", signRequest(1)],
  ["Sign response, 1 item", signResponse(1)],
  ["Sign request, 32 items", signRequest(32)],
  ["Sign response, 32 items", signResponse(32)],
];

const format = (n: number) => Math.round(n).toLocaleString("en-US");
const rows = [
  "| message | bytes | decode msg/s | encode msg/s | Buffer.copy msg/s | JSON stringify+parse msg/s |",
  "|---|---:|---:|---:|---:|---:|",
];
for (const [name, tree] of cases) {
  const bytes = encodeTtlv(tree);
  const copy = Buffer.alloc(bytes.length);
  const decode = perSecond(() => decodeTtlv(bytes).tag);
  const encode = perSecond(() => encodeTtlv(tree).length);
  const bufferCopy = perSecond(() => bytes.copy(copy));
  const json = perSecond(() => (JSON.parse(JSON.stringify(tree, replacer)) as TtlvItem).tag);
  rows.push(`| ${name} | ${bytes.length} | ${format(decode)} | ${format(encode)} | ${format(bufferCopy)} | ${format(json)} |`);
}
console.log(`TTLV codec, Node.js ${process.version} (${MEASURE_MS} ms per figure)\n`);
console.log(rows.join("\n"));
if (sink === 0.5) console.log(sink); // keeps the results observable
