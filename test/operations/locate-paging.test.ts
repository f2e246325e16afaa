// Locate's Located Items (KMIP 1.3/1.4 4.9): answered, from 1.3, to a
// request that pages (Maximum Items or Offset Items given), so a client such
// as Percona's kmippp knows when it has every page; left out of the answer to
// a plain Locate, as 4.9 allows and the OASIS SKFF cases expect.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Attribute } from "../../src/kmip/attributes.js";
import { createKeyPairPayloads, locatePayloads } from "../../src/kmip/payloads/index.js";
import { CryptographicAlgorithm, CryptographicUsageMask, NameType, ObjectType, Operation } from "../../src/ttlv/enums.js";
import { OperationBench } from "../helpers/operation-context.js";

async function benchWithPairs(count: number): Promise<OperationBench> {
  const bench = new OperationBench();
  for (let i = 0; i < count; i++) {
    const usage = (value: number): Attribute => ({ name: "Cryptographic Usage Mask", value });
    await bench.run(Operation.CreateKeyPair, createKeyPairPayloads, {
      commonTemplateAttribute: {
        names: [],
        attributes: [
          { name: "Cryptographic Algorithm", value: CryptographicAlgorithm.ECDSA },
          { name: "Cryptographic Length", value: 256 },
        ],
      },
      privateKeyTemplateAttribute: { names: [], attributes: [{ name: "Name", value: { nameValue: `k${i}-pri`, nameType: NameType.UninterpretedTextString } }, usage(CryptographicUsageMask.Sign)] },
      publicKeyTemplateAttribute: { names: [], attributes: [{ name: "Name", value: { nameValue: `k${i}-pub`, nameType: NameType.UninterpretedTextString } }, usage(CryptographicUsageMask.Verify)] },
    });
  }
  return bench;
}

const privateKeys: Attribute[] = [{ name: "Object Type", value: ObjectType.PrivateKey }];

test("Locate in 1.4 without Maximum Items or Offset Items: every match, no Located Items", async () => {
  const bench = await benchWithPairs(3);
  const answer = await bench.run(Operation.Locate, locatePayloads, { attributes: privateKeys });
  assert.equal(answer.uniqueIdentifiers.length, 3);
  assert.equal(answer.locatedItems, undefined);
});

test("Locate in 1.3 and 1.4 with Maximum Items, Offset Items or both: the page and Located Items counting every match", async () => {
  const bench = await benchWithPairs(3);
  const all = (await bench.run(Operation.Locate, locatePayloads, { attributes: privateKeys })).uniqueIdentifiers;
  for (const minor of [3, 4]) {
    const context = () => bench.context({ major: 1, minor });
    const first = await bench.run(Operation.Locate, locatePayloads, { attributes: privateKeys, maximumItems: 2 }, context());
    assert.deepEqual([first.uniqueIdentifiers, first.locatedItems], [all.slice(0, 2), 3]);
    const rest = await bench.run(Operation.Locate, locatePayloads, { attributes: privateKeys, maximumItems: 2, offsetItems: 2 }, context());
    assert.deepEqual([rest.uniqueIdentifiers, rest.locatedItems], [all.slice(2), 3]);
    const skipped = await bench.run(Operation.Locate, locatePayloads, { attributes: privateKeys, offsetItems: 1 }, context());
    assert.deepEqual([skipped.uniqueIdentifiers, skipped.locatedItems], [all.slice(1), 3]);
  }
});

test("Locate in 1.2 with Maximum Items: the page, no Located Items (a 1.3 field)", async () => {
  const bench = await benchWithPairs(2);
  const answer = await bench.run(Operation.Locate, locatePayloads, { attributes: privateKeys, maximumItems: 1 }, bench.context({ major: 1, minor: 2 }));
  assert.equal(answer.uniqueIdentifiers.length, 1);
  assert.equal(answer.locatedItems, undefined);
});
