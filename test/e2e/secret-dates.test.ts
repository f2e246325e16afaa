// Process Start Date and Protect Stop Date (KMIP 1.x 3.25, 3.26) of a secret
// key, enforced by the token through its usage flags (secret-usage.ts): a
// key registered after its Protect Stop Date may not encrypt, one before its
// Process Start Date may not decrypt; Permission Denied names the date.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import type { Attribute } from "../../src/kmip/attributes.js";
import { BlockCipherMode, CryptographicAlgorithm, CryptographicUsageMask as Usage, KeyFormatType, ObjectType, ResultReason } from "../../src/ttlv/enums.js";
import { rejectsWith, usage, relayAndClient } from "../helpers/relay-client.js";

const shared = relayAndClient(4);

const now = () => BigInt(Math.floor(Date.now() / 1000));
const date = (name: string, value: bigint): Attribute => ({ name, value }) as Attribute;

async function register(dates: Attribute[]): Promise<string> {
  const { uniqueIdentifier } = await shared.client.register({
    objectType: ObjectType.SymmetricKey,
    templateAttribute: { names: [], attributes: [usage(Usage.Encrypt | Usage.Decrypt), date("Activation Date", now() - 3600n), ...dates] },
    object: { keyBlock: { keyFormatType: KeyFormatType.Raw, keyValue: { keyMaterial: randomBytes(16), attributes: [] }, cryptographicAlgorithm: CryptographicAlgorithm.AES, cryptographicLength: 128 } },
  });
  return uniqueIdentifier;
}

const ECB = { blockCipherMode: BlockCipherMode.ECB };
const block = Buffer.alloc(16, 1);

test("after its Protect Stop Date a key decrypts but no longer encrypts; before its Process Start Date it encrypts but does not decrypt yet", async () => {
  const stopped = await register([date("Protect Stop Date", now() - 3600n)]);
  await rejectsWith(shared.client.encrypt({ uniqueIdentifier: stopped, cryptographicParameters: ECB, data: block }), ResultReason.PermissionDenied, /Protect Stop Date has passed/);
  const plain = await shared.client.decrypt({ uniqueIdentifier: stopped, cryptographicParameters: ECB, data: block });
  assert.equal(plain.data?.length, 16);

  const early = await register([date("Process Start Date", now() + 3600n)]);
  const encrypted = await shared.client.encrypt({ uniqueIdentifier: early, cryptographicParameters: ECB, data: block });
  await rejectsWith(shared.client.decrypt({ uniqueIdentifier: early, cryptographicParameters: ECB, data: encrypted.data }), ResultReason.PermissionDenied, /Process Start Date is still to come/);

  // Dates that take nothing away: Protect Stop to come, Process Start passed.
  const fine = await register([date("Protect Stop Date", now() + 3600n), date("Process Start Date", now() - 60n)]);
  const round = await shared.client.encrypt({ uniqueIdentifier: fine, cryptographicParameters: ECB, data: block });
  assert.deepEqual(Buffer.from((await shared.client.decrypt({ uniqueIdentifier: fine, cryptographicParameters: ECB, data: round.data })).data!), block);
});
