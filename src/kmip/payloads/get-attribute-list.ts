// Get Attribute List (KMIP 1.4 section 4.13): the names of an object's attributes.
// 1.x returns them as Attribute Name text strings (2.0 changed this to
// Attribute Reference, which 1.x clients never see).
import { Tag } from "../../ttlv/tags.js";
import { repeated, required, textString } from "../codec.js";
import { type IdentifierRequestPayload, identifierRequestFields, operationPayloads } from "./payload.js";

export type GetAttributeListRequestPayload = IdentifierRequestPayload;

export interface GetAttributeListResponsePayload {
  uniqueIdentifier: string;
  attributeNames: string[];
}

export const getAttributeListPayloads = operationPayloads<GetAttributeListRequestPayload, GetAttributeListResponsePayload>(
  "Get Attribute List",
  identifierRequestFields,
  {
    uniqueIdentifier: required(Tag.UniqueIdentifier, textString),
    attributeNames: repeated(Tag.AttributeName, textString),
  },
);
export const { decodeRequest: decodeGetAttributeListRequest, encodeResponse: encodeGetAttributeListResponse } = getAttributeListPayloads;
