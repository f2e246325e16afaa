// The lifecycle through a KMIP client we did not write: PyKMIP creates and
// activates an RSA key pair, finds it with Locate by Name, reads its
// attributes, signs, revokes both keys (as PyKMIP's ProxyKmipClient does,
// one Revoke per key) and destroys them; afterwards the relay answers Item
// Not Found for both ids.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ResultReason } from "../../src/ttlv/enums.js";
import { pykmipTarget, runPyKmip } from "../helpers/pykmip.js";
import { startRelayProcess, type RunningRelay } from "../helpers/relay.js";
import { connect, rejectsWith } from "../helpers/relay-client.js";

let relay: RunningRelay;
before(async () => {
  relay = await startRelayProcess();
});
after(async () => relay?.cleanup());

test("PyKMIP: create, activate, locate, get attributes, sign, revoke, destroy", async () => {
  const result = await runPyKmip({
    ...pykmipTarget(relay),
    steps: ["create", "activate", "locate", "get_attributes", "sign", "revoke", "state", "destroy"],
    name: "pykmip-lifecycle",
    bits: 2048,
  });
  const created = result.create as { public: string; private: string };
  assert.deepEqual(result.locate, [created.private], "Locate by Name finds the private key alone");
  assert.deepEqual(result.get_attributes, {
    uid: created.private,
    attributes: {
      "Object Type": "ObjectType.PRIVATE_KEY",
      "Cryptographic Algorithm": "CryptographicAlgorithm.RSA",
      "Cryptographic Length": "2048",
      Name: "pykmip-lifecycle-priv",
      State: "State.ACTIVE",
    },
  });
  assert.match(result.sign as string, /^[0-9a-f]{512}$/);
  assert.deepEqual(result.state, { public: "DEACTIVATED", private: "DEACTIVATED" });
  assert.equal(result.destroy, true);

  const client = await connect(relay);
  try {
    for (const id of [created.public, created.private]) {
      await rejectsWith(client.getAttributes({ uniqueIdentifier: id, attributeNames: [] }), ResultReason.ItemNotFound);
    }
  } finally {
    await client.close();
  }
});

test("PyKMIP: Destroy of an Active key succeeds by default (the relay deactivates it first), and is Permission Denied with strict-destroy", async () => {
  const steps = { steps: ["create", "activate", "destroy"], bits: 1024 };
  const result = await runPyKmip({ ...pykmipTarget(relay), ...steps });
  assert.equal(result.destroy, true);
  const strict = await startRelayProcess({ extra: "[lifecycle]\nstrict-destroy = true" });
  try {
    await assert.rejects(runPyKmip({ ...pykmipTarget(strict), ...steps }), /"failed": "destroy".*PERMISSION_DENIED/s);
  } finally {
    await strict.cleanup();
  }
});
