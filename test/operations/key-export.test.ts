// The key-export policy (src/operations/key-export.ts): which [tokens] rule
// holds for a token, and what Create and Register make of a template under
// each policy. Unit tests: the token is described, not opened.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { KeyExportRule } from "../../src/config/tokens.js";
import type { SlotSummary } from "../../src/hsm/backend.js";
import { HsmError } from "../../src/hsm/hsm-error.js";
import type { Attribute } from "../../src/kmip/attributes.js";
import { KmipError } from "../../src/kmip/errors.js";
import { checkExport, createExport, keyExportOf, registerExtractable, type TokenKeyExport } from "../../src/operations/key-export.js";
import { CryptographicUsageMask, ResultReason } from "../../src/ttlv/enums.js";

function slot(slotId: string, tokenLabel: string, tokenSerial: string): SlotSummary {
  return {
    slotId, index: 0, slotDescription: "", tokenLabel, tokenSerial, tokenManufacturer: "", tokenModel: "",
    maxSessionCount: 0, maxRwSessionCount: 0, tokenInitialized: true, userPinInitialized: true, loginRequired: true,
  };
}

const STORAGE = slot("1", "storage", "aa");
const VAULT = slot("2", "vault", "bb");
const CARD_SIGN = slot("3", "card (SignPIN)", "cc");

/** The username rule of a module with these tokens, as src/hsm/slots.ts applies it (alias names only here). */
function resolver(aliases: Record<string, SlotSummary | "ambiguous">) {
  return async (username: string): Promise<SlotSummary> => {
    const found = aliases[username];
    if (found === undefined || found === "ambiguous") throw new HsmError("SLOT_NOT_FOUND", `no single token for ${username}`);
    return found;
  };
}

const rule = (alias: string, policy: KeyExportRule["policy"], selector: { label?: string; serial?: string }): KeyExportRule => ({ alias, policy, ...selector });

describe("keyExportOf", () => {
  test("a token no rule selects is on-request; a rule holds for the token its alias selects, and names itself", async () => {
    const rules = [rule("vsphere", "by-default", { label: "storage" })];
    const resolve = resolver({ vsphere: STORAGE });
    assert.deepEqual(await keyExportOf(resolve, rules, VAULT), { policy: "on-request" });
    assert.deepEqual(await keyExportOf(resolve, rules, STORAGE), { policy: "by-default", alias: "vsphere" });
  });

  test("two rules on one token: the strictest holds, whatever their order", async () => {
    const open = rule("open", "by-default", { label: "storage" });
    const closed = rule("closed", "never", { serial: "aa" });
    const resolve = resolver({ open: STORAGE, closed: STORAGE, asked: STORAGE });
    assert.deepEqual(await keyExportOf(resolve, [open, closed], STORAGE), { policy: "never", alias: "closed" });
    assert.deepEqual(await keyExportOf(resolve, [closed, open], STORAGE), { policy: "never", alias: "closed" });
    const asked = rule("asked", "on-request", { serial: "aa" });
    assert.deepEqual(await keyExportOf(resolve, [open, asked], STORAGE), { policy: "on-request", alias: "asked" });
  });

  test("a rule whose alias selects no single token: never still holds for each token it describes, by-default for none", async () => {
    const resolve = resolver({ card: "ambiguous", loose: "ambiguous" });
    assert.deepEqual(await keyExportOf(resolve, [rule("card", "never", { label: "card" })], CARD_SIGN), { policy: "never", alias: "card" });
    assert.deepEqual(await keyExportOf(resolve, [rule("card", "never", { label: "card" })], STORAGE), { policy: "on-request" });
    assert.deepEqual(await keyExportOf(resolve, [rule("loose", "by-default", { label: "card" })], CARD_SIGN), { policy: "on-request" });
  });

  test("a by-default rule holds only for the token its alias selects, not for another its label describes", async () => {
    const card = slot("4", "card", "dd");
    const resolve = resolver({ open: card });
    assert.deepEqual(await keyExportOf(resolve, [rule("open", "by-default", { label: "card" })], card), { policy: "by-default", alias: "open" });
    assert.deepEqual(await keyExportOf(resolve, [rule("open", "by-default", { label: "card" })], CARD_SIGN), { policy: "on-request" });
  });
});

const extractable = (value: boolean): Attribute => ({ name: "Extractable", value });
const sensitive = (value: boolean): Attribute => ({ name: "Sensitive", value });
const mask = (value: number): Attribute => ({ name: "Cryptographic Usage Mask", value });
const ON_REQUEST: TokenKeyExport = { policy: "on-request" };
const BY_DEFAULT: TokenKeyExport = { policy: "by-default", alias: "vsphere" };
const NEVER: TokenKeyExport = { policy: "never", alias: "vault" };

function permissionDenied(pattern: RegExp) {
  return (error: unknown) => error instanceof KmipError && error.reason === ResultReason.PermissionDenied && pattern.test(error.message);
}

describe("createExport", () => {
  const encrypt = mask(CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt);
  const inClear = { extractable: true, sensitive: false };
  const inside = { extractable: false, sensitive: true };
  const wrappedOnly = { extractable: true, sensitive: true };
  test("on-request: only Extractable true, or the Export usage, makes an exportable key", () => {
    assert.deepEqual(createExport([encrypt], ON_REQUEST), inside);
    assert.deepEqual(createExport([encrypt, extractable(true)], ON_REQUEST), inClear);
    assert.deepEqual(createExport([mask(CryptographicUsageMask.Encrypt | CryptographicUsageMask.Export)], ON_REQUEST), inClear);
    assert.deepEqual(createExport([mask(CryptographicUsageMask.Export), extractable(false)], ON_REQUEST), inside);
  });

  test("by-default: exportable unless the template says Extractable false or Sensitive true", () => {
    assert.deepEqual(createExport([encrypt], BY_DEFAULT), inClear);
    assert.deepEqual(createExport([encrypt, extractable(false)], BY_DEFAULT), inside);
    assert.deepEqual(createExport([encrypt, sensitive(true)], BY_DEFAULT), inside);
    assert.deepEqual(createExport([encrypt, sensitive(false)], BY_DEFAULT), inClear);
  });

  test("Extractable true with Sensitive true: a key that leaves only wrapped, but not under never", () => {
    assert.deepEqual(createExport([extractable(true), sensitive(true)], ON_REQUEST), wrappedOnly);
    assert.deepEqual(createExport([extractable(true), sensitive(true)], BY_DEFAULT), wrappedOnly);
    assert.throws(() => createExport([extractable(true), sensitive(true)], NEVER), permissionDenied(/\[tokens\.vault\] key-export/));
  });

  test("never: non-extractable, and Extractable true or the Export usage is Permission Denied naming the rule", () => {
    assert.deepEqual(createExport([encrypt], NEVER), inside);
    assert.throws(() => createExport([encrypt, extractable(true)], NEVER), permissionDenied(/key-export policy is "never" \(\[tokens\.vault\] key-export\)/));
    assert.throws(() => createExport([mask(CryptographicUsageMask.Export)], NEVER), permissionDenied(/Export usage/));
  });
});

describe("registerExtractable and checkExport", () => {
  test("a registered key stays exportable unless the template or a never policy says otherwise", () => {
    assert.equal(registerExtractable([], ON_REQUEST), true);
    assert.equal(registerExtractable([], BY_DEFAULT), true);
    assert.equal(registerExtractable([extractable(false)], ON_REQUEST), false);
    assert.equal(registerExtractable([sensitive(true)], BY_DEFAULT), false);
    assert.equal(registerExtractable([sensitive(true), extractable(true)], ON_REQUEST), true);
    assert.equal(registerExtractable([], NEVER), false);
    assert.throws(() => registerExtractable([mask(CryptographicUsageMask.Export)], NEVER), permissionDenied(/\[tokens\.vault\] key-export/));
  });

  test("Get: refused under never only", () => {
    checkExport(ON_REQUEST, "AA_sec");
    checkExport(BY_DEFAULT, "AA_sec");
    assert.throws(() => checkExport(NEVER, "AA_sec"), permissionDenied(/^AA_sec cannot be returned: the token's key-export policy is "never"/));
  });
});
