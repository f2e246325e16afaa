// Slots on SoftHSM: listing, the username rule (doc/compatibility.md#username-rule), mechanisms, the
// session pool's bound under load, ping and close.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { HsmError } from "../../src/hsm/hsm-error.js";
import { CKM_ECDSA, CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_RSA_PKCS } from "../../src/hsm/mechanisms.js";
import { openSoftHsmBackend, spyOnPkcs11, type Pkcs11Spy, type SoftHsmBackend } from "../helpers/softhsm.js";

const code = (expected: string) => (err: unknown) => err instanceof HsmError && err.code === expected;

describe("slots", () => {
  let hsm: SoftHsmBackend;
  let spy: Pkcs11Spy;
  before(async () => {
    spy = spyOnPkcs11(["C_OpenSession"]);
    // The third token is labelled like the index of the free slot SoftHSM
    // lists last (3), to test the rule's order.
    hsm = await openSoftHsmBackend({ labels: ["kmip2pkcs11-test", "second", "3"], maxSessionsPerSlot: 2 });
  });
  after(async () => {
    await hsm.close();
    spy.restore();
  });

  test("listSlots describes the slots with a token", async () => {
    const slots = await hsm.backend.listSlots();
    // Three initialised tokens and the free slot SoftHSM always adds.
    assert.equal(slots.length, 4);
    assert.deepEqual(slots.map((s) => s.index), [0, 1, 2, 3]);
    const first = slots.find((s) => s.tokenLabel === hsm.token.labels[0])!;
    assert.equal(first.slotId, hsm.slotId);
    assert.equal(first.tokenManufacturer, "SoftHSM project");
    assert.equal(first.tokenModel, "SoftHSM v2");
    assert.match(first.tokenSerial, /^[0-9a-f]+$/);
    assert.deepEqual([first.tokenInitialized, first.userPinInitialized, first.loginRequired], [true, true, true]);
    assert.equal(first.maxSessionCount, 0, "SoftHSM reports CK_EFFECTIVELY_INFINITE");
    assert.deepEqual(slots.filter((s) => !s.tokenInitialized).map((s) => s.index), [3]);
  });

  test("resolveSlot: token label first, then slot id, then index", async () => {
    const { backend, token } = hsm;
    const slots = await backend.listSlots();
    const second = slots.find((s) => s.tokenLabel === token.labels[1])!;
    assert.equal((await backend.resolveSlot(token.labels[1]!)).slotId, second.slotId);
    assert.equal((await backend.resolveSlot(second.slotId)).slotId, second.slotId);
    assert.equal((await backend.resolveSlot(String(second.index))).slotId, second.slotId);
    assert.equal((await backend.resolveSlot("0")).index, 0);
    for (const name of ["no such token", "4", "99999999999999999999", `${token.labels[0]} `, "-1", "0.0", "+0"]) {
      await assert.rejects(backend.resolveSlot(name), code("SLOT_NOT_FOUND"), JSON.stringify(name));
    }
  });

  test("a token labelled like an index wins over the index", async () => {
    const slots = await hsm.backend.listSlots();
    const labelled = slots.find((s) => s.tokenLabel === "3")!;
    assert.notEqual(labelled.index, 3);
    assert.equal((await hsm.backend.resolveSlot("3")).slotId, labelled.slotId);
  });

  test("mechanisms lists the token's CKM values", async () => {
    const mechanisms = await hsm.backend.mechanisms(hsm.slotId);
    for (const m of [CKM_RSA_PKCS, CKM_ECDSA, CKM_EC_EDWARDS_KEY_PAIR_GEN]) assert.ok(mechanisms.includes(m), m.toString(16));
    await assert.rejects(hsm.backend.mechanisms("123"), code("SLOT_NOT_FOUND"));
  });

  test("many concurrent signs share a pool of 2 sessions", async () => {
    const { backend, slotId } = hsm;
    const rsa = await backend.generateKeyPair(slotId, { spec: { keyType: "RSA", modulusBits: 1024 } });
    const ec = await backend.generateKeyPair(slotId, { spec: { keyType: "EC", curve: "P-256" } });
    const signatures = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        i % 2 === 0
          ? backend.sign(slotId, rsa.privateKeyId, { family: "RSA-PKCS1", digest: Buffer.alloc(32, 7) })
          : backend.sign(slotId, ec.privateKeyId, { family: "ECDSA", digest: Buffer.alloc(32, i) }),
      ),
    );
    assert.deepEqual(new Set(signatures.map((s) => s.signature.length)), new Set([128, 64]));
    assert.ok(spy.counts.get("C_OpenSession")! <= 2, `opened ${spy.counts.get("C_OpenSession")} sessions`);
  });

  test("ping answers while open; close finalises and later calls fail", async () => {
    const { backend, slotId } = hsm;
    assert.equal(await backend.ping(), true);
    const ids = await backend.generateKeyPair(slotId, { spec: { keyType: "RSA", modulusBits: 1024 } });
    // A sign on the thread pool while closing: close waits for it.
    const signing = backend.sign(slotId, ids.privateKeyId, { family: "RSA-PKCS1", digest: Buffer.alloc(32, 1) });
    const closing = backend.close();
    assert.equal((await signing).signature.length, 128);
    await closing;
    await backend.close(); // idempotent
    assert.equal(await backend.ping(), false);
    await assert.rejects(backend.listSlots(), code("PKCS11_ERROR"));
    await assert.rejects(backend.sign(slotId, ids.privateKeyId, { family: "RSA-PKCS1", digest: Buffer.alloc(32, 1) }), code("PKCS11_ERROR"));
  });
});
