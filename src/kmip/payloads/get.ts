// Get (KMIP 1.4 section 4.11): returns a managed object. Key Wrap Type is a
// 1.4 addition. Key Wrapping Specification is kept raw: the relay does not
// wrap keys, and the operation refuses a request that asks for it.
import * as ttlv from "../../ttlv/build.js";
import { ResultReason } from "../../ttlv/enums.js";
import { ItemType, type StructureItem } from "../../ttlv/item.js";
import { Tag } from "../../ttlv/tags.js";
import { type Codec, enumeration, expectType, fieldError, joinPath, optional, rawStructure, required, textString } from "../codec.js";
import { fieldLabel } from "../errors.js";
import { isManagedObjectTag, type ManagedObject, managedObjectCodec, managedObjectTag } from "../objects.js";
import { payloadCodecs, payloadStructure } from "./payload.js";

export interface GetRequestPayload {
  uniqueIdentifier?: string;
  keyFormatType?: number;
  /** 1.4 */
  keyWrapType?: number;
  keyCompressionType?: number;
  keyWrappingSpecification?: StructureItem;
}

export interface GetResponsePayload {
  objectType: number;
  uniqueIdentifier: string;
  /** A KeyObject for Symmetric Key, Public Key and Private Key; a raw structure otherwise. */
  object: ManagedObject;
}

const requestCodec = payloadStructure<GetRequestPayload>("Get Request Payload", {
  uniqueIdentifier: optional(Tag.UniqueIdentifier, textString),
  keyFormatType: optional(Tag.KeyFormatType, enumeration),
  keyWrapType: optional(Tag.KeyWrapType, enumeration),
  keyCompressionType: optional(Tag.KeyCompressionType, enumeration),
  keyWrappingSpecification: optional(Tag.KeyWrappingSpecification, rawStructure),
});

const responseName = "Get Response Payload";

const responseFields = payloadStructure<Omit<GetResponsePayload, "object">>(responseName, {
  objectType: required(Tag.ObjectType, enumeration),
  uniqueIdentifier: required(Tag.UniqueIdentifier, textString),
});

/** The managed object's tag follows from Object Type (2.2), so it is read apart from the other fields. */
const responseCodec: Codec<GetResponsePayload> = {
  decode(item, path) {
    const ownPath = joinPath(path, responseName);
    const fields = expectType(item, ItemType.Structure, ownPath).value;
    const objects = fields.filter((field) => isManagedObjectTag(field.tag));
    const { objectType, uniqueIdentifier } = responseFields.decode(
      ttlv.structure(item.tag, fields.filter((field) => !isManagedObjectTag(field.tag))),
      path,
    );
    const objectTag = managedObjectTag(objectType);
    if (objectTag === undefined) {
      throw fieldError(ResultReason.InvalidField, ownPath, Tag.ObjectType, `${fieldLabel(Tag.ObjectType)} ${objectType} has no KMIP 1.x managed object`);
    }
    const [object, ...others] = objects;
    if (object === undefined) {
      throw fieldError(ResultReason.MissingData, ownPath, objectTag, `missing ${fieldLabel(objectTag)}`);
    }
    if (object.tag !== objectTag || others.length > 0) {
      throw fieldError(
        ResultReason.InvalidMessage,
        ownPath,
        object.tag,
        `expected one ${fieldLabel(objectTag)} (Object Type ${objectType}), found ${objects.map((o) => fieldLabel(o.tag)).join(", ")}`,
      );
    }
    return { objectType, uniqueIdentifier, object: managedObjectCodec(objectType).decode(object, ownPath) };
  },
  encode(tag, payload) {
    const objectTag = managedObjectTag(payload.objectType);
    if (objectTag === undefined) throw new TypeError(`Object Type ${payload.objectType} has no KMIP 1.x managed object`);
    const { value } = responseFields.encode(tag, payload);
    return ttlv.structure(tag, [...value, managedObjectCodec(payload.objectType).encode(objectTag, payload.object)]);
  },
};

export const getPayloads = payloadCodecs(requestCodec, responseCodec);
export const {
  decodeRequest: decodeGetRequest,
  encodeRequest: encodeGetRequest,
  decodeResponse: decodeGetResponse,
  encodeResponse: encodeGetResponse,
} = getPayloads;
