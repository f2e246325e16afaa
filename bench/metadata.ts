// What the object model's metadata (doc/object-model.md) costs per Create Key
// Pair, per Sign and per Get Attributes: the relay's own operation handlers,
// in this process, on one SoftHSM token, with the metadata and without it,
// in the same run (the ratio is what counts; absolute figures move with the
// machine's load, see README.md).
//
//   npm run build && node dist/bench/metadata.js [--seconds 3] [--in-flight 4]
//
// Without: the same handlers on the same backend, whose metadata writes are
// refused as NSS's softokn refuses every data object
// (CKR_ATTRIBUTE_VALUE_INVALID). That is the relay's own path for a module
// that keeps no data objects: Create Key Pair makes the keys Active with no
// record, and they are read as keys of other tools (legacy.ts). With: the
// default path, a pending record, C_GenerateKeyPair, the record completed.
// The two are measured in alternating slices, so that both see the
// machine's load and the token's growth alike. The protocol (TLS, TTLV) is left out, so the ratios are the
// metadata's share of the handler and HSM work alone: through a relay
// process it is diluted further.
import { parseArgs } from "node:util";
import pino from "pino";
import type { HsmBackend } from "../src/hsm/backend.js";
import { HsmError } from "../src/hsm/hsm-error.js";
import { createKeyPairPayloads, getAttributesPayloads, signPayloads, type PayloadCodecs } from "../src/kmip/payloads/index.js";
import { createOperations } from "../src/operations/index.js";
import type { OperationContext } from "../src/operations/operation.js";
import { CryptographicAlgorithm, CryptographicUsageMask, NameType, Operation, RecommendedCurve } from "../src/ttlv/enums.js";
import { openSoftHsmBackend } from "../test/helpers/softhsm.js";
import { slice } from "./common.js";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "3" }, "in-flight": { type: "string", default: "4" } } });
const seconds = Number(values.seconds);
const inFlight = Number(values["in-flight"]);

const hsm = await openSoftHsmBackend();
const handlers = createOperations();
const silent = pino({ level: "silent" });

/** The backend as a module without data objects shows it: every metadata write refused. */
const noDataBackend: HsmBackend = Object.create(hsm.backend, {
  writeMetadata: {
    value: async () => {
      throw new HsmError("PKCS11_ERROR", "C_CreateObject: CKR_ATTRIBUTE_VALUE_INVALID", "C_CreateObject", "CKR_ATTRIBUTE_VALUE_INVALID");
    },
  },
});

const slot = await hsm.backend.resolveSlot(hsm.token.label);
const contextOf = (backend: HsmBackend): OperationContext => ({
  backend,
  slot,
  version: { major: 1, minor: 4 },
  server: { productName: "kmip2pkcs11", productVersion: "bench" },
  logger: silent,
  idPlaceholder: undefined,
});

async function run<Request, Response>(backend: HsmBackend, operation: number, codecs: PayloadCodecs<Request, Response>, request: Request): Promise<Response> {
  const handler = handlers.find((h) => h.operation === operation)!;
  return codecs.decodeResponse(await handler.run(contextOf(backend), codecs.encodeRequest(request)));
}

let made = 0;
const createPair = (backend: HsmBackend) =>
  run(backend, Operation.CreateKeyPair, createKeyPairPayloads, {
    commonTemplateAttribute: {
      names: [],
      attributes: [
        { name: "Cryptographic Algorithm", value: CryptographicAlgorithm.ECDSA },
        { name: "Cryptographic Domain Parameters", value: { recommendedCurve: RecommendedCurve.P256 } },
        // Active at once on both paths: the Sign rows sign with these keys.
        { name: "Activation Date", value: BigInt(Math.floor(Date.now() / 1000) - 60) },
      ],
    },
    privateKeyTemplateAttribute: {
      names: [],
      attributes: [
        { name: "Cryptographic Usage Mask", value: CryptographicUsageMask.Sign },
        { name: "Name", value: { nameValue: `bench-${made++}`, nameType: NameType.UninterpretedTextString } },
      ],
    },
    publicKeyTemplateAttribute: { names: [], attributes: [{ name: "Cryptographic Usage Mask", value: CryptographicUsageMask.Verify }] },
  });


/**
 * The rates of `a` and `b`, measured in alternating slices of 250 ms for
 * `seconds` each after a warm-up of both, so that the machine's load (a
 * shared machine) weighs on both alike.
 */
async function compare(callers: number, a: () => Promise<unknown>, b: () => Promise<unknown>): Promise<[number, number]> {
  if (callers === 1) return alternate(a, b);
  await slice(callers, 200, a);
  await slice(callers, 200, b);
  const total = [{ count: 0, ms: 0 }, { count: 0, ms: 0 }];
  for (let elapsed = 0; elapsed < seconds * 1000; elapsed += 250) {
    for (const [i, op] of [a, b].entries()) {
      const r = await slice(callers, 250, op);
      total[i]!.count += r.count;
      total[i]!.ms += r.ms;
    }
  }
  return [total[0]!.count / (total[0]!.ms / 1000), total[1]!.count / (total[1]!.ms / 1000)];
}

/** One caller: `a` and `b` one after the other, each timed, for `seconds` each (slow operations, such as key generation). */
async function alternate(a: () => Promise<unknown>, b: () => Promise<unknown>): Promise<[number, number]> {
  await a();
  await b();
  const spent = [0, 0];
  const count = [0, 0];
  while (spent[0]! + spent[1]! < seconds * 2000) {
    for (const [i, op] of [a, b].entries()) {
      const started = performance.now();
      await op();
      spent[i]! += performance.now() - started;
      count[i]!++;
    }
  }
  return [count[0]! / (spent[0]! / 1000), count[1]! / (spent[1]! / 1000)];
}

const data = Buffer.alloc(100, 0x5a);
const withKey = (await createPair(hsm.backend)).privateKeyUniqueIdentifier;
const withoutKey = (await createPair(noDataBackend)).privateKeyUniqueIdentifier;
const records = await hsm.backend.readMetadata(slot.slotId);
if (!records.some((r) => withKey.startsWith(r.label)) || records.some((r) => withoutKey.startsWith(r.label))) throw new Error("the two paths did not make what they should");

const rows: [string, () => Promise<[number, number]>][] = [
  ["Create Key Pair (ECDSA P-256, 1 in flight)", () => compare(1, () => createPair(hsm.backend), () => createPair(noDataBackend))],
  [
    `Sign (ECDSA P-256, 100 bytes, ${inFlight} in flight)`,
    () =>
      compare(
        inFlight,
        () => run(hsm.backend, Operation.Sign, signPayloads, { uniqueIdentifier: withKey, data }),
        () => run(noDataBackend, Operation.Sign, signPayloads, { uniqueIdentifier: withoutKey, data }),
      ),
  ],
  [
    `Get Attributes (all, ${inFlight} in flight)`,
    () =>
      compare(
        inFlight,
        () => run(hsm.backend, Operation.GetAttributes, getAttributesPayloads, { uniqueIdentifier: withKey, attributeNames: [] }),
        () => run(noDataBackend, Operation.GetAttributes, getAttributesPayloads, { uniqueIdentifier: withoutKey, attributeNames: [] }),
      ),
  ],
];
const results: [string, number, number][] = [];
for (const [name, measure] of rows) {
  const [w, wo] = await measure();
  results.push([name, w, wo]);
}

console.log(`metadata cost: ${seconds} s per side in alternating 250 ms slices; the token held ${(await hsm.backend.findKeys(slot.slotId, {})).length} keys at the end`);
console.log("| operation | with metadata /s | without /s | with / without |");
console.log("|---|---:|---:|---:|");
for (const [name, w, wo] of results) console.log(`| ${name} | ${w.toFixed(0)} | ${wo.toFixed(0)} | ${(w / wo).toFixed(2)} |`);
await hsm.close();
