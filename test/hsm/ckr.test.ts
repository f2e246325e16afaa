import { test } from "node:test";
import assert from "node:assert/strict";
import pkcs11js from "pkcs11js";
import { HsmError } from "../../src/hsm/hsm-error.js";
import { ckrName, ckrTable, hsmErrorOf, p11 } from "../../src/hsm/ckr.js";
import * as mechanisms from "../../src/hsm/mechanisms.js";

test("the CKR table agrees with pkcs11js's constants", () => {
  const constants = pkcs11js as unknown as Record<string, unknown>;
  let compared = 0;
  for (const [value, name] of ckrTable()) {
    if (typeof constants[name] !== "number") continue;
    assert.equal(constants[name], value, name);
    compared++;
  }
  assert.ok(compared > 80, `only ${compared} names compared`);
});

test("the mechanism constants agree with pkcs11js's where it has them", () => {
  const constants = pkcs11js as unknown as Record<string, unknown>;
  for (const [name, value] of Object.entries(mechanisms)) {
    if (typeof constants[name] === "number") assert.equal(constants[name], value, name);
  }
  // pkcs11js lacks the PKCS#11 v3.0 EdDSA values.
  assert.equal(mechanisms.CKM_EDDSA, 0x1057);
  assert.equal(mechanisms.CKM_EC_EDWARDS_KEY_PAIR_GEN, 0x1055);
  assert.equal(mechanisms.CKK_EC_EDWARDS, 0x40);
});

test("ckrName names known, vendor and unknown values", () => {
  assert.equal(ckrName(0xa0), "CKR_PIN_INCORRECT");
  assert.equal(ckrName(0x80000001), "CKR_VENDOR_DEFINED+0x80000001");
  assert.equal(ckrName(0x4242), "CKR_0x00004242");
});

function pkcs11Error(rv: number): Error {
  return new pkcs11js.Pkcs11Error(`${ckrName(rv)}:${rv}`, rv, "C_X");
}

test("hsmErrorOf names the function and CKR and maps the code", () => {
  const cases: Array<[number, string]> = [
    [0x62, "UNSUPPORTED"], // CKR_KEY_SIZE_RANGE
    [0x70, "UNSUPPORTED"], // CKR_MECHANISM_INVALID
    [0x130, "UNSUPPORTED"], // CKR_DOMAIN_PARAMS_INVALID
    [0x140, "UNSUPPORTED"], // CKR_CURVE_NOT_SUPPORTED
    [0x68, "PERMISSION_DENIED"], // CKR_KEY_FUNCTION_NOT_PERMITTED
    [0x10, "PERMISSION_DENIED"], // CKR_ATTRIBUTE_READ_ONLY
    [0x63, "INVALID_ARGUMENT"], // CKR_KEY_TYPE_INCONSISTENT
    [0x21, "INVALID_ARGUMENT"], // CKR_DATA_LEN_RANGE
    [0x7, "INVALID_ARGUMENT"], // CKR_ARGUMENTS_BAD
    [0xa0, "AUTH_FAILED"], // CKR_PIN_INCORRECT
    [0xa4, "PIN_LOCKED"], // CKR_PIN_LOCKED
    [0x82, "ITEM_NOT_FOUND"], // CKR_OBJECT_HANDLE_INVALID
    [0x30, "PKCS11_ERROR"], // CKR_DEVICE_ERROR
  ];
  for (const [rv, code] of cases) {
    const err = hsmErrorOf("C_GenerateKeyPair", pkcs11Error(rv));
    assert.equal(err.code, code, ckrName(rv));
    assert.equal(err.message, `C_GenerateKeyPair: ${ckrName(rv)}`);
    assert.equal(err.fn, "C_GenerateKeyPair");
    assert.equal(err.ckr, ckrName(rv));
  }
  assert.equal(hsmErrorOf("C_Sign", pkcs11Error(0x21), "slot 1").message, "C_Sign: CKR_DATA_LEN_RANGE (slot 1)");
});

test("p11 wraps errors that carry no CK_RV, and passes HsmErrors through", () => {
  assert.throws(
    () => p11("C_Sign", () => { throw new TypeError("bad argument"); }),
    (err: unknown) => err instanceof HsmError && err.code === "PKCS11_ERROR" && err.message === "C_Sign: bad argument" && err.ckr === undefined,
  );
  const original = new HsmError("ITEM_NOT_FOUND", "gone");
  assert.throws(() => p11("C_Sign", () => { throw original; }), (err: unknown) => err === original);
  assert.equal(p11("C_Sign", () => 42), 42);
});

test("the plain Errors pkcs11js's JavaScript overrides throw are read as CK_RVs too", () => {
  // C_SetAttributeValue, C_CreateObject and C_CopyObject throw `Error("CKR_NAME:value")`.
  const err = hsmErrorOf("C_SetAttributeValue", new Error("CKR_ATTRIBUTE_READ_ONLY:16"));
  assert.equal(err.message, "C_SetAttributeValue: CKR_ATTRIBUTE_READ_ONLY");
  assert.equal(err.code, "PERMISSION_DENIED");
  assert.equal(hsmErrorOf("C_X", new TypeError("CKR_X:16")).ckr, undefined);
});
