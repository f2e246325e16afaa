// Get Attributes (KMIP 1.4 section 4.12): the named attributes of an object (all of
// them when no Attribute Name is given).
import { Tag } from "../../ttlv/tags.js";
import { type Attribute, attributeCodec } from "../attributes.js";
import { optional, repeated, required, textString } from "../codec.js";
import { operationPayloads } from "./payload.js";

export interface GetAttributesRequestPayload {
  uniqueIdentifier?: string;
  attributeNames: string[];
}

export interface GetAttributesResponsePayload {
  uniqueIdentifier: string;
  attributes: Attribute[];
}

export const getAttributesPayloads = operationPayloads<GetAttributesRequestPayload, GetAttributesResponsePayload>(
  "Get Attributes",
  {
    uniqueIdentifier: optional(Tag.UniqueIdentifier, textString),
    attributeNames: repeated(Tag.AttributeName, textString),
  },
  {
    uniqueIdentifier: required(Tag.UniqueIdentifier, textString),
    attributes: repeated(Tag.Attribute, attributeCodec),
  },
);
export const { decodeRequest: decodeGetAttributesRequest, encodeResponse: encodeGetAttributesResponse } = getAttributesPayloads;
