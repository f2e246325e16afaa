// Locate (KMIP 1.4 section 4.9): the Unique Identifiers of the objects whose
// attributes match all the given ones. Offset Items, Storage Status Mask,
// Object Group Member and the response's Located Items are 1.3 additions.
import { Tag } from "../../ttlv/tags.js";
import { type Attribute, attributeCodec } from "../attributes.js";
import { enumeration, integer, optional, repeated, textString } from "../codec.js";
import { operationPayloads } from "./payload.js";

export interface LocateRequestPayload {
  maximumItems?: number;
  /** 1.3 */
  offsetItems?: number;
  /** 1.3, a Storage Status Mask bit mask */
  storageStatusMask?: number;
  /** 1.3 */
  objectGroupMember?: number;
  attributes: Attribute[];
}

export interface LocateResponsePayload {
  /** 1.3: the number of matching objects, which may exceed those returned. */
  locatedItems?: number;
  uniqueIdentifiers: string[];
}

export const locatePayloads = operationPayloads<LocateRequestPayload, LocateResponsePayload>(
  "Locate",
  {
    maximumItems: optional(Tag.MaximumItems, integer),
    offsetItems: optional(Tag.OffsetItems, integer),
    storageStatusMask: optional(Tag.StorageStatusMask, integer),
    objectGroupMember: optional(Tag.ObjectGroupMember, enumeration),
    attributes: repeated(Tag.Attribute, attributeCodec),
  },
  {
    locatedItems: optional(Tag.LocatedItems, integer),
    uniqueIdentifiers: repeated(Tag.UniqueIdentifier, textString),
  },
);
export const {
  decodeRequest: decodeLocateRequest,
  encodeRequest: encodeLocateRequest,
  decodeResponse: decodeLocateResponse,
  encodeResponse: encodeLocateResponse,
} = locatePayloads;
