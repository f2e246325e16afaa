// Sign (KMIP 1.2+, 1.4 section 4.31). Streaming (Correlation Value, Init /
// Final Indicator) is 1.3; Digested Data, data the client already hashed, is
// 1.4. Unique Identifier may be omitted for the ID Placeholder.
import { Tag } from "../../ttlv/tags.js";
import { type CryptographicParameters, cryptographicParametersCodec } from "../attributes.js";
import { boolean, byteString, optional, required, textString } from "../codec.js";
import { operationPayloads } from "./payload.js";

export interface SignRequestPayload {
  uniqueIdentifier?: string;
  cryptographicParameters?: CryptographicParameters;
  data?: Uint8Array;
  /** 1.4 */
  digestedData?: Uint8Array;
  /** 1.3 */
  correlationValue?: Uint8Array;
  /** 1.3 */
  initIndicator?: boolean;
  /** 1.3 */
  finalIndicator?: boolean;
}

export interface SignResponsePayload {
  uniqueIdentifier: string;
  signatureData?: Uint8Array;
  /** 1.3 */
  correlationValue?: Uint8Array;
}

export const signPayloads = operationPayloads<SignRequestPayload, SignResponsePayload>(
  "Sign",
  {
    uniqueIdentifier: optional(Tag.UniqueIdentifier, textString),
    cryptographicParameters: optional(Tag.CryptographicParameters, cryptographicParametersCodec),
    data: optional(Tag.Data, byteString),
    digestedData: optional(Tag.DigestedData, byteString),
    correlationValue: optional(Tag.CorrelationValue, byteString),
    initIndicator: optional(Tag.InitIndicator, boolean),
    finalIndicator: optional(Tag.FinalIndicator, boolean),
  },
  {
    uniqueIdentifier: required(Tag.UniqueIdentifier, textString),
    signatureData: optional(Tag.SignatureData, byteString),
    correlationValue: optional(Tag.CorrelationValue, byteString),
  },
);
export const {
  decodeRequest: decodeSignRequest,
  encodeRequest: encodeSignRequest,
  decodeResponse: decodeSignResponse,
  encodeResponse: encodeSignResponse,
} = signPayloads;
