// The key-export policy ([tokens.NAME] key-export, README "Key export")
// against SoftHSM through the relay: three tokens, one on the default
// ("on-request"), one "by-default", one "never"; reached by username and
// password and by a client certificate mapped in [clients], alike.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import type { KmipClient } from "../../src/client/kmip-client.js";
import type { Attribute } from "../../src/kmip/attributes.js";
import * as ttlv from "../../src/ttlv/build.js";
import type { KeyObject as KmipKeyObject } from "../../src/kmip/objects.js";
import type { KeyWrappingSpecification } from "../../src/kmip/payloads/get.js";
import {
  BlockCipherMode,
  CryptographicAlgorithm,
  CryptographicUsageMask as Usage,
  EncodingOption,
  KeyFormatType,
  ObjectType,
  ResultReason,
  SecretDataType,
  WrappingMethod,
} from "../../src/ttlv/enums.js";
import type { StructureItem } from "../../src/ttlv/item.js";
import { Tag } from "../../src/ttlv/tags.js";
import { rawMaterial, startMappedRelay, type MappedRelay } from "../helpers/mapped-clients.js";
import { rawKey } from "../helpers/replay.js";
import { MAIN } from "../helpers/relay.js";
import { algorithm, length, rejectsWith, usage } from "../helpers/relay-client.js";
import { createSoftHsmToken, type SoftHsmToken } from "../helpers/softhsm.js";

const [DEFAULT, OPEN, NEVER] = ["export-default", "export-open", "export-never"];
let token: SoftHsmToken;
let mapped: MappedRelay;

before(async () => {
  token = await createSoftHsmToken({ labels: [DEFAULT, OPEN, NEVER] });
  mapped = await startMappedRelay(
    token,
    // The never token is reached by label, not by its [tokens] name: the policy follows the token.
    [{ name: "vault-app", token: `label:${NEVER}` }, { name: "vm-app", token: "open" }],
    [`[tokens.open]`, `label = "${OPEN}"`, `key-export = "by-default"`, `[tokens.closed]`, `label = "${NEVER}"`, `key-export = "never"`].join("\n"),
  );
});
after(async () => {
  await mapped?.cleanup();
  await token?.cleanup();
});

const AES_256: Attribute[] = [algorithm(CryptographicAlgorithm.AES), length(256), usage(Usage.Encrypt | Usage.Decrypt)];
const extractable = (value: boolean): Attribute => ({ name: "Extractable", value });

/** A KMIP 1.4 connection with the token's username and PIN (and a client certificate, which client-ca-path asks for; the credential wins over its mapping). */
function asUser(username: string): Promise<KmipClient> {
  return mapped.connectAs("vm-app", 4, { username, password: token.pin });
}

/** An AES-256 key, Encrypt and Decrypt unless `extra` gives its own usage. */
async function createKey(client: KmipClient, extra: Attribute[] = []): Promise<string> {
  const base = extra.some((a) => a.name === "Cryptographic Usage Mask") ? AES_256.filter((a) => a.name !== "Cryptographic Usage Mask") : AES_256;
  return (await client.create({ objectType: ObjectType.SymmetricKey, templateAttribute: { names: [], attributes: [...base, ...extra] } })).uniqueIdentifier;
}

async function flags(client: KmipClient, id: string): Promise<{ extractable: unknown; sensitive: unknown }> {
  const { attributes } = await client.getAttributes({ uniqueIdentifier: id, attributeNames: ["Extractable", "Sensitive"] });
  return { extractable: attributes.find((a) => a.name === "Extractable")?.value, sensitive: attributes.find((a) => a.name === "Sensitive")?.value };
}

describe("on-request (the default)", () => {
  test("Create without Extractable makes a key Get refuses, saying why; with Extractable true Get returns it", async () => {
    const client = await asUser(DEFAULT);
    try {
      const inside = await createKey(client);
      assert.deepEqual(await flags(client, inside), { extractable: false, sensitive: true });
      await rejectsWith(client.get({ uniqueIdentifier: inside }), ResultReason.PermissionDenied, /cannot leave the HSM: CKA_SENSITIVE is true and CKA_EXTRACTABLE is false/);
      const exportable = await createKey(client, [extractable(true)]);
      assert.deepEqual(await flags(client, exportable), { extractable: true, sensitive: false });
      assert.equal(rawMaterial((await client.get({ uniqueIdentifier: exportable })).object).length, 32);
    } finally {
      await client.close();
    }
  });
});

describe("by-default ([tokens.open])", () => {
  test("Create without Extractable makes an exportable key, by the alias and by label: alike, and to a mapped client", async () => {
    for (const connectTo of [() => asUser("open"), () => asUser(`label:${OPEN}`), () => mapped.connectAs("vm-app", 1)]) {
      const client = await connectTo();
      try {
        const id = await createKey(client);
        assert.equal(rawMaterial((await client.get({ uniqueIdentifier: id })).object).length, 32);
      } finally {
        await client.close();
      }
    }
  });

  test("Extractable false or Sensitive true still keep the key inside", async () => {
    const client = await asUser("open");
    try {
      for (const keep of [extractable(false), { name: "Sensitive", value: true } as Attribute]) {
        const id = await createKey(client, [keep]);
        assert.deepEqual(await flags(client, id), { extractable: false, sensitive: true });
        await rejectsWith(client.get({ uniqueIdentifier: id }), ResultReason.PermissionDenied, /cannot leave the HSM/);
      }
    } finally {
      await client.close();
    }
  });
});

describe("never ([tokens.closed])", () => {
  function password(value: string): StructureItem {
    return ttlv.structure(Tag.SecretData, [
      ttlv.enumeration(Tag.SecretDataType, SecretDataType.Password),
      ttlv.structure(Tag.KeyBlock, [ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.Opaque), ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, Buffer.from(value))])]),
    ]);
  }

  test("through a [clients] mapping by label: Extractable true is refused naming the table, keys are made non-extractable, Get of any symmetric key is refused; Secret Data is still returned", async () => {
    const client = await mapped.connectAs("vault-app", 4);
    try {
      const named = /key-export policy is "never" \(\[tokens\.closed\] key-export\)/;
      await rejectsWith(createKey(client, [extractable(true)]), ResultReason.PermissionDenied, named);
      await rejectsWith(
        client.create({ objectType: ObjectType.SymmetricKey, templateAttribute: { names: [], attributes: [algorithm(CryptographicAlgorithm.AES), length(128), usage(Usage.Encrypt | Usage.Export)] } }),
        ResultReason.PermissionDenied,
        named,
      );
      const made = await createKey(client);
      assert.deepEqual(await flags(client, made), { extractable: false, sensitive: true });
      await rejectsWith(client.get({ uniqueIdentifier: made }), ResultReason.PermissionDenied, named);

      const registered = (await client.register({ objectType: ObjectType.SymmetricKey, templateAttribute: { names: [], attributes: [usage(Usage.Encrypt | Usage.Decrypt)] }, object: rawKey(randomBytes(16)) })).uniqueIdentifier;
      assert.deepEqual(await flags(client, registered), { extractable: false, sensitive: true });
      await rejectsWith(client.get({ uniqueIdentifier: registered }), ResultReason.PermissionDenied, named);
      await rejectsWith(
        client.register({ objectType: ObjectType.SymmetricKey, templateAttribute: { names: [], attributes: [extractable(true)] }, object: rawKey(randomBytes(16)) }),
        ResultReason.PermissionDenied,
        named,
      );

      const secret = (await client.register({ objectType: ObjectType.SecretData, templateAttribute: { names: [], attributes: [usage(Usage.Export)] }, object: password("app password") })).uniqueIdentifier;
      const got = await client.get({ uniqueIdentifier: secret });
      const keyValue = ttlv.child(ttlv.child(got.object as StructureItem, Tag.KeyBlock)!, Tag.KeyValue)!;
      assert.equal(Buffer.from(ttlv.child(keyValue, Tag.KeyMaterial)!.value as Uint8Array).toString(), "app password");
    } finally {
      await client.close();
    }
  });
});

test("`check` shows each token's key-export and each mapped client's", async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [MAIN, "check", "-c", mapped.relay.configPath], { env: token.env });
  assert.match(stdout, new RegExp(`token +"${DEFAULT}"[^]*?key export +on-request \\(the default key-export\\): symmetric keys leave the token in the clear only when`));
  assert.match(stdout, new RegExp(`token +"${OPEN}"[^]*?key export +by-default \\(\\[tokens\\.open\\] key-export\\): Create makes symmetric keys exportable`));
  assert.match(stdout, new RegExp(`token +"${NEVER}"[^]*?key export +never \\(\\[tokens\\.closed\\] key-export\\): no symmetric key leaves the token`));
  assert.match(stdout, /clients +vault-app: token "label:export-never" is slot \d+ \("export-never"\), key-export never/);
  assert.match(stdout, /clients +vm-app: token "open" is slot \d+ \("export-open"\), key-export by-default/);
});

describe("Get with a Key Wrapping Specification (C_WrapKey in the token)", () => {
  const spec = (wrappingKey: string, mode?: number): KeyWrappingSpecification => ({
    wrappingMethod: WrappingMethod.Encrypt,
    encryptionKeyInformation: { uniqueIdentifier: wrappingKey, ...(mode !== undefined && { cryptographicParameters: { blockCipherMode: mode } }) },
    attributeNames: [],
    encodingOption: EncodingOption.NoEncoding,
  });

  test("a Sensitive and Extractable key leaves only wrapped: NIST Key Wrap and AES Key Wrap Padding, each unwrapped by OpenSSL to the key that encrypts in the token", async () => {
    const client = await asUser(DEFAULT);
    try {
      // The wrapping key: Wrap Key usage, Active (CKA_WRAP), and exportable here only so that the test can unwrap.
      const kek = await createKey(client, [usage(Usage.WrapKey | Usage.UnwrapKey), extractable(true)]);
      await client.activate({ uniqueIdentifier: kek });
      const kekValue = rawMaterial((await client.get({ uniqueIdentifier: kek })).object);
      const key = await createKey(client, [extractable(true), { name: "Sensitive", value: true }]);
      assert.deepEqual(await flags(client, key), { extractable: true, sensitive: true });
      await client.activate({ uniqueIdentifier: key });
      await rejectsWith(client.get({ uniqueIdentifier: key }), ResultReason.PermissionDenied, /CKA_SENSITIVE is true/);

      const block = Buffer.alloc(16, 7);
      const { data: encrypted } = await client.encrypt({ uniqueIdentifier: key, cryptographicParameters: { blockCipherMode: BlockCipherMode.ECB }, data: block });
      for (const [mode, cipher, iv] of [
        [BlockCipherMode.NISTKeyWrap, "id-aes256-wrap", "A6A6A6A6A6A6A6A6"],
        [BlockCipherMode.AESKeyWrapPadding, "id-aes256-wrap-pad", "A65959A6"],
        [undefined, "id-aes256-wrap", "A6A6A6A6A6A6A6A6"],
      ] as const) {
        const got = await client.get({ uniqueIdentifier: key, keyWrappingSpecification: spec(kek, mode) });
        const wrapped = (got.object as KmipKeyObject).keyBlock;
        assert.equal(wrapped.keyFormatType, KeyFormatType.Raw);
        assert.equal(wrapped.cryptographicLength, 256);
        assert.ok(wrapped.keyValue instanceof Uint8Array && wrapped.keyWrappingData !== undefined);
        const eki = ttlv.child(wrapped.keyWrappingData, Tag.EncryptionKeyInformation)!;
        assert.equal(ttlv.child(eki as StructureItem, Tag.UniqueIdentifier)?.value, kek);
        assert.equal(ttlv.child(wrapped.keyWrappingData, Tag.EncodingOption)?.value, EncodingOption.NoEncoding);
        const decipher = createDecipheriv(cipher, kekValue, Buffer.from(iv, "hex"));
        const value = Buffer.concat([decipher.update(wrapped.keyValue), decipher.final()]);
        assert.equal(value.length, 32);
        const local = createCipheriv("aes-256-ecb", value, null).setAutoPadding(false);
        assert.deepEqual(Buffer.concat([local.update(block), local.final()]), Buffer.from(encrypted!));
      }
    } finally {
      await client.close();
    }
  });

  test("refused with the reason: a key that is not extractable, a wrapping key without Wrap Key, a TTLV-encoded Key Value", async () => {
    const client = await asUser(DEFAULT);
    try {
      const kek = await createKey(client, [usage(Usage.WrapKey)]);
      await client.activate({ uniqueIdentifier: kek });
      const inside = await createKey(client);
      await rejectsWith(client.get({ uniqueIdentifier: inside, keyWrappingSpecification: spec(kek) }), ResultReason.PermissionDenied, /cannot leave the HSM, even wrapped/);
      const key = await createKey(client, [extractable(true), { name: "Sensitive", value: true }]);
      const notWrapping = await createKey(client);
      await client.activate({ uniqueIdentifier: notWrapping });
      await rejectsWith(client.get({ uniqueIdentifier: key, keyWrappingSpecification: spec(notWrapping) }), ResultReason.PermissionDenied, /may not wrap keys: CKA_WRAP is false/);
      await rejectsWith(client.get({ uniqueIdentifier: key, keyWrappingSpecification: { ...spec(kek), encodingOption: undefined } }), ResultReason.EncodingOptionError, /Encoding Option No Encoding/);
    } finally {
      await client.close();
    }
  });
});
