// Revoke (KMIP 1.4 section 4.20): moves an object to Deactivated, or to
// Compromised when the reason is a compromise (then Compromise Occurrence
// Date is expected).
import { Tag } from "../../ttlv/tags.js";
import { type RevocationReason, revocationReasonCodec } from "../attributes.js";
import { dateTime, optional, required, textString } from "../codec.js";
import { type IdentifierResponsePayload, identifierResponseFields, operationPayloads } from "./payload.js";

export interface RevokeRequestPayload {
  uniqueIdentifier?: string;
  revocationReason: RevocationReason;
  compromiseOccurrenceDate?: bigint;
}

export type RevokeResponsePayload = IdentifierResponsePayload;

export const revokePayloads = operationPayloads<RevokeRequestPayload, RevokeResponsePayload>(
  "Revoke",
  {
    uniqueIdentifier: optional(Tag.UniqueIdentifier, textString),
    revocationReason: required(Tag.RevocationReason, revocationReasonCodec),
    compromiseOccurrenceDate: optional(Tag.CompromiseOccurrenceDate, dateTime),
  },
  identifierResponseFields,
);
export const { decodeRequest: decodeRevokeRequest, encodeResponse: encodeRevokeResponse } = revokePayloads;
