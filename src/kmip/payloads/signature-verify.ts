// Signature Verify (KMIP 1.2+, 1.4 section 4.32). Streaming fields are 1.3,
// Digested Data 1.4. The response's Data is the data recovered from the
// signature, for schemes with message recovery.
import { Tag } from "../../ttlv/tags.js";
import { type CryptographicParameters, cryptographicParametersCodec } from "../attributes.js";
import { boolean, byteString, enumeration, optional, required, textString } from "../codec.js";
import { operationPayloads } from "./payload.js";

export interface SignatureVerifyRequestPayload {
  uniqueIdentifier?: string;
  cryptographicParameters?: CryptographicParameters;
  data?: Uint8Array;
  /** 1.4 */
  digestedData?: Uint8Array;
  signatureData?: Uint8Array;
  /** 1.3 */
  correlationValue?: Uint8Array;
  /** 1.3 */
  initIndicator?: boolean;
  /** 1.3 */
  finalIndicator?: boolean;
}

export interface SignatureVerifyResponsePayload {
  uniqueIdentifier: string;
  /** A ValidityIndicator value: Valid, Invalid, Unknown. */
  validityIndicator: number;
  data?: Uint8Array;
  /** 1.3 */
  correlationValue?: Uint8Array;
}

export const signatureVerifyPayloads = operationPayloads<SignatureVerifyRequestPayload, SignatureVerifyResponsePayload>(
  "Signature Verify",
  {
    uniqueIdentifier: optional(Tag.UniqueIdentifier, textString),
    cryptographicParameters: optional(Tag.CryptographicParameters, cryptographicParametersCodec),
    data: optional(Tag.Data, byteString),
    digestedData: optional(Tag.DigestedData, byteString),
    signatureData: optional(Tag.SignatureData, byteString),
    correlationValue: optional(Tag.CorrelationValue, byteString),
    initIndicator: optional(Tag.InitIndicator, boolean),
    finalIndicator: optional(Tag.FinalIndicator, boolean),
  },
  {
    uniqueIdentifier: required(Tag.UniqueIdentifier, textString),
    validityIndicator: required(Tag.ValidityIndicator, enumeration),
    data: optional(Tag.Data, byteString),
    correlationValue: optional(Tag.CorrelationValue, byteString),
  },
);
export const {
  decodeRequest: decodeSignatureVerifyRequest,
  decodeResponse: decodeSignatureVerifyResponse,
  encodeResponse: encodeSignatureVerifyResponse,
} = signatureVerifyPayloads;
