// MAC (KMIP 1.2+, 1.4 section 4.33). Streaming (Correlation Value, Init /
// Final Indicator) is 1.3. Unique Identifier may be omitted for the ID
// Placeholder.
import { Tag } from "../../ttlv/tags.js";
import { type CryptographicParameters, cryptographicParametersCodec } from "../attributes.js";
import { boolean, byteString, optional, required, textString } from "../codec.js";
import { operationPayloads } from "./payload.js";

export interface MacRequestPayload {
  uniqueIdentifier?: string;
  cryptographicParameters?: CryptographicParameters;
  data?: Uint8Array;
  /** 1.3 */
  correlationValue?: Uint8Array;
  /** 1.3 */
  initIndicator?: boolean;
  /** 1.3 */
  finalIndicator?: boolean;
}

export interface MacResponsePayload {
  uniqueIdentifier: string;
  macData?: Uint8Array;
  /** 1.3 */
  correlationValue?: Uint8Array;
}

export const macPayloads = operationPayloads<MacRequestPayload, MacResponsePayload>(
  "MAC",
  {
    uniqueIdentifier: optional(Tag.UniqueIdentifier, textString),
    cryptographicParameters: optional(Tag.CryptographicParameters, cryptographicParametersCodec),
    data: optional(Tag.Data, byteString),
    correlationValue: optional(Tag.CorrelationValue, byteString),
    initIndicator: optional(Tag.InitIndicator, boolean),
    finalIndicator: optional(Tag.FinalIndicator, boolean),
  },
  {
    uniqueIdentifier: required(Tag.UniqueIdentifier, textString),
    macData: optional(Tag.MacData, byteString),
    correlationValue: optional(Tag.CorrelationValue, byteString),
  },
);
export const {
  decodeRequest: decodeMacRequest,
  encodeRequest: encodeMacRequest,
  decodeResponse: decodeMacResponse,
  encodeResponse: encodeMacResponse,
} = macPayloads;
