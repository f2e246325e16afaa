// The config of awkward modules: [pkcs11] start-timeout and quirks, and the
// [tokens] aliases, read and checked strictly with the key named.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseConfig } from "../../src/config/config.js";
import { DEFAULTS } from "../../src/config/defaults.js";
import { ConfigError } from "../../src/config/table-reader.js";

const FILE = "/etc/kmip2pkcs11/config.toml";
const MINIMAL = 'version = "v1"\n[pkcs11]\nlib-path = "/usr/lib/softhsm/libsofthsm2.so"\n';

function rejects(text: string, message: string): void {
  assert.throws(
    () => parseConfig(text, FILE),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)}`);
      assert.equal(err.message, message);
      return true;
    },
  );
}

describe("[pkcs11.quirks]", () => {
  test("absent: nothing omitted or skipped", () => {
    assert.deepEqual(parseConfig(MINIMAL, FILE).pkcs11.quirks, DEFAULTS.pkcs11.quirks);
    assert.deepEqual(DEFAULTS.pkcs11.quirks, { omitAttributes: [], skipAttributes: [] });
  });

  test("as a table or inline", () => {
    const table = parseConfig(`${MINIMAL}[pkcs11.quirks]\nomit-attributes = ["CKA_WRAP", "CKA_DECRYPT"]\nskip-attributes = ["CKA_UNWRAP"]\n`, FILE);
    assert.deepEqual(table.pkcs11.quirks, { omitAttributes: ["CKA_WRAP", "CKA_DECRYPT"], skipAttributes: ["CKA_UNWRAP"] });
    const inline = parseConfig(`${MINIMAL}quirks = { skip-attributes = ["CKA_START_DATE", "CKA_END_DATE"] }\n`, FILE);
    assert.deepEqual(inline.pkcs11.quirks, { omitAttributes: [], skipAttributes: ["CKA_START_DATE", "CKA_END_DATE"] });
  });

  test("names outside the lists, repeats, wrong types and unknown keys are refused", () => {
    const key = `${FILE}: pkcs11.quirks`;
    rejects(
      `${MINIMAL}quirks = { omit-attributes = ["CKA_SIGN"] }\n`,
      `${key}.omit-attributes: "CKA_SIGN" is not one of "CKA_ENCRYPT", "CKA_WRAP", "CKA_DECRYPT", "CKA_UNWRAP", "CKA_DERIVE", "CKA_EXTRACTABLE"`,
    );
    rejects(`${MINIMAL}quirks = { skip-attributes = ["CKA_KEY_TYPE"] }\n`, `${key}.skip-attributes: "CKA_KEY_TYPE" is not one of ${[
      "CKA_LABEL",
      "CKA_SIGN",
      "CKA_VERIFY",
      "CKA_ENCRYPT",
      "CKA_DECRYPT",
      "CKA_WRAP",
      "CKA_UNWRAP",
      "CKA_DERIVE",
      "CKA_START_DATE",
      "CKA_END_DATE",
    ]
      .map((n) => `"${n}"`)
      .join(", ")}`);
    rejects(`${MINIMAL}quirks = { omit-attributes = ["CKA_WRAP", "CKA_WRAP"] }\n`, `${key}.omit-attributes: "CKA_WRAP" is listed twice`);
    rejects(`${MINIMAL}quirks = { omit-attributes = "CKA_WRAP" }\n`, `${key}.omit-attributes: expected an array of strings, got string`);
    rejects(`${MINIMAL}quirks = { omit-attributes = [1] }\n`, `${key}.omit-attributes: expected an array of strings, got an array holding a integer`);
    rejects(`${MINIMAL}quirks = { omit-attribute = [] }\n`, `${key}.omit-attribute: unknown key (did you mean "omit-attributes"?)`);
  });
});

describe("[pkcs11] start-timeout", () => {
  test("defaults to 30 s and takes seconds", () => {
    assert.equal(parseConfig(MINIMAL, FILE).pkcs11.startTimeout, 30);
    assert.equal(parseConfig(`${MINIMAL}start-timeout = 120\n`, FILE).pkcs11.startTimeout, 120);
    rejects(`${MINIMAL}start-timeout = 0\n`, `${FILE}: pkcs11.start-timeout: must be more than 0 and at most 86400 seconds, got 0`);
  });
});

describe("[tokens]", () => {
  test("absent: no aliases", () => {
    assert.deepEqual(parseConfig(MINIMAL, FILE).tokens, {});
  });

  test("aliases by serial, by label, by both", () => {
    const c = parseConfig(
      `${MINIMAL}[tokens.signer]\nserial = "9a3cd7b40a336c4d"\n[tokens."NL card"]\nlabel = "NL-smartcard (UserPIN)"\n` +
        `[tokens.nss]\nlabel = "NSS Certificate DB"\nserial = "0000000000000000"\n`,
      FILE,
    );
    assert.deepEqual(c.tokens, {
      signer: { serial: "9a3cd7b40a336c4d" },
      "NL card": { label: "NL-smartcard (UserPIN)" },
      nss: { label: "NSS Certificate DB", serial: "0000000000000000" },
    });
    // Absent fields are absent, not undefined: the aliases cross to the module's process as they are.
    assert.deepEqual(Object.keys(c.tokens.signer!), ["serial"]);
  });

  test("key-export: absent is no rule; each policy is kept with the table's selector; another word is refused, naming the key", () => {
    assert.deepEqual(parseConfig(`${MINIMAL}[tokens.signer]\nserial = "1"\n`, FILE).keyExport, []);
    const c = parseConfig(`${MINIMAL}[tokens.vsphere]\nlabel = "storage"\nkey-export = "by-default"\n[tokens.vault]\nserial = "2"\nkey-export = "never"\n`, FILE);
    assert.deepEqual(c.keyExport, [
      { label: "storage", alias: "vsphere", policy: "by-default" },
      { serial: "2", alias: "vault", policy: "never" },
    ]);
    assert.deepEqual(c.tokens.vsphere, { label: "storage" });
    rejects(`${MINIMAL}[tokens.vsphere]\nlabel = "storage"\nkey-export = "always"\n`, `${FILE}: tokens.vsphere.key-export: expected one of "on-request", "by-default", "never", got "always"`);
    rejects(`${MINIMAL}[tokens.vsphere]\nlabel = "storage"\nkey-export = true\n`, `${FILE}: tokens.vsphere.key-export: expected a string, got boolean (write it in quotes: key-export = "true")`);
  });

  test("an alias that cannot select a token is refused, naming it", () => {
    rejects(`${MINIMAL}[tokens.signer]\n`, `${FILE}: tokens.signer: give a label, a serial or both`);
    rejects(`${MINIMAL}[tokens]\nsigner = "abc"\n`, `${FILE}: tokens.signer: expected a table, got string`);
    rejects(`${MINIMAL}[tokens.signer]\nslot = "1"\n`, `${FILE}: tokens.signer.slot: unknown key`);
    rejects(`${MINIMAL}[tokens.signer]\nlabel = ""\n`, `${FILE}: tokens.signer: label must be 1 to 32 bytes (CK_TOKEN_INFO.label)`);
    rejects(`${MINIMAL}[tokens.signer]\nlabel = "${"x".repeat(33)}"\n`, `${FILE}: tokens.signer: label must be 1 to 32 bytes (CK_TOKEN_INFO.label)`);
    rejects(`${MINIMAL}[tokens.signer]\nserial = "12345678901234567"\n`, `${FILE}: tokens.signer: serial must be 1 to 16 bytes (CK_TOKEN_INFO.serialNumber)`);
    rejects(
      `${MINIMAL}[tokens."serial:1"]\nlabel = "a"\n`,
      `${FILE}: tokens.serial:1: the name starts like an explicit username form (label:, serial:, slot:), which the alias could never win over`,
    );
    rejects(`${MINIMAL}[tokens.signer]\nlabel = 5\n`, `${FILE}: tokens.signer.label: expected a string, got integer (write it in quotes: label = "5")`);
  });
});
