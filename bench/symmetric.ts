// AES-GCM Encrypt and HMAC-SHA256 MAC through the relay, against the same
// operations made directly with pkcs11js on the same token and keys, in the
// same run (the ratio is what counts; absolute figures move with the
// machine's load, see README.md).
//
//   npm run build && node dist/bench/symmetric.js [--seconds 3] [--in-flight 8] [--bytes 64]
//
// The relay runs as its own process (module isolation on, the default) on a
// fresh SoftHSM token; one KmipClient keeps `in-flight` requests of one item
// each outstanding. Direct: C_EncryptInit + C_Encrypt (C_SignInit + C_Sign)
// synchronously in this process, one call after another, while the relay is
// idle: per operation, the HSM work the relay does and nothing else.
import { parseArgs } from "node:util";
import pkcs11js from "pkcs11js";
import type { KmipClient } from "../src/client/kmip-client.js";
import { parseKeyId } from "../src/hsm/key-id.js";
import { BlockCipherMode, CryptographicAlgorithm, CryptographicUsageMask, ObjectType } from "../src/ttlv/enums.js";
import { connect } from "../test/helpers/relay-client.js";
import { startRelayProcess } from "../test/helpers/relay.js";
import { createSoftHsmToken, type SoftHsmToken } from "../test/helpers/softhsm.js";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "3" }, "in-flight": { type: "string", default: "8" }, bytes: { type: "string", default: "64" } } });
const seconds = Number(values.seconds);
const inFlight = Number(values["in-flight"]);
const data = Buffer.alloc(Number(values.bytes), 0x5a);

/** Operations per second of `op`, run by `callers` loops for `seconds` after a 0.5 s warm-up. */
async function rate(callers: number, op: (i: number) => Promise<unknown> | unknown): Promise<number> {
  const run = async (ms: number) => {
    const end = performance.now() + ms;
    let count = 0;
    await Promise.all(
      Array.from({ length: callers }, async (_, c) => {
        for (let i = c; performance.now() < end; i += callers) {
          await op(i);
          count++;
        }
      }),
    );
    return count;
  };
  await run(500);
  const started = performance.now();
  const count = await run(seconds * 1000);
  return count / ((performance.now() - started) / 1000);
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
  return {
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
const relay = await startRelayProcess({ token });
try {
  const client = await connect(relay);
  const keys = await createKeys(client);
  const gcm = { cryptographicAlgorithm: CryptographicAlgorithm.AES, blockCipherMode: BlockCipherMode.GCM };
  const relayGcm = await rate(inFlight, (i) => client.encrypt({ uniqueIdentifier: keys.aes, cryptographicParameters: gcm, data, ivCounterNonce: ivOf(i + 1_000_000) }));
  const relayMac = await rate(inFlight, () => client.mac({ uniqueIdentifier: keys.hmac, data }));
  await client.close();
  const hsm = direct(token, keys);
  const directGcm = await rate(1, (i) => hsm.encrypt(i));
  const directMac = await rate(1, () => hsm.mac());
  hsm.close();
  const line = (name: string, through: number, straight: number) =>
    `${name.padEnd(28)} relay ${through.toFixed(0).padStart(7)}/s   direct ${straight.toFixed(0).padStart(7)}/s   relay/direct ${(through / straight).toFixed(3)}`;
  console.log(`${data.length}-byte messages, ${seconds} s each, ${inFlight} requests in flight on one connection`);
  console.log(line("AES-256-GCM Encrypt", relayGcm, directGcm));
  console.log(line("HMAC-SHA256 MAC", relayMac, directMac));
} finally {
  await relay.cleanup();
  await token.cleanup();
}
