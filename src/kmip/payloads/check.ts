// Check (KMIP 1.4 section 4.10): whether an object could be used as
// described (usage count, usage mask, lease time); the response echoes the
// values that fail the check.
import { Tag } from "../../ttlv/tags.js";
import { integer, interval, longInteger, optional, required, textString } from "../codec.js";
import { operationPayloads } from "./payload.js";

export interface CheckRequestPayload {
  uniqueIdentifier?: string;
  usageLimitsCount?: bigint;
  cryptographicUsageMask?: number;
  leaseTime?: number;
}

export interface CheckResponsePayload {
  uniqueIdentifier: string;
  usageLimitsCount?: bigint;
  cryptographicUsageMask?: number;
  leaseTime?: number;
}

const checkFields = {
  usageLimitsCount: optional(Tag.UsageLimitsCount, longInteger),
  cryptographicUsageMask: optional(Tag.CryptographicUsageMask, integer),
  leaseTime: optional(Tag.LeaseTime, interval),
};

export const checkPayloads = operationPayloads<CheckRequestPayload, CheckResponsePayload>(
  "Check",
  { uniqueIdentifier: optional(Tag.UniqueIdentifier, textString), ...checkFields },
  { uniqueIdentifier: required(Tag.UniqueIdentifier, textString), ...checkFields },
);
export const { decodeRequest: decodeCheckRequest, encodeResponse: encodeCheckResponse } = checkPayloads;
