// AES-GCM Encrypt and HMAC-SHA256 MAC through the relay, against the same
// operations made directly with pkcs11js on the same token and keys, in the
// same run and in alternating slices of 250 ms (as bench/metadata.ts does),
// so that the shared machine's load weighs on both alike; the ratio is what
// counts (absolute figures move with the load, see README.md).
//
//   npm run build && node dist/bench/symmetric.js [--seconds 3] [--in-flight 8] [--bytes 64] [--isolation process|in-process] [--profile DIR]
//
// --profile DIR: the relay and its module process run under V8's sampling
// profiler (cpu-profile-hook.ts) and write .cpuprofile files to DIR when the
// run ends; summarise them with dist/bench/profile.js.
//
// The relay runs as its own process (module isolation as --isolation says,
// by default "process", the relay's default) on a
// fresh SoftHSM token; one KmipClient keeps `in-flight` requests of one item
// each outstanding. Direct: C_EncryptInit + C_Encrypt (C_SignInit + C_Sign)
// synchronously in this process, one call after another, while the relay is
// idle (each slice waits for its last answer): per operation, the HSM work
// the relay does and nothing else.
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import pkcs11js from "pkcs11js";
import type { KmipClient } from "../src/client/kmip-client.js";
import { parseKeyId } from "../src/hsm/key-id.js";
import { BlockCipherMode, CryptographicAlgorithm, CryptographicUsageMask, ObjectType } from "../src/ttlv/enums.js";
import { slice } from "./common.js";
import { connect } from "../test/helpers/relay-client.js";
import { startRelayProcess } from "../test/helpers/relay.js";
import { createSoftHsmToken, type SoftHsmToken } from "../test/helpers/softhsm.js";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "3" }, "in-flight": { type: "string", default: "8" }, bytes: { type: "string", default: "64" }, profile: { type: "string" }, isolation: { type: "string", default: "process" } } });
const seconds = Number(values.seconds);
const inFlight = Number(values["in-flight"]);
const data = Buffer.alloc(Number(values.bytes), 0x5a);

/**
 * The rates of the relay (`relayOp`, `inFlight` callers) and of direct
 * (`directOp`, one synchronous caller), in alternating slices of 250 ms for
 * `seconds` each, after a warm-up slice of both.
 */
async function compare(relayOp: () => Promise<unknown>, directOp: () => unknown): Promise<[number, number]> {
  const sides: [number, () => Promise<unknown> | unknown][] = [
    [inFlight, relayOp],
    [1, directOp],
  ];
  for (const [callers, op] of sides) await slice(callers, 250, op);
  const total = [
    { count: 0, ms: 0 },
    { count: 0, ms: 0 },
  ];
  for (let elapsed = 0; elapsed < seconds * 1000; elapsed += 250) {
    for (const [i, [callers, op]] of sides.entries()) {
      const r = await slice(callers, 250, op);
      total[i]!.count += r.count;
      total[i]!.ms += r.ms;
    }
  }
  return [total[0]!.count / (total[0]!.ms / 1000), total[1]!.count / (total[1]!.ms / 1000)];
}

/** A 12-byte GCM IV from a counter: never repeated within a run. */
const ivOf = (i: number) => {
  const iv = Buffer.alloc(12);
  iv.writeUInt32BE(i, 8);
  iv.writeUInt32BE(process.pid, 0);
  return iv;
};

async function createKeys(client: KmipClient): Promise<{ aes: string; hmac: string }> {
  const make = async (attributes: { name: "Cryptographic Algorithm" | "Cryptographic Length" | "Cryptographic Usage Mask"; value: number }[]) =>
    (await client.create({ objectType: ObjectType.SymmetricKey, templateAttribute: { names: [], attributes } })).uniqueIdentifier;
  const keys = {
    aes: await make([
      { name: "Cryptographic Algorithm", value: CryptographicAlgorithm.AES },
      { name: "Cryptographic Length", value: 256 },
      { name: "Cryptographic Usage Mask", value: CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt },
    ]),
    hmac: await make([
      { name: "Cryptographic Algorithm", value: CryptographicAlgorithm.HMACSHA256 },
      { name: "Cryptographic Usage Mask", value: CryptographicUsageMask.MacGenerate | CryptographicUsageMask.MacVerify },
    ]),
  };
  // Pre-Active until Activate (KMIP 1.x 3.22): the token refuses them until then.
  for (const id of Object.values(keys)) await client.activate({ uniqueIdentifier: id });
  return keys;
}

function direct(token: SoftHsmToken, keys: { aes: string; hmac: string }) {
  process.env.SOFTHSM2_CONF = token.conf;
  const p = new pkcs11js.PKCS11();
  p.load(token.modulePath);
  p.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trimEnd() === token.label)!;
  const session = p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
  p.C_Login(session, pkcs11js.CKU_USER, token.pin);
  const handle = (id: string) => {
    p.C_FindObjectsInit(session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_ID, value: parseKeyId(id)!.ckaId },
    ]);
    const [found] = p.C_FindObjects(session, 1);
    p.C_FindObjectsFinal(session);
    return found!;
  };
  const aes = handle(keys.aes);
  const hmac = handle(keys.hmac);
  const out = Buffer.alloc(data.length + 64);
  return {
    encrypt(i: number) {
      const parameter: pkcs11js.AesGCM = { type: pkcs11js.CK_PARAMS_AES_GCM, iv: ivOf(i), ivBits: 96, tagBits: 128 };
      p.C_EncryptInit(session, { mechanism: pkcs11js.CKM_AES_GCM, parameter }, aes);
      return p.C_Encrypt(session, data, out);
    },
    mac() {
      p.C_SignInit(session, { mechanism: pkcs11js.CKM_SHA256_HMAC }, hmac);
      return p.C_Sign(session, data, out);
    },
    close() {
      p.C_CloseSession(session);
      p.C_Finalize();
      p.close();
    },
  };
}

const token = await createSoftHsmToken({ label: "kmip2pkcs11-bench" });
const env = { ...token.env };
if (values.profile !== undefined) {
  env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ""} --import ${fileURLToPath(new URL("cpu-profile-hook.js", import.meta.url))}`.trim();
  env.KMIP2PKCS11_CPU_PROFILE_DIR = values.profile;
}
const relay = await startRelayProcess({ token, env, pkcs11: [`isolation = "${values.isolation}"`] });
try {
  const client = await connect(relay);
  const keys = await createKeys(client);
  const hsm = direct(token, keys);
  const gcm = { cryptographicAlgorithm: CryptographicAlgorithm.AES, blockCipherMode: BlockCipherMode.GCM };
  // Relay and direct IVs from counters of their own: no IV is used twice with the key.
  let relayIv = 1_000_000;
  let directIv = 0;
  const relayGcmOp = () => client.encrypt({ uniqueIdentifier: keys.aes, cryptographicParameters: gcm, data, ivCounterNonce: ivOf(relayIv++) });
  const relayMacOp = () => client.mac({ uniqueIdentifier: keys.hmac, data });
  // Warm-up of every path for a second first: whichever row ran first came out at half its
  // rate without it (the relay's JIT, its module process and session pool still starting).
  for (const op of [relayGcmOp, relayMacOp]) await slice(inFlight, 1000, op);
  const load = () => loadavg().map((l) => l.toFixed(2)).join(" ");
  const before = load();
  const [relayGcm, directGcm] = await compare(relayGcmOp, () => hsm.encrypt(directIv++));
  const [relayMac, directMac] = await compare(relayMacOp, () => hsm.mac());
  await client.close();
  hsm.close();
  const line = (name: string, through: number, straight: number) =>
    `${name.padEnd(28)} relay ${through.toFixed(0).padStart(7)}/s   direct ${straight.toFixed(0).padStart(7)}/s   relay/direct ${(through / straight).toFixed(3)}`;
  console.log(`${data.length}-byte messages, ${seconds} s per side in alternating 250 ms slices, ${inFlight} requests in flight on one connection, isolation ${values.isolation}; load average ${before} before, ${load()} after`);
  console.log(line("AES-256-GCM Encrypt", relayGcm, directGcm));
  console.log(line("HMAC-SHA256 MAC", relayMac, directMac));
} finally {
  await relay.cleanup();
  await token.cleanup();
}
