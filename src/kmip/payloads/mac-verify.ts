// MAC Verify (KMIP 1.2+, 1.4 section 4.34). Streaming (Correlation Value,
// Init / Final Indicator) is 1.3. Unique Identifier may be omitted for the
// ID Placeholder.
import { Tag } from "../../ttlv/tags.js";
import { type CryptographicParameters, cryptographicParametersCodec } from "../attributes.js";
import { boolean, byteString, enumeration, optional, required, textString } from "../codec.js";
import { operationPayloads } from "./payload.js";

export interface MacVerifyRequestPayload {
  uniqueIdentifier?: string;
  cryptographicParameters?: CryptographicParameters;
  data?: Uint8Array;
  macData?: Uint8Array;
  /** 1.3 */
  correlationValue?: Uint8Array;
  /** 1.3 */
  initIndicator?: boolean;
  /** 1.3 */
  finalIndicator?: boolean;
}

export interface MacVerifyResponsePayload {
  uniqueIdentifier: string;
  /** A ValidityIndicator value: Valid, Invalid, Unknown. */
  validityIndicator: number;
  /** 1.3 */
  correlationValue?: Uint8Array;
}

export const macVerifyPayloads = operationPayloads<MacVerifyRequestPayload, MacVerifyResponsePayload>(
  "MAC Verify",
  {
    uniqueIdentifier: optional(Tag.UniqueIdentifier, textString),
    cryptographicParameters: optional(Tag.CryptographicParameters, cryptographicParametersCodec),
    data: optional(Tag.Data, byteString),
    macData: optional(Tag.MacData, byteString),
    correlationValue: optional(Tag.CorrelationValue, byteString),
    initIndicator: optional(Tag.InitIndicator, boolean),
    finalIndicator: optional(Tag.FinalIndicator, boolean),
  },
  {
    uniqueIdentifier: required(Tag.UniqueIdentifier, textString),
    validityIndicator: required(Tag.ValidityIndicator, enumeration),
    correlationValue: optional(Tag.CorrelationValue, byteString),
  },
);
export const {
  decodeRequest: decodeMacVerifyRequest,
  encodeRequest: encodeMacVerifyRequest,
  decodeResponse: decodeMacVerifyResponse,
  encodeResponse: encodeMacVerifyResponse,
} = macVerifyPayloads;
