// Cascade's key flow, end to end on the default configuration, in the order
// and protocol versions its key manager sends it (doc/compatibility.md#what-cascade-sends):
// Create Key Pair (a KMIP 1.0 header) with a Name and a Cryptographic Usage
// Mask per key (private Sign, public Verify); Get of the public key; Activate
// of both keys; Modify Attribute Name of both; Sign SHA-256 (a 1.2 header,
// one batch item); and, when the key is retired, Destroy of the private then
// the public key with no Revoke before. Every step succeeds, for RSA-2048 and
// ECDSA P-256.
import assert from "node:assert/strict";
import { verify } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { KmipClient } from "../../src/client/kmip-client.js";
import type { Attribute } from "../../src/kmip/attributes.js";
import { CryptographicAlgorithm, CryptographicUsageMask, HashingAlgorithm, PaddingMethod, ResultReason, State } from "../../src/ttlv/enums.js";
import { startRelayProcess, type RunningRelay } from "../helpers/relay.js";
import { algorithm, connect, DATA, length, name, publicKeyOf, rejectsWith, usage } from "../helpers/relay-client.js";

let relay: RunningRelay;
/** Cascade's key manager speaks 1.0 for key management and 1.2 for Sign. */
let v10: KmipClient;
let v12: KmipClient;

before(async () => {
  relay = await startRelayProcess();
  v10 = await connect(relay, { protocolVersion: { major: 1, minor: 0 } });
  v12 = await connect(relay, { protocolVersion: { major: 1, minor: 2 } });
});
after(async () => {
  await Promise.all([v10, v12].map((client) => client?.close()));
  await relay?.cleanup();
});


const KINDS: { kind: string; common: Attribute[]; cryptographicParameters: Record<string, number>; spki: "spki" }[] = [
  {
    kind: "RSA-2048",
    common: [algorithm(CryptographicAlgorithm.RSA), length(2048)],
    cryptographicParameters: { cryptographicAlgorithm: CryptographicAlgorithm.RSA, hashingAlgorithm: HashingAlgorithm.SHA256, paddingMethod: PaddingMethod.Pkcs1v15 },
    spki: "spki",
  },
  {
    kind: "ECDSA P-256",
    common: [algorithm(CryptographicAlgorithm.ECDSA), length(256)],
    cryptographicParameters: { cryptographicAlgorithm: CryptographicAlgorithm.ECDSA, hashingAlgorithm: HashingAlgorithm.SHA256 },
    spki: "spki",
  },
];

for (const { kind, common, cryptographicParameters, spki } of KINDS) {
  describe(`Cascade's sequence, ${kind}`, () => {
    test("create, get, activate, rename, sign, destroy private then public without Revoke: every step succeeds", async () => {
      const label = `example.org-${kind.replace(/\W/g, "")}`;
      const created = await v10.createKeyPair({
        commonTemplateAttribute: { names: [], attributes: common },
        privateKeyTemplateAttribute: { names: [], attributes: [name(`${label}-pri`), usage(CryptographicUsageMask.Sign)] },
        publicKeyTemplateAttribute: { names: [], attributes: [name(`${label}-pub`), usage(CryptographicUsageMask.Verify)] },
      });
      const priv = created.privateKeyUniqueIdentifier;
      const pub = created.publicKeyUniqueIdentifier;
      const got = await v10.get({ uniqueIdentifier: pub });
      await v10.activate({ uniqueIdentifier: priv });
      await v10.activate({ uniqueIdentifier: pub });
      for (const [id, suffix] of [
        [priv, "ksk-12345-pri"],
        [pub, "ksk-12345-pub"],
      ] as const) {
        await v10.modifyAttribute({ uniqueIdentifier: id, attribute: name(`${label}-${suffix}`) });
      }
      const signed = await v12.sign({ uniqueIdentifier: priv, cryptographicParameters, data: DATA });
      assert.equal(verify("sha256", DATA, publicKeyOf(got, spki), signed.signatureData!), true, "the signature verifies with the key Get returned");
      const { attributes } = await v10.getAttributes({ uniqueIdentifier: priv, attributeNames: ["State", "Name"] });
      assert.deepEqual(
        attributes.map((a) => a.name === "State" ? a.value : (a.value as { nameValue: string }).nameValue),
        [`${label}-ksk-12345-pri`, State.Active],
      );
      // The key is retired: Destroy, private key first, without Revoke.
      await v10.destroy({ uniqueIdentifier: priv });
      await v10.destroy({ uniqueIdentifier: pub });
      await relay.waitForOutput(new RegExp(`Active key ${priv}: deactivating it first`));
      await rejectsWith(v10.get({ uniqueIdentifier: pub }), ResultReason.ItemNotFound);
      await rejectsWith(v12.sign({ uniqueIdentifier: priv, cryptographicParameters, data: DATA }), ResultReason.ItemNotFound);
    });
  });
}
