// What the replays of real KMIP clients share (test/e2e/replays-*.test.ts):
// a relay on its own SoftHSM token whose [clients] table maps one client
// certificate to the token with a PIN file, as database, storage and secret
// store clients connect (mutual TLS, no KMIP credential); the objects those
// clients register; kmippp's paging Locate; and messages built field by
// field, in the order a client's source puts them on the wire, sent as bytes
// and read back as a decoded Response Message.
import assert from "node:assert/strict";
import type { KmipClient } from "../../src/client/kmip-client.js";
import type { Attribute } from "../../src/kmip/attributes.js";
import { decodeResponseMessage, type ProtocolVersion, type ResponseBatchItem, type ResponseMessage } from "../../src/kmip/message.js";
import type { SymmetricKey } from "../../src/kmip/objects.js";
import * as ttlv from "../../src/ttlv/build.js";
import { decodeTtlv } from "../../src/ttlv/decode.js";
import { encodeTtlv } from "../../src/ttlv/encode.js";
import { CryptographicAlgorithm, KeyFormatType, ResultStatus, SecretDataType } from "../../src/ttlv/enums.js";
import type { StructureItem, TtlvItem } from "../../src/ttlv/item.js";
import { enumerationName, tagName } from "../../src/ttlv/names.js";
import { Tag } from "../../src/ttlv/tags.js";
import { startMappedRelay, type MappedRelay } from "./mapped-clients.js";
import type { RunningRelay } from "./relay.js";
import { createSoftHsmToken, type SoftHsmToken } from "./softhsm.js";

export interface ReplayRelay {
  readonly relay: RunningRelay;
  readonly token: SoftHsmToken;
  /** A connection as the client connects: its certificate, no KMIP credential, requests of KMIP 1.`minor`. */
  connect(minor: number): Promise<KmipClient>;
  cleanup(): Promise<void>;
}

/** A relay on a token of its own whose `[clients.NAME]` maps the certificate with subject CN=NAME to it (test/helpers/mapped-clients.ts). */
export async function startReplayRelay(clientName: string): Promise<ReplayRelay> {
  const token = await createSoftHsmToken();
  let mapped: MappedRelay;
  try {
    mapped = await startMappedRelay(token, [{ name: clientName, token: token.label }]);
  } catch (error) {
    await token.cleanup();
    throw error;
  }
  return {
    relay: mapped.relay,
    token,
    connect: (minor) => mapped.connectAs(clientName, minor),
    async cleanup() {
      await mapped.cleanup();
      await token.cleanup();
    },
  };
}

export const group = (value: string): Attribute => ({ name: "Object Group", value });

/** A Symmetric Key in Raw format, as the key-registering clients send it. */
export function rawKey(value: Uint8Array, cryptographicAlgorithm: number = CryptographicAlgorithm.AES): SymmetricKey {
  return { keyBlock: { keyFormatType: KeyFormatType.Raw, keyValue: { keyMaterial: value, attributes: [] }, cryptographicAlgorithm, cryptographicLength: value.length * 8 } };
}

/** A Password Secret Data with an Opaque key block, as kmippp registers it. */
export function password(value: string): StructureItem {
  return ttlv.structure(Tag.SecretData, [
    ttlv.enumeration(Tag.SecretDataType, SecretDataType.Password),
    ttlv.structure(Tag.KeyBlock, [ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.Opaque), ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, Buffer.from(value))])]),
  ]);
}

/**
 * kmippp's paging (context::op_locate_by_group and friends): Maximum Items
 * 16, Offset Items once past the first page (libkmip encodes a zero Offset
 * Items as nothing), until Located Items are read, or, when an answer has
 * none, until a page comes back empty.
 */
export async function locateAll(client: KmipClient, attributes: Attribute[]): Promise<string[]> {
  const found: string[] = [];
  let all = 1;
  while (found.length < all) {
    const page = await client.locate({ attributes, maximumItems: 16, ...(found.length === 0 ? {} : { offsetItems: found.length }) });
    found.push(...page.uniqueIdentifiers);
    if (page.locatedItems !== undefined && page.locatedItems !== 0) {
      all = page.locatedItems;
    } else {
      all += page.uniqueIdentifiers.length;
      if (page.uniqueIdentifiers.length === 0) break;
    }
  }
  return found;
}

/** The Request Header fields a client sets, put on the wire in the order of KMIP 1.x 6 / 7.2. */
export interface WireHeader {
  readonly protocolVersion: ProtocolVersion;
  readonly maximumResponseSize?: number;
  /** Time Stamp: now, to the second. */
  readonly timeStamp?: boolean;
}

export interface WireBatchItem {
  readonly operation: number;
  readonly uniqueBatchItemId?: Uint8Array;
  /** The Request Payload's fields, in the client's order. */
  readonly payload: readonly TtlvItem[];
}

/** One Request Message, as bytes, with exactly the fields given. */
export function requestBytes(header: WireHeader, items: readonly WireBatchItem[]): Buffer {
  const { major, minor } = header.protocolVersion;
  return encodeTtlv(
    ttlv.structure(Tag.RequestMessage, [
      ttlv.structure(Tag.RequestHeader, [
        ttlv.structure(Tag.ProtocolVersion, [ttlv.integer(Tag.ProtocolVersionMajor, major), ttlv.integer(Tag.ProtocolVersionMinor, minor)]),
        ...(header.maximumResponseSize === undefined ? [] : [ttlv.integer(Tag.MaximumResponseSize, header.maximumResponseSize)]),
        ...(header.timeStamp === true ? [ttlv.dateTime(Tag.TimeStamp, BigInt(Math.floor(Date.now() / 1000)))] : []),
        ttlv.integer(Tag.BatchCount, items.length),
      ]),
      ...items.map((item) =>
        ttlv.structure(Tag.BatchItem, [
          ttlv.enumeration(Tag.Operation, item.operation),
          ...(item.uniqueBatchItemId === undefined ? [] : [ttlv.byteString(Tag.UniqueBatchItemID, item.uniqueBatchItemId)]),
          ttlv.structure(Tag.RequestPayload, [...item.payload]),
        ]),
      ),
    ]),
  );
}

/** Sends the bytes on the client's connection; the decoded Response Message. */
export async function exchange(client: KmipClient, bytes: Uint8Array): Promise<ResponseMessage> {
  return decodeResponseMessage(decodeTtlv(await client.sendRaw(bytes)));
}

/** The one batch item of `response`, checked as a client checks it: the operation, Success, the Unique Batch Item ID echoed. */
export function successOf(response: ResponseMessage, operation: number, uniqueBatchItemId?: Uint8Array): StructureItem {
  assert.equal(response.batchItems.length, 1);
  const item = response.batchItems[0]!;
  assert.equal(item.operation, operation);
  if (uniqueBatchItemId !== undefined) assert.deepEqual(Buffer.from(item.uniqueBatchItemId ?? []), Buffer.from(uniqueBatchItemId));
  assert.equal(item.resultStatus, ResultStatus.Success, `${enumerationName(Tag.Operation, operation)}: ${failureText(item)}`);
  assert.ok(item.responsePayload !== undefined, "a Response Payload");
  return item.responsePayload;
}

/** The one batch item of `response`, which must have failed: its Result Reason and Result Message. */
export function failureOf(response: ResponseMessage, operation: number): { reason: number | undefined; message: string } {
  assert.equal(response.batchItems.length, 1);
  const item = response.batchItems[0]!;
  assert.equal(item.operation, operation);
  assert.equal(item.resultStatus, ResultStatus.OperationFailed);
  return { reason: item.resultReason, message: item.resultMessage ?? "" };
}

function failureText(item: ResponseBatchItem): string {
  return `${item.resultReason === undefined ? "" : enumerationName(Tag.ResultReason, item.resultReason)} ${item.resultMessage ?? ""}`;
}

/** A KMIP 1.x Attribute structure: Attribute Name, Attribute Value. */
export function wireAttribute(name: string, value: TtlvItem): StructureItem {
  return ttlv.structure(Tag.Attribute, [ttlv.textString(Tag.AttributeName, name), { ...value, tag: Tag.AttributeValue } as TtlvItem]);
}

/** The values of a Get Attributes answer, by Attribute Name (every instance, in order). */
export function attributeValues(payload: StructureItem): Map<string, TtlvItem[]> {
  const values = new Map<string, TtlvItem[]>();
  for (const attribute of ttlv.children(payload, Tag.Attribute)) {
    const name = ttlv.child(attribute, Tag.AttributeName)?.value as string;
    const value = ttlv.child(attribute, Tag.AttributeValue);
    assert.ok(value !== undefined, `${name} has an Attribute Value`);
    values.set(name, [...(values.get(name) ?? []), value]);
  }
  return values;
}

/** The text of `tag` in `item`; fails when it is missing. */
export function textOf(item: TtlvItem, tag: number): string {
  const found = ttlv.child(item, tag);
  assert.ok(found !== undefined && typeof found.value === "string", `${tagName(tag)} is present`);
  return found.value;
}
