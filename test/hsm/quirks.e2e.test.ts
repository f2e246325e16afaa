// Awkward modules, with the quirky module (test/hsm/quirky-pkcs11.c: SoftHSM
// behind a shim): initialisation arguments reach C_Initialize byte for byte
// in both isolation modes; a template attribute the module refuses with a
// device error, and an attribute it cannot read, are learned and then left
// alone, or configured in advance; a module lacking CKA_KEY_GEN_MECHANISM
// serves everything. The shim reads its environment at each call, so each
// test sets the quirk it needs.
import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import pino from "pino";
import type { HsmBackend } from "../../src/hsm/backend.js";
import { HsmError } from "../../src/hsm/hsm-error.js";
import { openIsolatedBackend } from "../../src/hsm/isolated/isolated-backend.js";
import { CKM_ECDSA } from "../../src/hsm/mechanisms.js";
import { openPkcs11Backend, type Pkcs11BackendOptions } from "../../src/hsm/pkcs11-backend.js";
import { buildQuirkyModule, Quirk } from "../helpers/modules.js";
import { createSoftHsmToken, spyOnPkcs11, type Pkcs11Spy, type SoftHsmToken } from "../helpers/softhsm.js";

const CKA_TOKEN = "1";
const CKA_KEY_TYPE = "100";
const CKA_ENCRYPT = "104";
const CKA_DECRYPT = "105";
const CKA_WRAP = "106";
const CKA_UNWRAP = "107";
const CKA_KEY_GEN_MECHANISM = "166";
const CKA_EXTRACTABLE = "162";
const P256 = { spec: { keyType: "EC", curve: "P-256" } } as const;

let token: SoftHsmToken;
let modulePath: string;
let spy: Pkcs11Spy;

before(async () => {
  [token, modulePath] = await Promise.all([createSoftHsmToken(), buildQuirkyModule()]);
  process.env.SOFTHSM2_CONF = token.conf;
  // Installed before any backend exists: pkcs11js copies its methods at construction.
  // The backend generates through C_GenerateKeyPairAsync, which pkcs11js runs through its native C_GenerateKeyPairCallback.
  spy = spyOnPkcs11(["C_GenerateKeyPairCallback", "C_GetAttributeValue"]);
});
after(async () => {
  spy.restore();
  await token.cleanup();
});
afterEach(() => {
  for (const name of Object.values(Quirk)) delete process.env[name];
});

/** Warnings and errors the backend logs, parsed. */
function capture(): { logger: pino.Logger; warnings: { msg: string }[] } {
  const warnings: { msg: string }[] = [];
  return { logger: pino({ level: "warn" }, { write: (line: string) => warnings.push(JSON.parse(line) as { msg: string }) }), warnings };
}

/** Opens the in-process backend on the quirky module, logged in on the token, and closes it after `use`. */
async function withBackend(options: Partial<Pkcs11BackendOptions>, use: (backend: HsmBackend, slotId: string, warnings: { msg: string }[]) => Promise<void>) {
  const { logger, warnings } = capture();
  const backend = await openPkcs11Backend({ libPath: modulePath, ...options }, logger);
  try {
    const { slotId } = await backend.resolveSlot(token.label);
    await backend.authenticate(slotId, Buffer.from(token.pin));
    await use(backend, slotId, warnings);
  } finally {
    await backend.close();
  }
}

const calls = (name: string) => spy.counts.get(name)!;

describe("init-args reach C_Initialize's pReserved", () => {
  // pkcs11js 2.1.7 would cut the last character of each (module.ts).
  for (const initArgs of ["configdir='sql:/var/lib/nssdb' certPrefix='' keyPrefix='' secmod='secmod.db' flags=", "", "ends in é"]) {
    test(`in process: ${JSON.stringify(initArgs)}`, async () => {
      process.env[Quirk.initArgs] = initArgs;
      await withBackend({ initArgs }, async (backend) => {
        assert.ok((await backend.listSlots()).some((slot) => slot.tokenLabel === token.label));
      });
    });
  }

  test("a module refusing its arguments names init-args in the start-up error", async () => {
    process.env[Quirk.initArgs] = "wanted";
    const open = (initArgs?: string) => openPkcs11Backend({ libPath: modulePath, initArgs }, pino({ level: "silent" }));
    await assert.rejects(open("other"), /C_Initialize failed; .*or other \[pkcs11\] init-args: CKR_ARGUMENTS_BAD/);
    await assert.rejects(open(), /or initialisation arguments \(\[pkcs11\] init-args\): CKR_ARGUMENTS_BAD/);
  });

  test('in "process" isolation, with the module\'s environment set for its process only', async () => {
    const initArgs = "library=params";
    const backend = await openIsolatedBackend(
      { libPath: modulePath, initArgs, callTimeoutMs: 30_000, env: { [Quirk.initArgs]: initArgs } },
      pino({ level: "silent" }),
    );
    try {
      assert.equal(process.env[Quirk.initArgs], undefined);
      assert.ok((await backend.listSlots()).some((slot) => slot.tokenLabel === token.label));
    } finally {
      await backend.close();
    }
  });
});

describe("an attribute refused in C_GenerateKeyPair templates", () => {
  test("is learned: the template without it succeeds, and later ones leave it out at once", async () => {
    process.env[Quirk.refuseTemplate] = CKA_WRAP;
    await withBackend({}, async (backend, slotId, warnings) => {
      let before = calls("C_GenerateKeyPairCallback");
      const ids = await backend.generateKeyPair(slotId, P256);
      // Refused; without CKA_ENCRYPT refused; without CKA_WRAP made.
      assert.equal(calls("C_GenerateKeyPairCallback") - before, 3);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!.msg, /CKR_DEVICE_ERROR\) and succeeded without CKA_WRAP.*omit-attributes = \["CKA_WRAP"\]/);
      const { signature } = await backend.sign(slotId, ids.privateKeyId, { family: "ECDSA", digest: Buffer.alloc(32, 7) });
      assert.equal(await backend.verify(slotId, ids.publicKeyId, { mechanism: CKM_ECDSA }, Buffer.alloc(32, 7), signature), true);

      before = calls("C_GenerateKeyPairCallback");
      await backend.generateKeyPair(slotId, { spec: { keyType: "RSA", modulusBits: 1024 } });
      assert.equal(calls("C_GenerateKeyPairCallback") - before, 1);
      assert.equal(warnings.length, 1);
    });
  });

  test("two refused attributes: the fewest that make it succeed are left out", async () => {
    process.env[Quirk.refuseTemplate] = `${CKA_ENCRYPT},${CKA_DECRYPT}`;
    await withBackend({}, async (backend, slotId, warnings) => {
      const before = calls("C_GenerateKeyPairCallback");
      await backend.generateKeyPair(slotId, P256);
      // Refused; without each of the six; without CKA_ENCRYPT and CKA_WRAP; without CKA_ENCRYPT and CKA_DECRYPT: made.
      assert.equal(calls("C_GenerateKeyPairCallback") - before, 9);
      assert.match(warnings[0]!.msg, /succeeded without CKA_ENCRYPT, CKA_DECRYPT: .*omit-attributes = \["CKA_ENCRYPT", "CKA_DECRYPT"\]/);
    });
  });

  test("a module refusing CKA_EXTRACTABLE still makes keys, without it", async () => {
    process.env[Quirk.refuseTemplate] = CKA_EXTRACTABLE;
    await withBackend({}, async (backend, slotId, warnings) => {
      const ids = await backend.generateKeyPair(slotId, P256);
      assert.match(warnings[0]!.msg, /succeeded without CKA_EXTRACTABLE: .*omit-attributes = \["CKA_EXTRACTABLE"\]/);
      const { signature } = await backend.sign(slotId, ids.privateKeyId, { family: "ECDSA", digest: Buffer.alloc(32, 7) });
      assert.equal(await backend.verify(slotId, ids.publicKeyId, { mechanism: CKM_ECDSA }, Buffer.alloc(32, 7), signature), true);
    });
  });

  test("configured in advance: no probe", async () => {
    process.env[Quirk.refuseTemplate] = CKA_WRAP;
    await withBackend({ quirks: { omitAttributes: ["CKA_WRAP"] } }, async (backend, slotId, warnings) => {
      const before = calls("C_GenerateKeyPairCallback");
      await backend.generateKeyPair(slotId, P256);
      assert.equal(calls("C_GenerateKeyPairCallback") - before, 1);
      assert.deepEqual(warnings, []);
    });
  });

  test("an attribute the relay cannot do without: the module's error, after a bounded probe, and no key made", async () => {
    process.env[Quirk.refuseTemplate] = CKA_TOKEN;
    await withBackend({}, async (backend, slotId, warnings) => {
      const keys = (await backend.findKeys(slotId, {})).length;
      const before = calls("C_GenerateKeyPairCallback");
      await assert.rejects(backend.generateKeyPair(slotId, P256), (err: unknown) => {
        assert.ok(err instanceof HsmError);
        assert.equal(err.ckr, "CKR_DEVICE_ERROR");
        assert.match(err.message, /^C_GenerateKeyPair: CKR_DEVICE_ERROR.*\(refused as well without CKA_ENCRYPT, CKA_WRAP, CKA_DECRYPT, CKA_EXTRACTABLE, CKA_UNWRAP, CKA_DERIVE\)$/);
        return true;
      });
      // The first call, then without every non-empty subset of the six.
      assert.equal(calls("C_GenerateKeyPairCallback") - before, 64);
      assert.equal((await backend.findKeys(slotId, {})).length, keys);
      assert.deepEqual(warnings, []);
    });
  });
});

describe("an attribute the module fails to read", () => {
  test("is learned when other attributes read fine: taken as absent, not asked for again", async () => {
    await withBackend({}, async (backend, slotId, warnings) => {
      const { privateKeyId } = await backend.generateKeyPair(slotId, P256);
      process.env[Quirk.failRead] = CKA_UNWRAP;
      let before = calls("C_GetAttributeValue");
      const first = await backend.describeKey(slotId, privateKeyId);
      const firstCalls = calls("C_GetAttributeValue") - before;
      assert.equal(first.usage.unwrap, false);
      assert.equal(first.usage.sign, true);
      assert.equal(first.curve, "P-256");
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!.msg, /fails for CKA_UNWRAP alone \(CKR_DEVICE_ERROR\).*skip-attributes = \["CKA_UNWRAP"\]/);

      before = calls("C_GetAttributeValue");
      assert.deepEqual(await backend.describeKey(slotId, privateKeyId), first);
      assert.ok(calls("C_GetAttributeValue") - before < firstCalls, "no failed group read, no attribute-by-attribute pass");
      assert.equal(warnings.length, 1);
    });
  });

  test("configured in advance: never asked for", async () => {
    await withBackend({ quirks: { skipAttributes: ["CKA_UNWRAP"] } }, async (backend, slotId, warnings) => {
      const { privateKeyId } = await backend.generateKeyPair(slotId, P256);
      process.env[Quirk.failRead] = CKA_UNWRAP;
      assert.equal((await backend.describeKey(slotId, privateKeyId)).usage.unwrap, false);
      assert.deepEqual(warnings, []);
    });
  });

  test("an attribute the relay needs is not learned: the module's error, each time", async () => {
    await withBackend({}, async (backend, slotId, warnings) => {
      const { publicKeyId } = await backend.generateKeyPair(slotId, P256);
      process.env[Quirk.failRead] = CKA_KEY_TYPE;
      for (let i = 0; i < 2; i++) {
        await assert.rejects(backend.describeKey(slotId, publicKeyId), (err: unknown) => err instanceof HsmError && err.ckr === "CKR_DEVICE_ERROR");
      }
      assert.deepEqual(warnings, []);
    });
  });
});

test("a module lacking CKA_KEY_GEN_MECHANISM serves every operation (the relay goes by CKA_KEY_TYPE)", async () => {
  process.env[Quirk.lack] = CKA_KEY_GEN_MECHANISM;
  await withBackend({}, async (backend, slotId, warnings) => {
    const { publicKeyId, privateKeyId } = await backend.generateKeyPair(slotId, { spec: { keyType: "EdDSA", curve: "Ed25519" }, privateLabel: "lacking" });
    assert.equal((await backend.describeKey(slotId, publicKeyId)).keyType, "EdDSA");
    assert.deepEqual(await backend.findKeys(slotId, { label: "lacking" }), [privateKeyId]);
    assert.equal((await backend.sign(slotId, privateKeyId, { family: "EdDSA", data: Buffer.from("data") })).signature.length, 64);
    // A lacking usage flag is simply absent: CKR_ATTRIBUTE_TYPE_INVALID is how PKCS#11 says so.
    process.env[Quirk.lack] = CKA_UNWRAP;
    assert.equal((await backend.describeKey(slotId, privateKeyId)).usage.unwrap, false);
    assert.deepEqual(warnings, []);
  });
});

test("quirks and aliases are checked before the module is loaded", async () => {
  const open = (options: Partial<Pkcs11BackendOptions>) => openPkcs11Backend({ libPath: "/nonexistent/module.so", ...options }, pino({ level: "silent" }));
  await assert.rejects(open({ quirks: { omitAttributes: ["CKA_SIGN"] } }), /omit-attributes cannot name CKA_SIGN; allowed: CKA_ENCRYPT, CKA_WRAP, CKA_DECRYPT/);
  await assert.rejects(open({ quirks: { skipAttributes: ["CKA_ID"] } }), /skip-attributes cannot name CKA_ID/);
  await assert.rejects(open({ tokens: { signer: {} } }), /token alias "signer": give a label, a serial or both/);
});
