// Which token a KMIP username selects, beyond the rule of doc/compatibility.md#username-rule: the
// explicit forms label:, serial: and slot:, [tokens] aliases, refusal of a
// username that matches several tokens, OpenSC-style labels with a
// parenthesised suffix, and (through p11-kit, whose client numbers slots in
// the order the server lists its tokens) slot ids that change between runs
// while serial numbers and aliases keep selecting the same token.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import pino from "pino";
import type { HsmBackend, SlotSummary } from "../../src/hsm/backend.js";
import { HsmError } from "../../src/hsm/hsm-error.js";
import { openIsolatedBackend } from "../../src/hsm/isolated/isolated-backend.js";
import { openPkcs11Backend } from "../../src/hsm/pkcs11-backend.js";
import { p11KitUnavailable, startP11KitServer } from "../helpers/modules.js";
import { createSoftHsmToken, type SoftHsmToken } from "../helpers/softhsm.js";

const silent = pino({ level: "silent" });

function notFound(message: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof HsmError, String(err));
    assert.equal(err.code, "SLOT_NOT_FOUND");
    assert.match(err.message, message);
    return true;
  };
}

describe("on SoftHSM", () => {
  let token: SoftHsmToken;
  let backend: HsmBackend;
  let slots: SlotSummary[];
  const labelled = (label: string) => slots.filter((s) => s.tokenLabel === label);

  before(async () => {
    token = await createSoftHsmToken({ labels: ["NL-smartcard (UserPIN)", "dup", "dup", "card (UserPIN)", "card (SignPIN)", "plain"] });
    process.env.SOFTHSM2_CONF = token.conf;
    // The aliases are resolved against serial numbers read below; SoftHSM draws them at initialisation.
    const probe = await openPkcs11Backend({ libPath: token.modulePath }, silent);
    slots = await probe.listSlots();
    await probe.close();
    const [dupA] = labelled("dup");
    backend = await openPkcs11Backend(
      {
        libPath: token.modulePath,
        tokens: {
          signer: { serial: dupA!.tokenSerial },
          "dup-a": { label: "dup", serial: dupA!.tokenSerial },
          "any-dup": { label: "dup" },
          nl: { label: "NL-smartcard" },
          missing: { serial: "ffffffffffffffff" },
          // An alias wins over a token of the same label.
          plain: { label: "card (SignPIN)" },
        },
      },
      silent,
    );
  });
  after(async () => {
    await backend?.close();
    await token?.cleanup();
  });

  const resolves = async (username: string, expected: SlotSummary) =>
    assert.equal((await backend.resolveSlot(username)).slotId, expected.slotId, JSON.stringify(username));

  test("a label with a parenthesised suffix matches the label alone, by the compat rule, label: and an alias", async () => {
    const [nl] = labelled("NL-smartcard (UserPIN)");
    for (const username of ["NL-smartcard", "label:NL-smartcard", "label:NL-smartcard (UserPIN)", "NL-smartcard (UserPIN)", "nl"]) {
      await resolves(username, nl!);
    }
    // Only a whole parenthesised suffix: not a prefix of the label.
    await assert.rejects(backend.resolveSlot("NL-smart"), notFound(/no token matches username "NL-smart" \(token label, slot id or slot index\)/));
  });

  test("a username matching several tokens is refused with the list of them and how to choose", async () => {
    const dups = labelled("dup");
    for (const username of ["dup", "label:dup", "any-dup"]) {
      await assert.rejects(backend.resolveSlot(username), (err: unknown) => {
        notFound(new RegExp(`^username "${username}" matches 2 tokens: slot \\d+ \\(label "dup", serial "[0-9a-f]+"\\); slot`))(err);
        for (const s of dups) assert.ok((err as Error).message.includes(`slot ${s.slotId} (label "dup", serial "${s.tokenSerial}")`));
        assert.match((err as Error).message, /select one with "serial:<serial>", "slot:<id>" or "label:<label>", or a \[tokens\] alias with a label and a serial$/);
        return true;
      });
    }
    // Two PIN slots of one card.
    await assert.rejects(backend.resolveSlot("card"), notFound(/matches 2 tokens: .*"card \(UserPIN\)".*"card \(SignPIN\)"|matches 2 tokens: .*"card \(SignPIN\)".*"card \(UserPIN\)"/));
    await resolves("label:card (SignPIN)", labelled("card (SignPIN)")[0]!);
  });

  test("serial:, slot: (decimal or hex) and aliases single one out", async () => {
    const [dupA, dupB] = labelled("dup");
    await resolves(`serial:${dupB!.tokenSerial}`, dupB!);
    await resolves(`slot:${dupB!.slotId}`, dupB!);
    await resolves(`slot:0x${BigInt(dupB!.slotId).toString(16)}`, dupB!);
    await resolves("signer", dupA!);
    await resolves("dup-a", dupA!);
    await resolves("plain", labelled("card (SignPIN)")[0]!);
    await resolves("label:plain", labelled("plain")[0]!);
  });

  test("what selects nothing says what the username was taken for", async () => {
    await assert.rejects(backend.resolveSlot("serial:0000"), notFound(/no token matches username "serial:0000" \(token serial number "0000"\)/));
    await assert.rejects(backend.resolveSlot("slot:abc"), notFound(/\("abc" is not a slot id \(decimal, or hex with 0x\)\)/));
    await assert.rejects(backend.resolveSlot("slot:4294967296999"), notFound(/\(slot id 4294967296999\)/));
    await assert.rejects(backend.resolveSlot("missing"), notFound(/\(\[tokens\] alias for token serial number "ffffffffffffffff"\)/));
    await assert.rejects(backend.resolveSlot("index:0"), notFound(/\(token label, slot id or slot index\)/));
  });

  test("the compat rule is unchanged for a username that selected one token before", async () => {
    await resolves("0", slots.find((s) => s.index === 0)!);
    await resolves(slots[1]!.slotId, slots[1]!);
  });
});

describe("through p11-kit: slot ids that change between runs", { skip: p11KitUnavailable() }, () => {
  let token: SoftHsmToken;
  before(async () => {
    token = await createSoftHsmToken({ labels: ["first", "second"] });
  });
  after(() => token?.cleanup());

  /** One run: a p11-kit server serving `labels`, the relay's module in its own process. */
  async function run(labels: string[], use: (backend: HsmBackend, slots: SlotSummary[]) => Promise<void>, tokens = {}) {
    const server = await startP11KitServer(token, labels);
    try {
      const backend = await openIsolatedBackend({ libPath: server.modulePath, env: server.env as Record<string, string>, callTimeoutMs: 30_000, tokens }, silent);
      try {
        await use(backend, await backend.listSlots());
      } finally {
        await backend.close();
      }
    } finally {
      await server.stop();
    }
  }

  test("a token's slot id changes with the tokens served; serial: and an alias follow the token", async () => {
    // p11-kit numbers the served tokens 0x11, 0x12, ... in the provider's slot order.
    let later: SlotSummary | undefined;
    await run(["first", "second"], async (backend, slots) => {
      assert.deepEqual(slots.map((s) => s.slotId), ["17", "18"]);
      later = slots[1]!;
      assert.equal((await backend.resolveSlot("slot:18")).tokenSerial, later.tokenSerial);
    });
    const { tokenLabel, tokenSerial } = later!;
    await run(
      [tokenLabel],
      async (backend, slots) => {
        assert.deepEqual(slots.map((s) => [s.slotId, s.tokenLabel]), [["17", tokenLabel]]);
        assert.equal((await backend.resolveSlot(`serial:${tokenSerial}`)).slotId, "17");
        assert.equal((await backend.resolveSlot("signer")).slotId, "17");
        await assert.rejects(backend.resolveSlot("slot:18"), notFound(/\(slot id 18\)/));
      },
      { signer: { serial: tokenSerial } },
    );
  });
});
