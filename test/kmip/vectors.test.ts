// Every shared test vector through the KMIP layer: whole messages decode and
// re-encode byte for byte, and the payload of every operation with a typed
// codec decodes and re-encodes to the same TTLV.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type Attribute, attributeValue, attributeValues } from "../../src/kmip/attributes.js";
import { decodeRequestMessage, decodeResponseMessage, encodeRequestMessage, encodeResponseMessage } from "../../src/kmip/message.js";
import type { KeyObject } from "../../src/kmip/objects.js";
import * as payloads from "../../src/kmip/payloads/index.js";
import { decodeTtlv } from "../../src/ttlv/decode.js";
import { encodeTtlv } from "../../src/ttlv/encode.js";
import { parseHex } from "../../src/ttlv/hex.js";
import { KeyFormatType, LinkType, ObjectType, RevocationReasonCode } from "../../src/ttlv/enums.js";
import type { StructureItem } from "../../src/ttlv/item.js";
import { loadVectors, VENDOR_EXTENSION_VECTOR, type Vector } from "../helpers/vectors.js";

/** Payload codecs by the operation names manifest.json uses. */
const codecsByName: Record<string, payloads.PayloadCodecs<unknown, unknown>> = {
  Activate: payloads.activatePayloads,
  "Add Attribute": payloads.addAttributePayloads,
  Check: payloads.checkPayloads,
  "Create Key Pair": payloads.createKeyPairPayloads,
  "Delete Attribute": payloads.deleteAttributePayloads,
  Destroy: payloads.destroyPayloads,
  "Discover Versions": payloads.discoverVersionsPayloads,
  Get: payloads.getPayloads,
  "Get Attribute List": payloads.getAttributeListPayloads,
  "Get Attributes": payloads.getAttributesPayloads,
  Locate: payloads.locatePayloads,
  "Modify Attribute": payloads.modifyAttributePayloads,
  Query: payloads.queryPayloads,
  Revoke: payloads.revokePayloads,
  "RNG Retrieve": payloads.rngRetrievePayloads,
  Sign: payloads.signPayloads,
  "Signature Verify": payloads.signatureVerifyPayloads,
};

/** The KMIP 1.0 use-case form of the Create Key Pair response: two plain Unique Identifiers. */
const createKeyPairUseCaseForm = new Set(["client_rs_test_create_rsa_key_pair", "kmip_1_0_usecase_8_1_step_1_create_rsa_1024_key_pair_response"]);

const vectors = loadVectors();
const messages = vectors.filter((v) => v.message === "request" || v.message === "response");

function sameBytes(actual: StructureItem, expected: StructureItem | Uint8Array): void {
  const expectedBytes = expected instanceof Uint8Array ? expected : encodeTtlv(expected);
  assert.equal(encodeTtlv(actual).toString("hex"), Buffer.from(expectedBytes).toString("hex"));
}

interface TypedPayload {
  vector: Vector;
  operation: string;
  payload: StructureItem;
}

/** The payloads of all message vectors, each with its operation's name from the manifest. */
function payloadsOf(vector: Vector): TypedPayload[] {
  const item = decodeTtlv(vector.bytes);
  const found: TypedPayload[] = [];
  if (vector.message === "request") {
    decodeRequestMessage(item).batchItems.forEach((b, i) => {
      const operation = vector.operations[i];
      if (operation) found.push({ vector, operation, payload: b.requestPayload });
    });
  } else {
    decodeResponseMessage(item).batchItems.forEach((b, i) => {
      const operation = vector.operations[i];
      if (operation && b.responsePayload) found.push({ vector, operation, payload: b.responsePayload });
    });
  }
  return found;
}

function decodeTyped({ vector, operation, payload }: TypedPayload): unknown {
  const codecs = codecsByName[operation]!;
  return vector.direction === "request" ? codecs.decodeRequest(payload) : codecs.decodeResponse(payload);
}

/** The decoded payload of the one batch item of the named vector. */
function typedPayload<T>(name: string): T {
  const vector = vectors.find((v) => v.name === name);
  assert.ok(vector, `vector ${name}`);
  const [first] = payloadsOf(vector);
  assert.ok(first);
  return decodeTyped(first) as T;
}

describe("test vectors through the KMIP layer", () => {
  test("the vector set is the one expected", () => {
    assert.equal(messages.length, 85);
  });

  test("every message decodes and re-encodes byte for byte", () => {
    for (const vector of messages) {
      const item = decodeTtlv(vector.bytes);
      const encoded =
        vector.message === "request"
          ? encodeRequestMessage(decodeRequestMessage(item))
          : encodeResponseMessage(decodeResponseMessage(item));
      assert.doesNotThrow(() => sameBytes(encoded, vector.bytes), vector.name);
    }
  });

  test("every payload of a typed operation decodes and re-encodes to the same TTLV", () => {
    let checked = 0;
    for (const typed of messages.flatMap(payloadsOf)) {
      const codecs = codecsByName[typed.operation];
      if (codecs === undefined) continue; // Create, Register: not operations of the relay
      const decoded = decodeTyped(typed);
      if (createKeyPairUseCaseForm.has(typed.vector.name)) continue; // checked below
      const encoded = typed.vector.direction === "request" ? codecs.encodeRequest(decoded) : codecs.encodeResponse(decoded);
      assert.doesNotThrow(() => sameBytes(encoded, typed.payload), `${typed.vector.name} (${typed.operation})`);
      checked++;
    }
    assert.ok(checked >= 60, `only ${checked} payloads checked`);
  });

  test("the Create Key Pair response in the 1.0 use-case form decodes, and re-encodes in the 1.x form", () => {
    for (const name of createKeyPairUseCaseForm) {
      const decoded = typedPayload<payloads.CreateKeyPairResponsePayload>(name);
      assert.equal(decoded.privateKeyUniqueIdentifier, "895f72c2-b20a-49d8-9504-6dc2115cc042");
      assert.equal(decoded.publicKeyUniqueIdentifier, "a242fca4-ebf0-4398-ac65-879bab490259");
      const again = payloads.decodeCreateKeyPairResponse(payloads.encodeCreateKeyPairResponse(decoded));
      assert.deepEqual(again, decoded);
    }
  });

  test("the Response Payload fragment with arbitrary Server Information is a Query response", () => {
    const vector = vectors.find((v) => v.message === "fragment:Response Payload");
    assert.ok(vector);
    const item = decodeTtlv(vector.bytes) as StructureItem;
    const decoded = payloads.decodeQueryResponse(item);
    assert.equal(decoded.serverInformation?.value.length, 2);
    sameBytes(payloads.encodeQueryResponse(decoded), item);
  });

  test("the Vendor Extension fragment is not TTLV and is refused by the TTLV decoder", () => {
    const vector = vectors.find((v) => v.name === VENDOR_EXTENSION_VECTOR);
    assert.ok(vector);
    assert.throws(() => decodeTtlv(vector.bytes), { name: "TtlvError" });
  });
});

describe("typed values from the vectors", () => {
  test("request headers: version, credential, maximum response size", () => {
    const create = messages.find((v) => v.name === "kmip_1_0_usecase_11_1_step_1_client_a_create_request_symmetric_key")!;
    const { header } = decodeRequestMessage(decodeTtlv(create.bytes));
    assert.deepEqual(header.protocolVersion, { major: 1, minor: 0 });
    assert.deepEqual(header.authentication, { credential: { credentialType: 1, username: "Fred", password: Buffer.from("password1") } });
    const query = messages.find((v) => v.name === "kmip_1_0_usecase_12_1_step_1_query_operations_objects_max_response_size_256_request")!;
    assert.equal(decodeRequestMessage(decodeTtlv(query.bytes)).header.maximumResponseSize, 256);
  });

  test("response headers and failed batch items", () => {
    const failed = messages.find((v) => v.name === "kmip_1_1_testcase_17_1_time_1_get_attributes_response")!;
    const message = decodeResponseMessage(decodeTtlv(failed.bytes));
    assert.equal(message.header.timeStamp, 0x4f9a5574n);
    assert.deepEqual(message.batchItems[0], {
      operation: 0x0b,
      resultStatus: 1,
      resultReason: 7,
      resultMessage: "Attribute Name specified more than once: Object Type",
    });
  });

  test("batch items keep their Unique Batch Item ID", () => {
    const batch = messages.find((v) => v.name === "kmip_1_0_usecase_4_1_step_11_client_a_add_attribute_batch_request")!;
    const ids = decodeRequestMessage(decodeTtlv(batch.bytes)).batchItems.map((b) => Buffer.from(b.uniqueBatchItemId!).toString("hex"));
    assert.deepEqual(ids, ["9d407ffb45c95672", "d62107c3158409d8"]);
  });

  test("Get: a Symmetric Key's key block", () => {
    const get = typedPayload<payloads.GetResponsePayload>("kmip_1_0_usecase_4_1_step_6_client_b_get_symmetric_key_response");
    assert.equal(get.objectType, ObjectType.SymmetricKey);
    const { keyBlock } = get.object as KeyObject;
    assert.equal(keyBlock.keyFormatType, KeyFormatType.Raw);
    assert.equal(keyBlock.cryptographicLength, 128);
    assert.deepEqual(keyBlock.keyValue, { keyMaterial: parseHex("ef7833ab15f5a1ee5874bc0d9bbc4be7"), attributes: [] });
  });

  test("attributes decode to typed values; custom attributes stay raw", () => {
    const get = typedPayload<payloads.GetAttributesResponsePayload>("kmip_1_0_usecase_3_1_2_step_3_get_attributes_response");
    assert.equal(attributeValue(get.attributes, "Object Group"), "Group1");
    assert.deepEqual(attributeValue(get.attributes, "Application Specific Information"), {
      applicationNamespace: "ssl",
      applicationData: "www.example.com",
    });
    const custom = get.attributes.find((a) => a.name === "x-Purpose");
    assert.deepEqual(custom?.value, { tag: 0x42000b, type: 7, value: "demonstration" });

    const locate = typedPayload<payloads.LocateRequestPayload>("kmip_1_0_usecase_8_1_step_2_locate_public_key_with_linked_private_key_request");
    assert.equal(attributeValue(locate.attributes, "Object Type"), ObjectType.PublicKey);
    assert.deepEqual(attributeValues(locate.attributes, "Link"), [
      { linkType: LinkType.PrivateKeyLink, linkedObjectIdentifier: "a242fca4-ebf0-4398-ac65-879bab490259" },
    ]);

    const modify = typedPayload<payloads.ModifyAttributeRequestPayload>("kmip_1_1_testcase_17_1_time_3_modify_attribute_request");
    assert.deepEqual(modify.attribute, { name: "Contact Information", index: 0, value: "donald@localhost" } satisfies Attribute);
  });

  test("Create Key Pair request: three template-attributes", () => {
    const create = typedPayload<payloads.CreateKeyPairRequestPayload>("kmip_1_0_usecase_8_1_step_1_create_rsa_1024_key_pair_request");
    assert.equal(attributeValue(create.commonTemplateAttribute!.attributes, "Cryptographic Length"), 1024);
    assert.deepEqual(attributeValue(create.privateKeyTemplateAttribute!.attributes, "Name"), { nameValue: "PrivateKey1", nameType: 1 });
    assert.equal(attributeValue(create.publicKeyTemplateAttribute!.attributes, "Cryptographic Usage Mask"), 2);
  });

  test("Revoke, Sign, RNG Retrieve, Discover Versions, Query, Get Attribute List", () => {
    const revoke = typedPayload<payloads.RevokeRequestPayload>("kmip_1_0_usecase_4_1_step_7_client_b_revoke_symmetric_key_compromised_request");
    assert.deepEqual(revoke.revocationReason, { revocationReasonCode: RevocationReasonCode.KeyCompromise });
    assert.equal(revoke.compromiseOccurrenceDate, 6n);

    const sign = typedPayload<payloads.SignRequestPayload>("kmip_1_3_testcase_5_9_8_1_step_2_sign_request");
    assert.deepEqual(sign, { uniqueIdentifier: "$UNIQUE_IDENTIFIER_0", data: parseHex("01020304050607080910111213141516") });
    const signed = typedPayload<payloads.SignResponsePayload>("kmip_1_3_testcase_5_9_8_1_step_2_sign_response");
    assert.equal(signed.signatureData?.length, 256);

    assert.deepEqual(typedPayload("kmip_1_3_testcase_5_9_9_1_rng_retrieve_request"), { dataLength: 32 });

    const versions = typedPayload<payloads.DiscoverVersionsResponsePayload>("kmip_1_1_testcase_16_1_time_0_discover_versions_v11_v10_response");
    assert.deepEqual(versions.protocolVersions, [
      { major: 1, minor: 1 },
      { major: 1, minor: 0 },
    ]);

    const query = typedPayload<payloads.QueryResponsePayload>("kmip_1_1_testcase_time_1_query_operation_succeeded_response");
    assert.equal(query.operations.length, 26);
    assert.match(query.vendorIdentification!, /^IBM test server/);

    const list = typedPayload<payloads.GetAttributeListResponsePayload>("kmip_1_0_usecase_4_1_step_9_client_a_get_attribute_list_response");
    assert.equal(list.attributeNames.length, 14);
  });
});
