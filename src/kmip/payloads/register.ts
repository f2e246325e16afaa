// Register (KMIP 1.4 section 4.3): a managed object the client brings, with
// its attributes. The object's tag follows from Object Type (2.2), so it is
// read apart from the other fields, as in Get.
import * as ttlv from "../../ttlv/build.js";
import { ResultReason } from "../../ttlv/enums.js";
import { ItemType } from "../../ttlv/item.js";
import { Tag } from "../../ttlv/tags.js";
import { type TemplateAttribute, templateAttributeCodec } from "../attributes.js";
import { type Codec, enumeration, expectType, fieldError, joinPath, optional, required, textString } from "../codec.js";
import { fieldLabel } from "../errors.js";
import { isManagedObjectTag, type ManagedObject, managedObjectCodec, managedObjectTag } from "../objects.js";
import { payloadCodecs, payloadStructure } from "./payload.js";

export interface RegisterRequestPayload {
  objectType: number;
  templateAttribute?: TemplateAttribute;
  /** A KeyObject for Symmetric Key, Public Key and Private Key; a raw structure otherwise. */
  object: ManagedObject;
}

export interface RegisterResponsePayload {
  uniqueIdentifier: string;
  /** Attributes the server set or changed. */
  templateAttribute?: TemplateAttribute;
}

const requestName = "Register Request Payload";

const requestFields = payloadStructure<Omit<RegisterRequestPayload, "object">>(requestName, {
  objectType: required(Tag.ObjectType, enumeration),
  templateAttribute: optional(Tag.TemplateAttribute, templateAttributeCodec),
});

const requestCodec: Codec<RegisterRequestPayload> = {
  decode(item, path) {
    const ownPath = joinPath(path, requestName);
    const fields = expectType(item, ItemType.Structure, ownPath).value;
    const objects = fields.filter((field) => isManagedObjectTag(field.tag));
    const rest = requestFields.decode(ttlv.structure(item.tag, fields.filter((field) => !isManagedObjectTag(field.tag))), path);
    const objectTag = managedObjectTag(rest.objectType);
    if (objectTag === undefined) {
      throw fieldError(ResultReason.InvalidField, ownPath, Tag.ObjectType, `${fieldLabel(Tag.ObjectType)} ${rest.objectType} has no KMIP 1.x managed object`);
    }
    const [object, ...others] = objects;
    if (object === undefined) throw fieldError(ResultReason.MissingData, ownPath, objectTag, `missing ${fieldLabel(objectTag)}`);
    if (object.tag !== objectTag || others.length > 0) {
      throw fieldError(
        ResultReason.InvalidField,
        ownPath,
        object.tag,
        `expected one ${fieldLabel(objectTag)} (Object Type ${rest.objectType}), found ${objects.map((o) => fieldLabel(o.tag)).join(", ")}`,
      );
    }
    return { ...rest, object: managedObjectCodec(rest.objectType).decode(object, ownPath) };
  },
  encode(tag, payload) {
    const objectTag = managedObjectTag(payload.objectType);
    if (objectTag === undefined) throw new TypeError(`Object Type ${payload.objectType} has no KMIP 1.x managed object`);
    const { value } = requestFields.encode(tag, payload);
    return ttlv.structure(tag, [...value, managedObjectCodec(payload.objectType).encode(objectTag, payload.object)]);
  },
};

const responseCodec = payloadStructure<RegisterResponsePayload>("Register Response Payload", {
  uniqueIdentifier: required(Tag.UniqueIdentifier, textString),
  templateAttribute: optional(Tag.TemplateAttribute, templateAttributeCodec),
});

export const registerPayloads = payloadCodecs(requestCodec, responseCodec);
export const {
  decodeRequest: decodeRegisterRequest,
  encodeRequest: encodeRegisterRequest,
  decodeResponse: decodeRegisterResponse,
  encodeResponse: encodeRegisterResponse,
} = registerPayloads;
