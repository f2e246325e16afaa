// Locate on a token with many keys: `node dist/bench/locate.js --keys 2000`.
// Makes the key pairs (EC P-256, with a random 20-byte CKA_ID like the
// relay's) directly with pkcs11js on a fresh SoftHSM token, starts a relay
// on it, and times a Locate with a State filter (which reads every key's
// lifecycle) on a cold relay, then again warm, and an unfiltered Locate.
// Prints one line per measurement.
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import pkcs11js from "pkcs11js";
import { KmipClient } from "../src/client/kmip-client.js";
import { CKM_EC_KEY_PAIR_GEN } from "../src/hsm/mechanisms.js";
import { CURVES } from "../src/hsm/ec.js";
import { State } from "../src/ttlv/enums.js";
import { createSoftHsmToken, type SoftHsmToken } from "../test/helpers/softhsm.js";
import { startRelayProcess } from "../test/helpers/relay.js";

const { values } = parseArgs({
  options: {
    keys: { type: "string", default: "2000" },
    isolation: { type: "string", default: "process" },
  },
});
const keys = Number(values.keys);

/** `count` EC P-256 key pairs on the token, made in this process. */
function makeKeyPairs(token: SoftHsmToken, count: number): void {
  process.env.SOFTHSM2_CONF = token.conf;
  const p = new pkcs11js.PKCS11();
  p.load(token.modulePath);
  p.C_Initialize();
  try {
    const slot = p.C_GetSlotList(true)[0]!;
    const session = p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    p.C_Login(session, pkcs11js.CKU_USER, token.pin);
    for (let i = 0; i < count; i++) {
      const id = randomBytes(20);
      p.C_GenerateKeyPair(
        session,
        { mechanism: CKM_EC_KEY_PAIR_GEN },
        [
          { type: pkcs11js.CKA_TOKEN, value: true },
          { type: pkcs11js.CKA_VERIFY, value: true },
          { type: pkcs11js.CKA_ID, value: id },
          { type: pkcs11js.CKA_EC_PARAMS, value: CURVES["P-256"].oid },
        ],
        [
          { type: pkcs11js.CKA_TOKEN, value: true },
          { type: pkcs11js.CKA_SIGN, value: true },
          { type: pkcs11js.CKA_PRIVATE, value: true },
          { type: pkcs11js.CKA_SENSITIVE, value: true },
          { type: pkcs11js.CKA_ID, value: id },
        ],
      );
    }
    p.C_CloseSession(session);
  } finally {
    p.C_Finalize();
    p.close();
  }
}

const token = await createSoftHsmToken();
let started = performance.now();
makeKeyPairs(token, keys);
console.log(`made ${keys} EC P-256 key pairs in ${((performance.now() - started) / 1000).toFixed(1)} s`);
const relay = await startRelayProcess({ token, pkcs11: [`isolation = "${values.isolation}"`] });
try {
  const client = await KmipClient.connect({
    host: relay.host,
    port: relay.port,
    ca: await readFile(join(relay.dir, "state", "tls", "cert.pem")),
    username: token.label,
    password: token.pin,
    timeoutMs: 3_600_000,
  });
  const active = [{ name: "State", value: State.Active }] as const;
  for (const [what, attributes] of [
    ["State = Active, cold", active],
    ["State = Active, warm", active],
    ["no filter", []],
  ] as const) {
    started = performance.now();
    const { uniqueIdentifiers } = await client.locate({ attributes: [...attributes] });
    console.log(`Locate ${what}: ${uniqueIdentifiers.length} ids in ${((performance.now() - started) / 1000).toFixed(2)} s`);
  }
  await client.close();
} finally {
  await relay.cleanup();
  await token.cleanup();
}
