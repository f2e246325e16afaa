// Fuzzing over a live TLS connection: a fixed number of messages from a fixed
// fast-check seed, built three ways from valid requests (bytes flipped,
// inserted, deleted or cut; one TTLV item replaced, retyped, dropped or
// duplicated; random bytes under a TTLV header) plus a few oversized length
// headers. Each message is framed consistently, so the relay can tell where
// it ends; it must answer each with a well-formed Response Message or close
// the connection. Meanwhile a valid client on its own connection keeps
// signing, and every one of its requests must succeed. At the end the relay
// is still running, logged no internal error, and its memory stayed bounded.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import fc from "fast-check";
import { KmipClient, KmipConnectionError, type KmipClientOptions } from "../../src/client/kmip-client.js";
import { decodeResponseMessage, encodeRequestMessage, type RequestBatchItem } from "../../src/kmip/message.js";
import * as payloads from "../../src/kmip/payloads/index.js";
import { decodeTtlv } from "../../src/ttlv/decode.js";
import { encodeTtlv } from "../../src/ttlv/encode.js";
import { CredentialType, CryptographicAlgorithm, NameType, Operation, QueryFunction } from "../../src/ttlv/enums.js";
import { HEADER_LENGTH, ItemType, paddedLength, type TtlvItem } from "../../src/ttlv/item.js";
import { startRelayProcess, type RunningRelay } from "../helpers/relay.js";

const MESSAGES = 5000;
const SEED = 20261130;
/** Parallel fuzzing connections. */
const FUZZERS = 2;
const MAX_MESSAGE_SIZE = 65536;

let relay: RunningRelay;
let options: KmipClientOptions;
/** The valid requests the mutations start from. */
let corpus: Buffer[];
let privateKeyId: string;

before(async () => {
  relay = await startRelayProcess();
  const ca = await readFile(join(relay.dir, "state", "tls", "cert.pem"), "utf8");
  options = { host: relay.host, port: relay.port, ca, username: relay.token.label, password: relay.token.pin, timeoutMs: 30_000 };
  const client = await KmipClient.connect(options);
  try {
    const keys = await client.createKeyPair({
      commonTemplateAttribute: {
        names: [],
        attributes: [{ name: "Activation Date", value: BigInt(Math.floor(Date.now() / 1000)) }, 
          { name: "Cryptographic Algorithm", value: CryptographicAlgorithm.ECDSA },
          { name: "Cryptographic Length", value: 256 },
        ],
      },
      privateKeyTemplateAttribute: { names: [], attributes: [{ name: "Name", value: { nameValue: "fuzz", nameType: NameType.UninterpretedTextString } }] },
    });
    privateKeyId = keys.privateKeyUniqueIdentifier;
    corpus = validRequests(keys.privateKeyUniqueIdentifier, keys.publicKeyUniqueIdentifier);
  } finally {
    await client.close();
  }
});
after(async () => relay?.cleanup());

function requestMessage(batchItems: RequestBatchItem[]): Buffer {
  return encodeTtlv(
    encodeRequestMessage({
      header: {
        protocolVersion: { major: 1, minor: 2 },
        authentication: {
          credential: { credentialType: CredentialType.UsernameAndPassword, username: relay.token.label, password: relay.token.pin },
        },
        batchCount: batchItems.length,
      },
      batchItems,
    }),
  );
}

function validRequests(privateId: string, publicId: string): Buffer[] {
  const item = (operation: number, requestPayload: RequestBatchItem["requestPayload"], id?: string): RequestBatchItem => ({
    operation,
    requestPayload,
    ...(id === undefined ? {} : { uniqueBatchItemId: Buffer.from(id) }),
  });
  const discover = item(Operation.DiscoverVersions, payloads.discoverVersionsPayloads.encodeRequest({ protocolVersions: [{ major: 1, minor: 2 }] }));
  const sign = item(Operation.Sign, payloads.signPayloads.encodeRequest({ uniqueIdentifier: privateId, data: Buffer.from("example.") }), "s");
  const get = item(Operation.Get, payloads.getPayloads.encodeRequest({ uniqueIdentifier: publicId }), "g");
  return [
    requestMessage([discover]),
    requestMessage([item(Operation.Query, payloads.queryPayloads.encodeRequest({ queryFunctions: Object.values(QueryFunction).slice(0, 3) }))]),
    requestMessage([get]),
    requestMessage([sign]),
    requestMessage([item(Operation.Activate, payloads.activatePayloads.encodeRequest({ uniqueIdentifier: privateId }))]),
    requestMessage([
      item(
        Operation.Locate,
        payloads.locatePayloads.encodeRequest({ attributes: [{ name: "Name", value: { nameValue: "fuzz", nameType: NameType.UninterpretedTextString } }] }),
      ),
    ]),
    requestMessage([
      item(Operation.GetAttributes, payloads.getAttributesPayloads.encodeRequest({ uniqueIdentifier: privateId, attributeNames: ["Name", "State"] })),
    ]),
    requestMessage([discover, sign, get]),
  ];
}

// --- Fuzz inputs -----------------------------------------------------------

type ByteEdit = { kind: "set" | "insert" | "delete"; at: number; byte: number };
type FuzzInput =
  | { kind: "bytes"; base: number; edits: ByteEdit[]; cut: number | null }
  | { kind: "item"; base: number; at: number; action: "replace" | "retype" | "drop" | "duplicate"; type: number; int: number; text: string; bytes: Uint8Array }
  | { kind: "random"; tag: number; type: number; body: Uint8Array }
  | { kind: "oversized"; length: number };

function inputs(corpusSize: number): FuzzInput[] {
  const base = fc.nat({ max: corpusSize - 1 });
  const bytes = fc.record({
    kind: fc.constant("bytes" as const),
    base,
    edits: fc.array(fc.record({ kind: fc.constantFrom("set" as const, "insert" as const, "delete" as const), at: fc.nat(), byte: fc.nat({ max: 255 }) }), {
      minLength: 1,
      maxLength: 8,
    }),
    cut: fc.option(fc.nat(), { freq: 4 }),
  });
  const item = fc.record({
    kind: fc.constant("item" as const),
    base,
    at: fc.nat(),
    action: fc.constantFrom("replace" as const, "retype" as const, "drop" as const, "duplicate" as const),
    type: fc.integer({ min: ItemType.Structure, max: ItemType.Interval }),
    int: fc.oneof(fc.integer(), fc.constantFrom(0, -1, 0x7fffffff, -0x80000000, 4096, 1 << 20)),
    text: fc.string({ maxLength: 40 }),
    bytes: fc.uint8Array({ maxLength: 64 }),
  });
  const random = fc.record({
    kind: fc.constant("random" as const),
    tag: fc.oneof(fc.constant(0x420078), fc.nat({ max: 0xffffff })),
    type: fc.nat({ max: 255 }),
    body: fc.uint8Array({ maxLength: 600 }),
  });
  const oversized = fc.record({ kind: fc.constant("oversized" as const), length: fc.integer({ min: MAX_MESSAGE_SIZE, max: 0xffffffff }) });
  const arbitrary = fc.oneof(
    { arbitrary: bytes, weight: 10 },
    { arbitrary: item, weight: 10 },
    { arbitrary: random, weight: 4 },
    { arbitrary: oversized, weight: 1 },
  );
  return fc.sample(arbitrary, { numRuns: MESSAGES, seed: SEED });
}

/** A message whose header's length matches the bytes that follow (padded to 8 unless a Structure). */
function framed(tag: number, type: number, body: Uint8Array): Buffer {
  const padded = type === ItemType.Structure ? body.length : paddedLength(body.length);
  const message = Buffer.alloc(HEADER_LENGTH + padded);
  message.writeUIntBE(tag, 0, 3);
  message[3] = type;
  message.writeUInt32BE(padded, 4);
  message.set(body, HEADER_LENGTH);
  return message;
}

function applyEdits(message: Buffer, edits: ByteEdit[], cut: number | null): Buffer {
  const bytes = [...message];
  for (const edit of edits) {
    const at = edit.at % (bytes.length + 1);
    if (edit.kind === "set" && at < bytes.length) bytes[at] = edit.byte;
    else if (edit.kind === "insert") bytes.splice(at, 0, edit.byte);
    else if (edit.kind === "delete") bytes.splice(at, 1);
  }
  if (cut !== null) bytes.length = Math.min(bytes.length, HEADER_LENGTH + (cut % bytes.length));
  const header = Buffer.from(bytes.slice(0, HEADER_LENGTH).concat([0, 0, 0, 0, 0, 0, 0, 0]).slice(0, HEADER_LENGTH));
  return framed(header.readUIntBE(0, 3), header[3]!, Uint8Array.from(bytes.slice(HEADER_LENGTH)));
}

/** An item of `type` carrying one of the generated values. */
function randomItem(tag: number, input: Extract<FuzzInput, { kind: "item" }>): TtlvItem {
  switch (input.type) {
    case ItemType.Structure:
      return { tag, type: ItemType.Structure, value: [] };
    case ItemType.Integer:
      return { tag, type: ItemType.Integer, value: input.int };
    case ItemType.LongInteger:
      return { tag, type: ItemType.LongInteger, value: BigInt(input.int) << 20n };
    case ItemType.BigInteger:
      return { tag, type: ItemType.BigInteger, value: BigInt(input.int) };
    case ItemType.Enumeration:
      return { tag, type: ItemType.Enumeration, value: input.int >>> 0 };
    case ItemType.Boolean:
      return { tag, type: ItemType.Boolean, value: input.int % 2 === 0 };
    case ItemType.TextString:
      return { tag, type: ItemType.TextString, value: input.text };
    case ItemType.ByteString:
      return { tag, type: ItemType.ByteString, value: input.bytes };
    case ItemType.DateTime:
      return { tag, type: ItemType.DateTime, value: BigInt(input.int) };
    default:
      return { tag, type: ItemType.Interval, value: input.int >>> 0 };
  }
}

/** The tree with the item at pre-order position `input.at` (modulo the item count) mutated. */
function mutateItem(root: TtlvItem, input: Extract<FuzzInput, { kind: "item" }>): TtlvItem {
  let count = 0;
  const countItems = (item: TtlvItem): void => {
    count++;
    if (item.type === ItemType.Structure) item.value.forEach(countItems);
  };
  countItems(root);
  const target = input.at % count;
  let index = 0;
  // Returns the items that take the place of `item` in its parent.
  const visit = (item: TtlvItem): TtlvItem[] => {
    if (index++ === target) {
      switch (input.action) {
        case "drop":
          return item === root ? [root] : [];
        case "duplicate":
          return [item, item];
        case "retype":
          return [randomItem(item.tag, input)];
        case "replace":
          return [item.type === ItemType.Structure ? item : randomItem(item.tag, { ...input, type: item.type })];
      }
    }
    return item.type === ItemType.Structure ? [{ ...item, value: item.value.flatMap(visit) }] : [item];
  };
  return visit(root)[0]!;
}

function materialise(input: FuzzInput): Buffer {
  switch (input.kind) {
    case "bytes":
      return applyEdits(corpus[input.base]!, input.edits, input.cut);
    case "item":
      return encodeTtlv(mutateItem(decodeTtlv(corpus[input.base]!), input));
    case "random":
      return framed(input.tag, input.type, input.body);
    case "oversized": {
      const header = Buffer.from([0x42, 0x00, 0x78, 0x01, 0, 0, 0, 0]);
      header.writeUInt32BE(input.length, 4);
      return header;
    }
  }
}

// --- Running -----------------------------------------------------------------

async function relayMemory(): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${relay.process.pid}/status`, "utf8");
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status)![1]) * 1024;
  return { rss: kib("VmRSS"), peak: kib("VmHWM") };
}

interface Tally {
  answered: number;
  /** Messages whose connection closed without an answer (even when sent on a fresh one). */
  closed: number;
  /** Connections the relay closed (after an oversized message, for instance). */
  reconnects: number;
}

/** Sends `messages` one at a time; each must get a well-formed answer or a closed connection. */
async function fuzz(messages: Buffer[], tally: Tally): Promise<void> {
  let client = await KmipClient.connect(options);
  for (const message of messages) {
    let reply: Uint8Array | undefined;
    // A connection the relay closed after the previous message rejects at
    // once; only a fresh connection's close counts for this message.
    for (let attempt = 0; attempt < 2 && reply === undefined; attempt++) {
      try {
        reply = await client.sendRaw(message);
      } catch (error) {
        if (!(error instanceof KmipConnectionError) || error.code !== "CLOSED") {
          throw new Error(`message ${message.toString("hex")}: ${String(error)}`, { cause: error });
        }
        await client.close();
        client = await KmipClient.connect(options);
        tally.reconnects++;
      }
    }
    if (reply === undefined) {
      tally.closed++;
      continue;
    }
    try {
      decodeResponseMessage(decodeTtlv(reply));
    } catch (error) {
      throw new Error(`the answer to ${message.toString("hex")} is not a Response Message: ${(error as Error).message}`);
    }
    tally.answered++;
  }
  await client.close();
}

test(`${MESSAGES} fuzzed messages over TLS: each answered or closed, the relay survives, memory bounded, a valid client served throughout`, async () => {
  const messages = inputs(corpus.length).map(materialise);

  // The valid client signs in a loop for as long as the fuzzing runs.
  const valid = await KmipClient.connect(options);
  let fuzzing = true;
  let signed = 0;
  const signing = (async () => {
    while (fuzzing) {
      const result = await valid.sign({ uniqueIdentifier: privateKeyId, data: Buffer.from(`record ${signed}`) });
      assert.ok(result.signatureData !== undefined && result.signatureData.length > 0);
      signed++;
    }
  })();

  const tally: Tally = { answered: 0, closed: 0, reconnects: 0 };
  // Warm-up, so that the baseline includes what the first messages allocate once.
  await fuzz(messages.slice(0, 100), tally);
  const before = await relayMemory();
  const started = process.hrtime.bigint();
  const rest = messages.slice(100);
  const share = Math.ceil(rest.length / FUZZERS);
  await Promise.all(Array.from({ length: FUZZERS }, (_, i) => fuzz(rest.slice(i * share, (i + 1) * share), tally)));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  fuzzing = false;
  await signing;
  await valid.close();
  const afterRun = await relayMemory();

  const mib = (n: number) => (n / 1048576).toFixed(1);
  console.log(
    `fuzz: ${MESSAGES} messages (seed ${SEED}), ${tally.answered} answered, ${tally.closed} closed unanswered, ${tally.reconnects} connections closed by the relay; ` +
      `${Math.round(rest.length / seconds)} messages/s over ${FUZZERS} connections; ${signed} valid signatures meanwhile; ` +
      `relay RSS ${mib(before.rss)} -> ${mib(afterRun.rss)} MiB (peak ${mib(afterRun.peak)} MiB)`,
  );
  assert.equal(tally.answered + tally.closed, MESSAGES);
  assert.ok(signed > 0, "the valid client was served during the fuzzing");
  assert.equal(relay.process.exitCode, null, "the relay is still running");
  assert.ok(afterRun.rss - before.rss < 64 * 1048576, `the relay's RSS grew from ${mib(before.rss)} to ${mib(afterRun.rss)} MiB`);
  const internal = relay.output().split("\n").filter((line) => /internal error|uncaught/i.test(line));
  assert.deepEqual(internal, [], "no internal error was logged");
});
