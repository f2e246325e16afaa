// Encrypt (KMIP 1.2+, 1.4 section 4.29). Streaming (Correlation Value, Init /
// Final Indicator) is 1.3; Authenticated Encryption Additional Data and Tag
// are 1.4. Unique Identifier may be omitted for the ID Placeholder.
import { Tag } from "../../ttlv/tags.js";
import { type CryptographicParameters, cryptographicParametersCodec } from "../attributes.js";
import { boolean, byteString, optional, required, textString } from "../codec.js";
import { operationPayloads } from "./payload.js";

export interface EncryptRequestPayload {
  uniqueIdentifier?: string;
  cryptographicParameters?: CryptographicParameters;
  data?: Uint8Array;
  ivCounterNonce?: Uint8Array;
  /** 1.3 */
  correlationValue?: Uint8Array;
  /** 1.3 */
  initIndicator?: boolean;
  /** 1.3 */
  finalIndicator?: boolean;
  /** 1.4 */
  authenticatedEncryptionAdditionalData?: Uint8Array;
}

export interface EncryptResponsePayload {
  uniqueIdentifier: string;
  data?: Uint8Array;
  ivCounterNonce?: Uint8Array;
  /** 1.3 */
  correlationValue?: Uint8Array;
  /** 1.4 */
  authenticatedEncryptionTag?: Uint8Array;
}

export const encryptPayloads = operationPayloads<EncryptRequestPayload, EncryptResponsePayload>(
  "Encrypt",
  {
    uniqueIdentifier: optional(Tag.UniqueIdentifier, textString),
    cryptographicParameters: optional(Tag.CryptographicParameters, cryptographicParametersCodec),
    data: optional(Tag.Data, byteString),
    ivCounterNonce: optional(Tag.IvCounterNonce, byteString),
    correlationValue: optional(Tag.CorrelationValue, byteString),
    initIndicator: optional(Tag.InitIndicator, boolean),
    finalIndicator: optional(Tag.FinalIndicator, boolean),
    authenticatedEncryptionAdditionalData: optional(Tag.AuthenticatedEncryptionAdditionalData, byteString),
  },
  {
    uniqueIdentifier: required(Tag.UniqueIdentifier, textString),
    data: optional(Tag.Data, byteString),
    ivCounterNonce: optional(Tag.IvCounterNonce, byteString),
    correlationValue: optional(Tag.CorrelationValue, byteString),
    authenticatedEncryptionTag: optional(Tag.AuthenticatedEncryptionTag, byteString),
  },
);
export const {
  decodeRequest: decodeEncryptRequest,
  encodeRequest: encodeEncryptRequest,
  decodeResponse: decodeEncryptResponse,
  encodeResponse: encodeEncryptResponse,
} = encryptPayloads;
