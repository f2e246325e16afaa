// Modify Attribute (KMIP 1.4 section 4.15): replaces the value of one attribute instance (by name and Attribute Index, default 0).
import {
  type AttributeRequestPayload,
  attributeRequestFields,
  type AttributeResponsePayload,
  attributeResponseFields,
  operationPayloads,
} from "./payload.js";

export type ModifyAttributeRequestPayload = AttributeRequestPayload;
export type ModifyAttributeResponsePayload = AttributeResponsePayload;

export const modifyAttributePayloads = operationPayloads<ModifyAttributeRequestPayload, ModifyAttributeResponsePayload>(
  "Modify Attribute",
  attributeRequestFields,
  attributeResponseFields,
);
export const { decodeRequest: decodeModifyAttributeRequest, encodeResponse: encodeModifyAttributeResponse } = modifyAttributePayloads;
