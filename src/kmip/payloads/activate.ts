// Activate (KMIP 1.4 section 4.19): moves an object to the Active state.
import {
  type IdentifierRequestPayload,
  identifierRequestFields,
  type IdentifierResponsePayload,
  identifierResponseFields,
  operationPayloads,
} from "./payload.js";

export type ActivateRequestPayload = IdentifierRequestPayload;
export type ActivateResponsePayload = IdentifierResponsePayload;

export const activatePayloads = operationPayloads<ActivateRequestPayload, ActivateResponsePayload>(
  "Activate",
  identifierRequestFields,
  identifierResponseFields,
);
export const {
  decodeRequest: decodeActivateRequest,
  encodeRequest: encodeActivateRequest,
  decodeResponse: decodeActivateResponse,
  encodeResponse: encodeActivateResponse,
} = activatePayloads;
