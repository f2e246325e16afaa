// Add Attribute (KMIP 1.4 section 4.14): adds one attribute instance; the server chooses the Attribute Index.
import {
  type AttributeRequestPayload,
  attributeRequestFields,
  type AttributeResponsePayload,
  attributeResponseFields,
  operationPayloads,
} from "./payload.js";

export type AddAttributeRequestPayload = AttributeRequestPayload;
export type AddAttributeResponsePayload = AttributeResponsePayload;

export const addAttributePayloads = operationPayloads<AddAttributeRequestPayload, AddAttributeResponsePayload>(
  "Add Attribute",
  attributeRequestFields,
  attributeResponseFields,
);
export const { decodeRequest: decodeAddAttributeRequest, encodeResponse: encodeAddAttributeResponse } = addAttributePayloads;
