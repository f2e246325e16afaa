// RNG Seed (KMIP 1.3+, 1.4 section 4.36): seed bytes for the server's random
// number generator; the answer says how many of them it used.
import { Tag } from "../../ttlv/tags.js";
import { byteString, integer, optional, required } from "../codec.js";
import { operationPayloads } from "./payload.js";

export interface RngSeedRequestPayload {
  data?: Uint8Array;
}

export interface RngSeedResponsePayload {
  dataLength: number;
}

export const rngSeedPayloads = operationPayloads<RngSeedRequestPayload, RngSeedResponsePayload>(
  "RNG Seed",
  { data: optional(Tag.Data, byteString) },
  { dataLength: required(Tag.DataLength, integer) },
);
export const { decodeRequest: decodeRngSeedRequest, encodeResponse: encodeRngSeedResponse } = rngSeedPayloads;
