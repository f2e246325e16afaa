// The metadata record's encoding (src/operations/metadata-record.ts) and the
// rules of a record pending for some of its objects (Register beside a key
// that exists, managed-object.ts), on the in-memory backend.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { formatKeyId } from "../../src/hsm/key-id.js";
import type { Attribute } from "../../src/kmip/attributes.js";
import { registerPayloads } from "../../src/kmip/payloads/index.js";
import { decodeRecord, encodeRecord, isPending, type MetadataRecord } from "../../src/operations/metadata-record.js";
import { describeManaged, settlePending } from "../../src/operations/managed-object.js";
import { KeyFormatType, LinkType, ObjectType, Operation, State } from "../../src/ttlv/enums.js";
import { OperationBench } from "../helpers/operation-context.js";
import { generateKeyPairSync } from "node:crypto";

const state = (value: number): Attribute => ({ name: "State", value });

describe("metadata record", () => {
  test("round-trips, with the objects pending named or not", () => {
    const all: MetadataRecord = { generation: 3, pendingSince: 1_700_000_000n, objects: { private: [state(State.PreActive)], public: [state(State.PreActive)] } };
    assert.deepEqual(decodeRecord("0A", encodeRecord(all)), all);
    const some: MetadataRecord = { ...all, pendingObjects: ["private"] };
    assert.deepEqual(decodeRecord("0A", encodeRecord(some)), some);
    const done: MetadataRecord = { generation: 4, objects: { public: [state(State.Active)] } };
    assert.deepEqual(decodeRecord("0A", encodeRecord(done)), done);
  });

  test("isPending: every object without a list, only the listed ones with one, none once complete", () => {
    const base: MetadataRecord = { generation: 1, pendingSince: 1n, objects: {} };
    assert.equal(isPending(base, "public"), true);
    assert.equal(isPending({ ...base, pendingObjects: ["private"] }, "public"), false);
    assert.equal(isPending({ ...base, pendingObjects: ["private"] }, "private"), true);
    assert.equal(isPending({ generation: 2, objects: {} }, "private"), false);
    assert.equal(isPending(undefined, "private"), false);
  });
});

describe("a Register cut off beside a key that exists", () => {
  test("the other half stays readable; once old, the new key goes and the other half loses the Link to it", async () => {
    const bench = new OperationBench();
    const keys = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const spki = keys.publicKey.export({ format: "der", type: "spki" });
    const { uniqueIdentifier: pub } = await bench.run(Operation.Register, registerPayloads, {
      objectType: ObjectType.PublicKey,
      object: { keyBlock: { keyFormatType: KeyFormatType.X509, keyValue: { keyMaterial: spki, attributes: [] } } },
    });
    const label = pub.replace(/_pub$/, "");
    const priv = formatKeyId(Buffer.from(label, "hex"), "private");
    const [object] = await bench.backend.readMetadata(bench.backend.slot.slotId, label);
    const before = decodeRecord(label, object!.value);
    const link: Attribute = { name: "Link", value: { linkType: LinkType.PrivateKeyLink, linkedObjectIdentifier: priv } };
    const pending = (since: bigint): MetadataRecord => ({
      generation: before.generation + 1,
      pendingSince: since,
      pendingObjects: ["private"],
      objects: { public: [...before.objects.public!, link], private: [state(State.PreActive)] },
    });
    const now = BigInt(Math.floor(Date.now() / 1000));
    await bench.backend.writeMetadata(bench.backend.slot.slotId, label, encodeRecord(pending(now)));
    const context = bench.context();
    assert.equal((await describeManaged(context, pub)).attributes.find((a) => a.name === "State")?.value, State.PreActive);
    await bench.backend.writeMetadata(bench.backend.slot.slotId, label, encodeRecord(pending(now - 3600n)));
    // The key itself was never made (cut off before C_CreateObject): not found; Locate, or any relay, settles the leftover.
    await assert.rejects(describeManaged(context, priv), (error: { code?: string }) => error.code === "ITEM_NOT_FOUND");
    await settlePending(context, label, pending(now - 3600n));
    const after = decodeRecord(label, (await bench.backend.readMetadata(bench.backend.slot.slotId, label))[0]!.value);
    assert.equal(after.pendingSince, undefined);
    assert.equal(after.objects.private, undefined);
    assert.equal(after.objects.public!.some((a) => a.name === "Link"), false);
  });
});
