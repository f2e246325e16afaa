// Delete Attribute (KMIP 1.4 section 4.16): deletes one attribute instance, by name
// and Attribute Index (default 0); the response returns the deleted instance.
import { Tag } from "../../ttlv/tags.js";
import { integer, optional, required, textString } from "../codec.js";
import { type AttributeResponsePayload, attributeResponseFields, operationPayloads } from "./payload.js";

export interface DeleteAttributeRequestPayload {
  uniqueIdentifier?: string;
  attributeName: string;
  attributeIndex?: number;
}

export type DeleteAttributeResponsePayload = AttributeResponsePayload;

export const deleteAttributePayloads = operationPayloads<DeleteAttributeRequestPayload, DeleteAttributeResponsePayload>(
  "Delete Attribute",
  {
    uniqueIdentifier: optional(Tag.UniqueIdentifier, textString),
    attributeName: required(Tag.AttributeName, textString),
    attributeIndex: optional(Tag.AttributeIndex, integer),
  },
  attributeResponseFields,
);
export const { decodeRequest: decodeDeleteAttributeRequest, encodeResponse: encodeDeleteAttributeResponse } = deleteAttributePayloads;
