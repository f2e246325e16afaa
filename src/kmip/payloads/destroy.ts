// Destroy (KMIP 1.4 section 4.21): destroys an object's key material.
import {
  type IdentifierRequestPayload,
  identifierRequestFields,
  type IdentifierResponsePayload,
  identifierResponseFields,
  operationPayloads,
} from "./payload.js";

export type DestroyRequestPayload = IdentifierRequestPayload;
export type DestroyResponsePayload = IdentifierResponsePayload;

export const destroyPayloads = operationPayloads<DestroyRequestPayload, DestroyResponsePayload>(
  "Destroy",
  identifierRequestFields,
  identifierResponseFields,
);
export const { decodeRequest: decodeDestroyRequest, encodeResponse: encodeDestroyResponse } = destroyPayloads;
