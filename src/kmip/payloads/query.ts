// Query (KMIP 1.4 section 4.25): what the server supports. The response
// carries one list per Query Function asked for; the lists added after 1.0
// are optional here (the decoder still returns them, empty when absent).
// Server Information and the 1.2+/1.3+ information structures are vendor- or
// profile-specific and stay raw structures.
import type { StructureItem } from "../../ttlv/item.js";
import { Tag } from "../../ttlv/tags.js";
import { enumeration, optional, rawStructure, repeated, textString } from "../codec.js";
import { operationPayloads } from "./payload.js";

export interface QueryRequestPayload {
  queryFunctions: number[];
}

export interface QueryResponsePayload {
  operations: number[];
  objectTypes: number[];
  vendorIdentification?: string;
  serverInformation?: StructureItem;
  /** 1.1 */
  applicationNamespaces?: string[];
  /** 1.2 */
  extensionInformation?: StructureItem[];
  /** 1.2 */
  attestationTypes?: number[];
  /** 1.3 */
  rngParameters?: StructureItem[];
  /** 1.3 */
  profileInformation?: StructureItem[];
  /** 1.3 */
  validationInformation?: StructureItem[];
  /** 1.3 */
  capabilityInformation?: StructureItem[];
  /** 1.3 */
  clientRegistrationMethods?: number[];
}

export const queryPayloads = operationPayloads<QueryRequestPayload, QueryResponsePayload>(
  "Query",
  { queryFunctions: repeated(Tag.QueryFunction, enumeration) },
  {
    operations: repeated(Tag.Operation, enumeration),
    objectTypes: repeated(Tag.ObjectType, enumeration),
    vendorIdentification: optional(Tag.VendorIdentification, textString),
    serverInformation: optional(Tag.ServerInformation, rawStructure),
    applicationNamespaces: repeated(Tag.ApplicationNamespace, textString),
    extensionInformation: repeated(Tag.ExtensionInformation, rawStructure),
    attestationTypes: repeated(Tag.AttestationType, enumeration),
    rngParameters: repeated(Tag.RNGParameters, rawStructure),
    profileInformation: repeated(Tag.ProfileInformation, rawStructure),
    validationInformation: repeated(Tag.ValidationInformation, rawStructure),
    capabilityInformation: repeated(Tag.CapabilityInformation, rawStructure),
    clientRegistrationMethods: repeated(Tag.ClientRegistrationMethod, enumeration),
  },
);
export const {
  decodeRequest: decodeQueryRequest,
  encodeRequest: encodeQueryRequest,
  decodeResponse: decodeQueryResponse,
  encodeResponse: encodeQueryResponse,
} = queryPayloads;
