// What every operation's payload module provides: the request and response
// payload codecs, wrapped as the four functions the server, the operations
// and the client call. Payloads are strict (see src/kmip/codec.ts): a field
// the operation does not define is Invalid Field, named with its tag.
import type { StructureItem } from "../../ttlv/item.js";
import { Tag } from "../../ttlv/tags.js";
import { type Attribute, attributeCodec } from "../attributes.js";
import { type Codec, type Fields, optional, required, structure, type StructureCodec, textString } from "../codec.js";

export interface PayloadCodecs<Request, Response> {
  decodeRequest(item: StructureItem): Request;
  encodeRequest(payload: Request): StructureItem;
  decodeResponse(item: StructureItem): Response;
  encodeResponse(payload: Response): StructureItem;
}

/** A strict payload structure named "<Operation> Request Payload" / "<Operation> Response Payload" in errors. */
export function payloadStructure<T>(name: string, fields: Fields<T>): StructureCodec<T> {
  return structure(fields, { name });
}

/** The four payload functions of one operation, from its two payload codecs. */
export function payloadCodecs<Request, Response>(
  request: Codec<Request>,
  response: Codec<Response>,
): PayloadCodecs<Request, Response> {
  return {
    decodeRequest: (item) => request.decode(item, ""),
    encodeRequest: (payload) => request.encode(Tag.RequestPayload, payload) as StructureItem,
    decodeResponse: (item) => response.decode(item, ""),
    encodeResponse: (payload) => response.encode(Tag.ResponsePayload, payload) as StructureItem,
  };
}

/** The common case: both payloads are plain structures. */
export function operationPayloads<Request, Response>(
  operation: string,
  request: Fields<Request>,
  response: Fields<Response>,
): PayloadCodecs<Request, Response> {
  return payloadCodecs(
    payloadStructure(`${operation} Request Payload`, request),
    payloadStructure(`${operation} Response Payload`, response),
  );
}

/** Request payload of the operations that name just one object (Activate, Destroy, Get Attribute List). */
export interface IdentifierRequestPayload {
  /** Absent: the ID Placeholder (set by an earlier batch item) applies. */
  uniqueIdentifier?: string;
}

/** Response payload of the operations that return just the object's Unique Identifier. */
export interface IdentifierResponsePayload {
  uniqueIdentifier: string;
}

export const identifierRequestFields: Fields<IdentifierRequestPayload> = {
  uniqueIdentifier: optional(Tag.UniqueIdentifier, textString),
};

export const identifierResponseFields: Fields<IdentifierResponsePayload> = {
  uniqueIdentifier: required(Tag.UniqueIdentifier, textString),
};

/** Request payload of Add Attribute and Modify Attribute (1.x: one attribute, by name and index). */
export interface AttributeRequestPayload {
  uniqueIdentifier?: string;
  attribute: Attribute;
}

/** Response payload of Add, Modify and Delete Attribute: the attribute as added, modified or deleted. */
export interface AttributeResponsePayload {
  uniqueIdentifier: string;
  attribute: Attribute;
}

export const attributeRequestFields: Fields<AttributeRequestPayload> = {
  uniqueIdentifier: optional(Tag.UniqueIdentifier, textString),
  attribute: required(Tag.Attribute, attributeCodec),
};

/**
 * The attribute of those responses, written without an Attribute Index of 0:
 * an index left out is 0 (KMIP 1.x 2.1.1), and the OASIS test cases' answers
 * leave it out (SKFF-M-9-10 and the like).
 */
const respondedAttributeCodec: Codec<Attribute> = {
  decode: (item, path) => attributeCodec.decode(item, path),
  encode: (tag, attribute) => attributeCodec.encode(tag, attribute.index === 0 ? ({ name: attribute.name, value: attribute.value } as Attribute) : attribute),
};

export const attributeResponseFields: Fields<AttributeResponsePayload> = {
  uniqueIdentifier: required(Tag.UniqueIdentifier, textString),
  attribute: required(Tag.Attribute, respondedAttributeCodec),
};
