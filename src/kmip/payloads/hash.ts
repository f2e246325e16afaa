// Hash (KMIP 1.2+, 1.4 section 4.37): the digest of Data with the Hashing
// Algorithm of the Cryptographic Parameters. Correlation Value and the
// Init / Final Indicators (streaming) are decoded to be refused by name.
import { Tag } from "../../ttlv/tags.js";
import { type CryptographicParameters, cryptographicParametersCodec } from "../attributes.js";
import { boolean, byteString, optional, required } from "../codec.js";
import { operationPayloads } from "./payload.js";

export interface HashRequestPayload {
  cryptographicParameters: CryptographicParameters;
  data?: Uint8Array;
  correlationValue?: Uint8Array;
  initIndicator?: boolean;
  finalIndicator?: boolean;
}

export interface HashResponsePayload {
  data?: Uint8Array;
  correlationValue?: Uint8Array;
}

export const hashPayloads = operationPayloads<HashRequestPayload, HashResponsePayload>(
  "Hash",
  {
    cryptographicParameters: required(Tag.CryptographicParameters, cryptographicParametersCodec),
    data: optional(Tag.Data, byteString),
    correlationValue: optional(Tag.CorrelationValue, byteString),
    initIndicator: optional(Tag.InitIndicator, boolean),
    finalIndicator: optional(Tag.FinalIndicator, boolean),
  },
  {
    data: optional(Tag.Data, byteString),
    correlationValue: optional(Tag.CorrelationValue, byteString),
  },
);
export const { decodeRequest: decodeHashRequest, encodeResponse: encodeHashResponse } = hashPayloads;
