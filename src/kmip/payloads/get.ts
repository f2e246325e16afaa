// Get (KMIP 1.4 section 4.11): returns a managed object. Key Wrap Type is a
// 1.4 addition. Key Wrapping Specification (2.1.6) is read into its fields;
// the Key Wrapping Data of a wrapped answer (2.1.5) is made by
// src/operations/get.ts.
import * as ttlv from "../../ttlv/build.js";
import { ResultReason } from "../../ttlv/enums.js";
import { ItemType } from "../../ttlv/item.js";
import { Tag } from "../../ttlv/tags.js";
import { cryptographicParametersCodec, type CryptographicParameters } from "../attributes.js";
import { type Codec, enumeration, expectType, fieldError, joinPath, optional, repeated, required, structure, textString } from "../codec.js";
import { fieldLabel } from "../errors.js";
import { isManagedObjectTag, type ManagedObject, managedObjectCodec, managedObjectTag } from "../objects.js";
import { payloadCodecs, payloadStructure } from "./payload.js";

/** Encryption Key Information, MAC/Signature Key Information (2.1.5): the key that wraps, and how. */
export interface WrappingKeyInformation {
  uniqueIdentifier: string;
  cryptographicParameters?: CryptographicParameters;
}

/** Key Wrapping Specification (2.1.6). */
export interface KeyWrappingSpecification {
  wrappingMethod: number;
  encryptionKeyInformation?: WrappingKeyInformation;
  macSignatureKeyInformation?: WrappingKeyInformation;
  attributeNames: string[];
  /** 1.1 */
  encodingOption?: number;
}

export const wrappingKeyInformationCodec = structure<WrappingKeyInformation>({
  uniqueIdentifier: required(Tag.UniqueIdentifier, textString),
  cryptographicParameters: optional(Tag.CryptographicParameters, cryptographicParametersCodec),
});

const keyWrappingSpecificationCodec = structure<KeyWrappingSpecification>({
  wrappingMethod: required(Tag.WrappingMethod, enumeration),
  encryptionKeyInformation: optional(Tag.EncryptionKeyInformation, wrappingKeyInformationCodec),
  macSignatureKeyInformation: optional(Tag.MacSignatureKeyInformation, wrappingKeyInformationCodec),
  attributeNames: repeated(Tag.AttributeName, textString),
  encodingOption: optional(Tag.EncodingOption, enumeration),
});

export interface GetRequestPayload {
  uniqueIdentifier?: string;
  keyFormatType?: number;
  /** 1.4 */
  keyWrapType?: number;
  keyCompressionType?: number;
  keyWrappingSpecification?: KeyWrappingSpecification;
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
  keyWrappingSpecification: optional(Tag.KeyWrappingSpecification, keyWrappingSpecificationCodec),
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
