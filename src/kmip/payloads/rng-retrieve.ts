// RNG Retrieve (KMIP 1.3+, 1.4 section 4.35): Data Length random bytes.
import { Tag } from "../../ttlv/tags.js";
import { byteString, integer, required } from "../codec.js";
import { operationPayloads } from "./payload.js";

export interface RngRetrieveRequestPayload {
  dataLength: number;
}

export interface RngRetrieveResponsePayload {
  data: Uint8Array;
}

export const rngRetrievePayloads = operationPayloads<RngRetrieveRequestPayload, RngRetrieveResponsePayload>(
  "RNG Retrieve",
  { dataLength: required(Tag.DataLength, integer) },
  { data: required(Tag.Data, byteString) },
);
export const { decodeRequest: decodeRngRetrieveRequest, encodeResponse: encodeRngRetrieveResponse } = rngRetrievePayloads;
