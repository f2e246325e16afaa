// Conversion rules of the KMIP layer: what is refused (with which Result
// Reason, naming which field and tag), what is tolerated, and round trips of
// the structures the vectors do not cover.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type Attribute, decodeTemplateAttribute, encodeTemplateAttribute } from "../../src/kmip/attributes.js";
import { fieldName, KmipError } from "../../src/kmip/errors.js";
import { decodeRequestMessage, decodeResponseMessage, encodeRequestMessage, type RequestMessage } from "../../src/kmip/message.js";
import { decodeKeyBlock, encodeKeyBlock, type KeyBlock } from "../../src/kmip/objects.js";
import * as payloads from "../../src/kmip/payloads/index.js";
import {
  byteString,
  dateTime,
  enumeration,
  integer,
  structure,
  textString,
} from "../../src/ttlv/build.js";
import {
  CryptographicAlgorithm,
  HashingAlgorithm,
  KeyFormatType,
  ObjectType,
  Operation,
  PaddingMethod,
  RecommendedCurve,
  ResultReason,
  ValidityIndicator,
} from "../../src/ttlv/enums.js";
import type { StructureItem, TtlvItem } from "../../src/ttlv/item.js";
import { Tag } from "../../src/ttlv/tags.js";

const protocolVersion = structure(Tag.ProtocolVersion, [integer(Tag.ProtocolVersionMajor, 1), integer(Tag.ProtocolVersionMinor, 2)]);

function requestMessage(header: TtlvItem[], batchItems: TtlvItem[][]): StructureItem {
  return structure(Tag.RequestMessage, [
    structure(Tag.RequestHeader, header),
    ...batchItems.map((fields) => structure(Tag.BatchItem, fields)),
  ]);
}

const activateItem = [enumeration(Tag.Operation, Operation.Activate), structure(Tag.RequestPayload, [])];

/** Asserts that `fn` throws a KmipError with this reason, field tag and message. */
function assertKmipError(fn: () => unknown, reason: number, tag: number | undefined, message: RegExp | string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof KmipError, `not a KmipError: ${String(error)}`);
    if (typeof message === "string") assert.equal(error.message, message);
    else assert.match(error.message, message);
    assert.equal(error.reason, reason);
    assert.equal(error.tag, tag);
    if (tag !== undefined) assert.equal(error.field, fieldName(tag));
    return true;
  });
}

describe("message conversion errors", () => {
  test("a missing Protocol Version is named with its tag", () => {
    assertKmipError(
      () => decodeRequestMessage(requestMessage([integer(Tag.BatchCount, 1)], [activateItem])),
      ResultReason.InvalidMessage,
      Tag.ProtocolVersion,
      "Request Message > Request Header: missing Protocol Version (0x420069)",
    );
  });

  test("a Batch Count of the wrong type", () => {
    assertKmipError(
      () => decodeRequestMessage(requestMessage([protocolVersion, textString(Tag.BatchCount, "1")], [activateItem])),
      ResultReason.InvalidMessage,
      Tag.BatchCount,
      "Request Message > Request Header: Batch Count (0x42000D) must be an Integer, not a Text String",
    );
  });

  test("Batch Count must equal the number of Batch Items", () => {
    assertKmipError(
      () => decodeRequestMessage(requestMessage([protocolVersion, integer(Tag.BatchCount, 2)], [activateItem])),
      ResultReason.InvalidMessage,
      Tag.BatchCount,
      /Batch Count \(0x42000D\) is 2, but the message carries 1 Batch Item/,
    );
  });

  test("a message needs a Batch Item", () => {
    assertKmipError(
      () => decodeRequestMessage(requestMessage([protocolVersion, integer(Tag.BatchCount, 0)], [])),
      ResultReason.InvalidMessage,
      Tag.BatchItem,
      "Request Message: missing Batch Item (0x42000F)",
    );
  });

  test("errors in a batch item name the item", () => {
    assertKmipError(
      () =>
        decodeRequestMessage(
          requestMessage([protocolVersion, integer(Tag.BatchCount, 2)], [activateItem, [structure(Tag.RequestPayload, [])]]),
        ),
      ResultReason.InvalidMessage,
      Tag.Operation,
      "Request Message > Batch Item 2: missing Operation (0x42005C)",
    );
  });

  test("a header field given twice", () => {
    assertKmipError(
      () => decodeRequestMessage(requestMessage([protocolVersion, integer(Tag.BatchCount, 1), integer(Tag.BatchCount, 1)], [activateItem])),
      ResultReason.InvalidMessage,
      Tag.BatchCount,
      /Batch Count \(0x42000D\) occurs more than once/,
    );
  });

  test("a Response Message is not a Request Message", () => {
    assertKmipError(
      () => decodeRequestMessage(structure(Tag.ResponseMessage, [])),
      ResultReason.InvalidMessage,
      Tag.ResponseMessage,
      /expected a Request Message \(0x420078\), got Response Message/,
    );
  });

  test("headers and batch items tolerate fields this layer does not model", () => {
    const message = decodeRequestMessage(
      requestMessage(
        [protocolVersion, textString(Tag.ClientCorrelationValue, "c-1"), integer(Tag.BatchCount, 1)],
        [[...activateItem, structure(Tag.MessageExtension, [])]],
      ),
    );
    assert.deepEqual(message.header, { protocolVersion: { major: 1, minor: 2 }, batchCount: 1 });
    assert.equal(message.batchItems[0]!.operation, Operation.Activate);
  });

  test("a credential other than Username and Password keeps only its type", () => {
    const credential = structure(Tag.Credential, [
      enumeration(Tag.CredentialType, 2),
      structure(Tag.CredentialValue, [textString(Tag.DeviceSerialNumber, "42")]),
    ]);
    const message = decodeRequestMessage(
      requestMessage([protocolVersion, structure(Tag.Authentication, [credential]), integer(Tag.BatchCount, 1)], [activateItem]),
    );
    assert.deepEqual(message.header.authentication, { credential: { credentialType: 2 } });
  });

  test("a Username and Password credential without a Username decodes, for the server to refuse per item", () => {
    const credential = structure(Tag.Credential, [
      enumeration(Tag.CredentialType, 1),
      structure(Tag.CredentialValue, [textString(Tag.Password, "1234")]),
    ]);
    const message = decodeRequestMessage(
      requestMessage([protocolVersion, structure(Tag.Authentication, [credential]), integer(Tag.BatchCount, 1)], [activateItem]),
    );
    // The Password as its bytes, never a string (src/ttlv/decode.ts).
    assert.deepEqual(message.header.authentication, { credential: { credentialType: 1, password: Buffer.from("1234") } });
  });

  test("a request round-trips with every header field", () => {
    const message: RequestMessage = {
      header: {
        protocolVersion: { major: 1, minor: 4 },
        maximumResponseSize: 4096,
        asynchronousIndicator: false,
        authentication: { credential: { credentialType: 1, username: "token", password: Buffer.from("1234") } },
        batchErrorContinuationOption: 1,
        batchOrderOption: true,
        timeStamp: 1700000000n,
        batchCount: 1,
      },
      batchItems: [{ operation: Operation.Activate, uniqueBatchItemId: new Uint8Array([1, 2]), requestPayload: structure(Tag.RequestPayload, []) }],
    };
    assert.deepEqual(decodeRequestMessage(encodeRequestMessage(message)), message);
  });

  test("a response batch item without Result Status", () => {
    const response = structure(Tag.ResponseMessage, [
      structure(Tag.ResponseHeader, [protocolVersion, dateTime(Tag.TimeStamp, 1n), integer(Tag.BatchCount, 1)]),
      structure(Tag.BatchItem, [enumeration(Tag.Operation, Operation.Sign)]),
    ]);
    assertKmipError(
      () => decodeResponseMessage(response),
      ResultReason.InvalidMessage,
      Tag.ResultStatus,
      "Response Message > Batch Item 1: missing Result Status (0x42007F)",
    );
  });
});

describe("payload conversion errors", () => {
  test("an unknown field in an operation payload is Invalid Field", () => {
    assertKmipError(
      () => payloads.decodeSignRequest(structure(Tag.RequestPayload, [byteString(Tag.Data, new Uint8Array(1)), integer(Tag.Offset, 3)])),
      ResultReason.InvalidField,
      Tag.Offset,
      "Sign Request Payload: unexpected field Offset (0x420058)",
    );
  });

  test("a missing required payload field is Missing Data", () => {
    assertKmipError(
      () => payloads.decodeRevokeRequest(structure(Tag.RequestPayload, [textString(Tag.UniqueIdentifier, "k")])),
      ResultReason.MissingData,
      Tag.RevocationReason,
      "Revoke Request Payload: missing Revocation Reason (0x420081)",
    );
  });

  test("a single payload field given twice", () => {
    assertKmipError(
      () =>
        payloads.decodeActivateRequest(
          structure(Tag.RequestPayload, [textString(Tag.UniqueIdentifier, "a"), textString(Tag.UniqueIdentifier, "b")]),
        ),
      ResultReason.InvalidMessage,
      Tag.UniqueIdentifier,
      /Unique Identifier \(0x420094\) occurs more than once/,
    );
  });

  test("an attribute value of the wrong type names the attribute", () => {
    const attribute = structure(Tag.Attribute, [
      textString(Tag.AttributeName, "Cryptographic Length"),
      textString(Tag.AttributeValue, "2048"),
    ]);
    assertKmipError(
      () =>
        payloads.decodeCreateKeyPairRequest(
          structure(Tag.RequestPayload, [structure(Tag.CommonTemplateAttribute, [attribute])]),
        ),
      ResultReason.InvalidMessage,
      Tag.AttributeValue,
      "Create Key Pair Request Payload > Common Template Attribute > Attribute 'Cryptographic Length': Attribute Value (0x42000B) must be an Integer, not a Text String",
    );
  });

  test("an unknown field inside Cryptographic Parameters", () => {
    const parameters = structure(Tag.CryptographicParameters, [enumeration(Tag.HashingAlgorithm, 6), integer(Tag.Qlength, 1)]);
    assertKmipError(
      () => payloads.decodeSignRequest(structure(Tag.RequestPayload, [parameters])),
      ResultReason.InvalidField,
      Tag.Qlength,
      "Sign Request Payload > Cryptographic Parameters: unexpected field Qlength (0x420073)",
    );
  });

  test("Get response: the object must match the Object Type", () => {
    const response = structure(Tag.ResponsePayload, [
      enumeration(Tag.ObjectType, ObjectType.PublicKey),
      textString(Tag.UniqueIdentifier, "k"),
      structure(Tag.PrivateKey, []),
    ]);
    assertKmipError(
      () => payloads.decodeGetResponse(response),
      ResultReason.InvalidMessage,
      Tag.PrivateKey,
      /expected one Public Key \(0x42006D\) \(Object Type 3\), found Private Key/,
    );
  });

  test("Create Key Pair response: both identifiers are required", () => {
    assertKmipError(
      () => payloads.decodeCreateKeyPairResponse(structure(Tag.ResponsePayload, [textString(Tag.PrivateKeyUniqueIdentifier, "a")])),
      ResultReason.MissingData,
      Tag.PublicKeyUniqueIdentifier,
      "Create Key Pair Response Payload: missing Public Key Unique Identifier (0x42006F)",
    );
  });
});

describe("round trips", () => {
  function roundTrip<T>(codecs: payloads.PayloadCodecs<T, unknown>, payload: T): void {
    const encoded = codecs.encodeRequest(payload);
    assert.deepEqual(codecs.decodeRequest(encoded), payload);
  }

  test("Get response with a Transparent RSA Public Key", () => {
    const response: payloads.GetResponsePayload = {
      objectType: ObjectType.PublicKey,
      uniqueIdentifier: "AB_pub",
      object: {
        keyBlock: {
          keyFormatType: KeyFormatType.TransparentRSAPublicKey,
          keyValue: { keyMaterial: { modulus: (1n << 2047n) + 12345n, publicExponent: 65537n }, attributes: [] },
          cryptographicAlgorithm: CryptographicAlgorithm.RSA,
          cryptographicLength: 2048,
        },
      },
    };
    assert.deepEqual(payloads.decodeGetResponse(payloads.encodeGetResponse(response)), response);
  });

  test("key blocks: EC public key, PKCS#1 bytes, wrapped key value, raw transparent material", () => {
    const blocks: KeyBlock[] = [
      {
        keyFormatType: KeyFormatType.TransparentECPublicKey,
        keyValue: { keyMaterial: { recommendedCurve: RecommendedCurve.P256, qString: new Uint8Array(65).fill(4) }, attributes: [] },
        cryptographicAlgorithm: CryptographicAlgorithm.ECDSA,
      },
      {
        keyFormatType: KeyFormatType.PKCS1,
        keyValue: {
          keyMaterial: new Uint8Array([0x30, 0x00]),
          attributes: [{ name: "Cryptographic Usage Mask", value: 2 }],
        },
      },
      { keyFormatType: KeyFormatType.Raw, keyValue: new Uint8Array(24), keyWrappingData: structure(Tag.KeyWrappingData, []) },
      {
        keyFormatType: KeyFormatType.TransparentSymmetricKey,
        keyValue: { keyMaterial: structure(Tag.KeyMaterial, [byteString(Tag.Key, new Uint8Array(16))]), attributes: [] },
      },
    ];
    for (const block of blocks) assert.deepEqual(decodeKeyBlock(encodeKeyBlock(block)), block);
  });

  test("Create Key Pair request with every kind of attribute value", () => {
    const attributes: Attribute[] = [
      { name: "Cryptographic Algorithm", value: CryptographicAlgorithm.RSA },
      { name: "Cryptographic Length", value: 3072 },
      { name: "Name", index: 1, value: { nameValue: "key", nameType: 1 } },
      { name: "Cryptographic Parameters", value: { paddingMethod: PaddingMethod.PSS, hashingAlgorithm: HashingAlgorithm.SHA256, saltLength: 32, maskGenerator: 1, pSource: new Uint8Array([1]), trailerField: 1 } },
      { name: "Cryptographic Domain Parameters", value: { recommendedCurve: RecommendedCurve.P384 } },
      { name: "Activation Date", value: 1700000000n },
      { name: "Lease Time", value: 3600 },
      { name: "Usage Limits", value: { usageLimitsTotal: 10n, usageLimitsUnit: 2 } },
      { name: "Digest", value: { hashingAlgorithm: HashingAlgorithm.SHA256, digestValue: new Uint8Array(32) } },
      { name: "Sensitive", value: true },
      { name: "x-custom", value: integer(Tag.AttributeValue, 7) },
      { name: "Some Future Attribute", value: textString(Tag.AttributeValue, "kept raw") },
    ];
    roundTrip(payloads.createKeyPairPayloads, {
      commonTemplateAttribute: { names: [{ nameValue: "template", nameType: 1 }], attributes },
      privateKeyTemplateAttribute: { names: [], attributes: [{ name: "Cryptographic Usage Mask", value: 1 }] },
      publicKeyTemplateAttribute: { names: [], attributes: [] },
    });
    const template = encodeTemplateAttribute({ names: [], attributes }, Tag.PublicKeyTemplateAttribute);
    assert.equal(template.tag, Tag.PublicKeyTemplateAttribute);
    assert.deepEqual(decodeTemplateAttribute(template).attributes, attributes);
  });

  test("Sign, Signature Verify, Check, Locate, Get, Delete Attribute, Get Attributes requests", () => {
    roundTrip(payloads.signPayloads, {
      uniqueIdentifier: "k_priv",
      cryptographicParameters: { hashingAlgorithm: HashingAlgorithm.SHA256, cryptographicAlgorithm: CryptographicAlgorithm.ECDSA },
      digestedData: new Uint8Array(32),
      correlationValue: new Uint8Array([9]),
      initIndicator: true,
      finalIndicator: false,
    });
    roundTrip(payloads.signatureVerifyPayloads, { data: new Uint8Array(3), signatureData: new Uint8Array(64) });
    roundTrip(payloads.checkPayloads, { uniqueIdentifier: "k", usageLimitsCount: 5n, cryptographicUsageMask: 1, leaseTime: 60 });
    roundTrip(payloads.locatePayloads, {
      maximumItems: 10,
      offsetItems: 2,
      storageStatusMask: 1,
      objectGroupMember: 1,
      attributes: [{ name: "Object Type", value: ObjectType.PrivateKey }],
    });
    roundTrip(payloads.getPayloads, {
      uniqueIdentifier: "k_pub",
      keyFormatType: KeyFormatType.PKCS1,
      keyWrapType: 1,
      keyCompressionType: 1,
      keyWrappingSpecification: {
        wrappingMethod: 1,
        encryptionKeyInformation: { uniqueIdentifier: "w_sec", cryptographicParameters: { blockCipherMode: 0x0d } },
        attributeNames: ["Name"],
        encodingOption: 1,
      },
    });
    roundTrip(payloads.deleteAttributePayloads, { attributeName: "Name", attributeIndex: 1 });
    roundTrip(payloads.getAttributesPayloads, { attributeNames: [] });
  });

  test("responses: Signature Verify, Locate, Query", () => {
    const verify = { uniqueIdentifier: "k", validityIndicator: ValidityIndicator.Valid, correlationValue: new Uint8Array([1]) };
    assert.deepEqual(payloads.decodeSignatureVerifyResponse(payloads.encodeSignatureVerifyResponse(verify)), verify);
    const locate = { locatedItems: 3, uniqueIdentifiers: ["a", "b"] };
    assert.deepEqual(payloads.decodeLocateResponse(payloads.encodeLocateResponse(locate)), locate);
    const query: payloads.QueryResponsePayload = {
      operations: [Operation.Sign],
      objectTypes: [ObjectType.PublicKey],
      vendorIdentification: "kmip2pkcs11",
      serverInformation: structure(Tag.ServerInformation, [textString(0x540001, "vendor data")]),
      applicationNamespaces: ["ns"],
      extensionInformation: [],
      attestationTypes: [1],
      rngParameters: [],
      profileInformation: [],
      validationInformation: [],
      capabilityInformation: [],
      clientRegistrationMethods: [],
    };
    assert.deepEqual(payloads.decodeQueryResponse(payloads.encodeQueryResponse(query)), query);
  });

  test("encoding a payload without a required field is a programming error", () => {
    assert.throws(
      () => payloads.encodeRngRetrieveResponse({} as payloads.RngRetrieveResponsePayload),
      /cannot encode RNG Retrieve Response Payload: data \(Data \(0x4200C2\)\) is required/,
    );
  });
});

test("field names are the spec names", () => {
  assert.equal(fieldName(Tag.UniqueBatchItemID), "Unique Batch Item ID");
  assert.equal(fieldName(Tag.X509CertificateIdentifier), "X509 Certificate Identifier");
  assert.equal(fieldName(Tag.QString), "Q String");
  assert.equal(fieldName(Tag.RNGParameters), "RNG Parameters");
  assert.equal(fieldName(0x540001), "0x540001");
});
