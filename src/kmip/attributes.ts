// KMIP 1.x attributes (section 2.1.1 Attribute, 2.1.8 Template-Attribute, and
// section 3 for each attribute's value). In 1.x an attribute travels as a
// structure of Attribute Name (its spec name as text), Attribute Index and an
// Attribute Value whose item type depends on the name. The table below maps
// each name to a codec, so values decode to typed values; custom attributes
// ("x-..." set by clients, "y-..." by servers, 3.40) and names this table
// lacks keep their Attribute Value as a raw TTLV item.
import type { StructureItem, TtlvItem } from "../ttlv/item.js";
import { Tag } from "../ttlv/tags.js";
import { ResultReason } from "../ttlv/enums.js";
import { KmipError } from "./errors.js";
import {
  boolean,
  byteString,
  type Codec,
  dateTime,
  enumeration,
  integer,
  interval,
  joinPath,
  longInteger,
  optional,
  rawItem,
  rawStructure,
  repeated,
  required,
  structure,
  textString,
} from "./codec.js";

/** Name (3.2). */
export interface Name {
  nameValue: string;
  /** NameType: Uninterpreted Text String or URI. */
  nameType: number;
}

/** Cryptographic Parameters (3.6); the version that added each field is noted. */
export interface CryptographicParameters {
  blockCipherMode?: number;
  paddingMethod?: number;
  hashingAlgorithm?: number;
  keyRoleType?: number;
  /** 1.2 */
  digitalSignatureAlgorithm?: number;
  /** 1.2 */
  cryptographicAlgorithm?: number;
  /** 1.2 */
  randomIv?: boolean;
  /** 1.2 */
  ivLength?: number;
  /** 1.2 */
  tagLength?: number;
  /** 1.2 */
  fixedFieldLength?: number;
  /** 1.2 */
  invocationFieldLength?: number;
  /** 1.2 */
  counterLength?: number;
  /** 1.2 */
  initialCounterValue?: number;
  /** 1.4 */
  saltLength?: number;
  /** 1.4 */
  maskGenerator?: number;
  /** 1.4, a Hashing Algorithm value */
  maskGeneratorHashingAlgorithm?: number;
  /** 1.4 */
  pSource?: Uint8Array;
  /** 1.4 */
  trailerField?: number;
}

/** Cryptographic Domain Parameters (3.7). */
export interface CryptographicDomainParameters {
  qlength?: number;
  recommendedCurve?: number;
}

/** Digest (3.17). Key Format Type is 1.1. */
export interface Digest {
  hashingAlgorithm: number;
  digestValue?: Uint8Array;
  keyFormatType?: number;
}

/** Usage Limits (3.21). */
export interface UsageLimits {
  usageLimitsTotal: bigint;
  usageLimitsCount?: bigint;
  usageLimitsUnit: number;
}

/** Revocation Reason (3.31). */
export interface RevocationReason {
  revocationReasonCode: number;
  revocationMessage?: string;
}

/** Link (3.35). */
export interface Link {
  linkType: number;
  linkedObjectIdentifier: string;
}

/** Application Specific Information (3.36). */
export interface ApplicationSpecificInformation {
  applicationNamespace: string;
  applicationData?: string;
}

export const nameCodec = structure<Name>({
  nameValue: required(Tag.NameValue, textString),
  nameType: required(Tag.NameType, enumeration),
});

export const cryptographicParametersCodec = structure<CryptographicParameters>({
  blockCipherMode: optional(Tag.BlockCipherMode, enumeration),
  paddingMethod: optional(Tag.PaddingMethod, enumeration),
  hashingAlgorithm: optional(Tag.HashingAlgorithm, enumeration),
  keyRoleType: optional(Tag.KeyRoleType, enumeration),
  digitalSignatureAlgorithm: optional(Tag.DigitalSignatureAlgorithm, enumeration),
  cryptographicAlgorithm: optional(Tag.CryptographicAlgorithm, enumeration),
  randomIv: optional(Tag.RandomIv, boolean),
  ivLength: optional(Tag.IvLength, integer),
  tagLength: optional(Tag.TagLength, integer),
  fixedFieldLength: optional(Tag.FixedFieldLength, integer),
  invocationFieldLength: optional(Tag.InvocationFieldLength, integer),
  counterLength: optional(Tag.CounterLength, integer),
  initialCounterValue: optional(Tag.InitialCounterValue, integer),
  saltLength: optional(Tag.SaltLength, integer),
  maskGenerator: optional(Tag.MaskGenerator, enumeration),
  maskGeneratorHashingAlgorithm: optional(Tag.MaskGeneratorHashingAlgorithm, enumeration),
  pSource: optional(Tag.PSource, byteString),
  trailerField: optional(Tag.TrailerField, integer),
});

export const cryptographicDomainParametersCodec = structure<CryptographicDomainParameters>({
  qlength: optional(Tag.Qlength, integer),
  recommendedCurve: optional(Tag.RecommendedCurve, enumeration),
});

const digestCodec = structure<Digest>({
  hashingAlgorithm: required(Tag.HashingAlgorithm, enumeration),
  digestValue: optional(Tag.DigestValue, byteString),
  keyFormatType: optional(Tag.KeyFormatType, enumeration),
});

const usageLimitsCodec = structure<UsageLimits>({
  usageLimitsTotal: required(Tag.UsageLimitsTotal, longInteger),
  usageLimitsCount: optional(Tag.UsageLimitsCount, longInteger),
  usageLimitsUnit: required(Tag.UsageLimitsUnit, enumeration),
});

export const revocationReasonCodec = structure<RevocationReason>({
  revocationReasonCode: required(Tag.RevocationReasonCode, enumeration),
  revocationMessage: optional(Tag.RevocationMessage, textString),
});

const linkCodec = structure<Link>({
  linkType: required(Tag.LinkType, enumeration),
  linkedObjectIdentifier: required(Tag.LinkedObjectIdentifier, textString),
});

const applicationSpecificInformationCodec = structure<ApplicationSpecificInformation>({
  applicationNamespace: required(Tag.ApplicationNamespace, textString),
  applicationData: optional(Tag.ApplicationData, textString),
});

/**
 * The typed value of each attribute, by its 1.x Attribute Name. Structures
 * this relay never interprets (certificate identifiers, Alternative Name, Key
 * Value Location, Random Number Generator) stay raw structures.
 */
export interface AttributeValues {
  "Unique Identifier": string;
  Name: Name;
  "Object Type": number;
  "Cryptographic Algorithm": number;
  "Cryptographic Length": number;
  "Cryptographic Parameters": CryptographicParameters;
  "Cryptographic Domain Parameters": CryptographicDomainParameters;
  "Certificate Type": number;
  /** 1.1 */
  "Certificate Length": number;
  /** 1.0 only */
  "Certificate Identifier": StructureItem;
  /** 1.0 only */
  "Certificate Subject": StructureItem;
  /** 1.0 only */
  "Certificate Issuer": StructureItem;
  /** 1.1 */
  "X.509 Certificate Identifier": StructureItem;
  /** 1.1 */
  "X.509 Certificate Subject": StructureItem;
  /** 1.1 */
  "X.509 Certificate Issuer": StructureItem;
  /** 1.1 */
  "Digital Signature Algorithm": number;
  Digest: Digest;
  "Operation Policy Name": string;
  "Cryptographic Usage Mask": number;
  "Lease Time": number;
  "Usage Limits": UsageLimits;
  State: number;
  "Initial Date": bigint;
  "Activation Date": bigint;
  "Process Start Date": bigint;
  "Protect Stop Date": bigint;
  "Deactivation Date": bigint;
  "Destroy Date": bigint;
  "Compromise Occurrence Date": bigint;
  "Compromise Date": bigint;
  "Revocation Reason": RevocationReason;
  "Archive Date": bigint;
  "Object Group": string;
  /** 1.1 */
  Fresh: boolean;
  Link: Link;
  "Application Specific Information": ApplicationSpecificInformation;
  "Contact Information": string;
  "Last Change Date": bigint;
  /** 1.2 */
  "Alternative Name": StructureItem;
  /** 1.2 */
  "Key Value Present": boolean;
  /** 1.2 */
  "Key Value Location": StructureItem;
  /** 1.3 */
  "Original Creation Date": bigint;
  /** 1.3 */
  "Random Number Generator": StructureItem;
  /** 1.4 */
  "PKCS#12 Friendly Name": string;
  /** 1.4 */
  Description: string;
  /** 1.4 */
  Comment: string;
  /** 1.4 */
  Sensitive: boolean;
  /** 1.4 */
  "Always Sensitive": boolean;
  /** 1.4 */
  Extractable: boolean;
  /** 1.4 */
  "Never Extractable": boolean;
}

export type AttributeName = keyof AttributeValues;

const attributeCodecs: { readonly [K in AttributeName]: Codec<AttributeValues[K]> } = {
  "Unique Identifier": textString,
  Name: nameCodec,
  "Object Type": enumeration,
  "Cryptographic Algorithm": enumeration,
  "Cryptographic Length": integer,
  "Cryptographic Parameters": cryptographicParametersCodec,
  "Cryptographic Domain Parameters": cryptographicDomainParametersCodec,
  "Certificate Type": enumeration,
  "Certificate Length": integer,
  "Certificate Identifier": rawStructure,
  "Certificate Subject": rawStructure,
  "Certificate Issuer": rawStructure,
  "X.509 Certificate Identifier": rawStructure,
  "X.509 Certificate Subject": rawStructure,
  "X.509 Certificate Issuer": rawStructure,
  "Digital Signature Algorithm": enumeration,
  Digest: digestCodec,
  "Operation Policy Name": textString,
  "Cryptographic Usage Mask": integer,
  "Lease Time": interval,
  "Usage Limits": usageLimitsCodec,
  State: enumeration,
  "Initial Date": dateTime,
  "Activation Date": dateTime,
  "Process Start Date": dateTime,
  "Protect Stop Date": dateTime,
  "Deactivation Date": dateTime,
  "Destroy Date": dateTime,
  "Compromise Occurrence Date": dateTime,
  "Compromise Date": dateTime,
  "Revocation Reason": revocationReasonCodec,
  "Archive Date": dateTime,
  "Object Group": textString,
  Fresh: boolean,
  Link: linkCodec,
  "Application Specific Information": applicationSpecificInformationCodec,
  "Contact Information": textString,
  "Last Change Date": dateTime,
  "Alternative Name": rawStructure,
  "Key Value Present": boolean,
  "Key Value Location": rawStructure,
  "Original Creation Date": dateTime,
  "Random Number Generator": rawStructure,
  "PKCS#12 Friendly Name": textString,
  Description: textString,
  Comment: textString,
  Sensitive: boolean,
  "Always Sensitive": boolean,
  Extractable: boolean,
  "Never Extractable": boolean,
};

/** An attribute whose name is in the table, with its typed value. */
export type KnownAttribute = {
  [K in AttributeName]: { name: K; index?: number; value: AttributeValues[K] };
}[AttributeName];

/** A custom ("x-...", "y-...") or unknown attribute: the value stays TTLV. */
export interface OtherAttribute {
  name: string;
  index?: number;
  value: TtlvItem;
}

/**
 * Attribute (2.1.1). Decoded attributes whose name is in the table always
 * carry the typed value; read them with `isAttribute`, `attributeValue` or
 * `attributeValues` to get the value's type.
 */
export type Attribute = KnownAttribute | OtherAttribute;

/** Template-Attribute (2.1.8): Names of Template objects to apply, then attributes. */
export interface TemplateAttribute {
  names: Name[];
  attributes: Attribute[];
}

/** Whether the table types this attribute name. */
export function isKnownAttributeName(name: string): name is AttributeName {
  return Object.hasOwn(attributeCodecs, name);
}

/** Narrows an attribute by name, e.g. `isAttribute(a, "Cryptographic Length")`. */
export function isAttribute<K extends AttributeName>(
  attribute: Attribute,
  name: K,
): attribute is Extract<KnownAttribute, { name: K }> {
  return attribute.name === name;
}

/**
 * The value of a single-valued attribute, or undefined when absent. Given
 * twice it is Invalid Field: taking the first (or the last) would act on a
 * value the client may not have meant, and a single-instance attribute has
 * one value (KMIP 1.x 3, "Attributes").
 */
export function attributeValue<K extends AttributeName>(attributes: readonly Attribute[], name: K): AttributeValues[K] | undefined {
  const found = attributes.filter((attribute) => isAttribute(attribute, name));
  if (found.length > 1) throw new KmipError(ResultReason.InvalidField, `the attribute ${name} is given ${found.length} times in one template; it takes one value`);
  return found[0]?.value as AttributeValues[K] | undefined;
}

/** The values of all attributes with this name, in order (multi-instance attributes such as Name, Link). */
export function attributeValues<K extends AttributeName>(attributes: readonly Attribute[], name: K): AttributeValues[K][] {
  return attributes.filter((attribute) => isAttribute(attribute, name)).map((attribute) => attribute.value as AttributeValues[K]);
}

const attributeFields = structure<{ name: string; index?: number; value: TtlvItem }>({
  name: required(Tag.AttributeName, textString),
  index: optional(Tag.AttributeIndex, integer),
  value: required(Tag.AttributeValue, rawItem),
});

function valueCodec(name: string): Codec<unknown> {
  return isKnownAttributeName(name) ? (attributeCodecs[name] as Codec<unknown>) : rawItem;
}

/** Attribute as a value codec, for use in structures. */
export const attributeCodec: Codec<Attribute> = {
  decode(item, path) {
    const { name, index, value } = attributeFields.decode(item, path);
    // Errors inside the value name the attribute: "... > Attribute 'Name': missing Name Type".
    const decoded = valueCodec(name).decode(value, joinPath(path, `Attribute '${name}'`));
    return (index === undefined ? { name, value: decoded } : { name, index, value: decoded }) as Attribute;
  },
  encode(tag, attribute) {
    return attributeFields.encode(tag, {
      name: attribute.name,
      index: attribute.index,
      value: valueCodec(attribute.name).encode(Tag.AttributeValue, attribute.value),
    });
  },
};

export const templateAttributeCodec = structure<TemplateAttribute>({
  names: repeated(Tag.Name, nameCodec),
  attributes: repeated(Tag.Attribute, attributeCodec),
});

export function decodeAttribute(item: TtlvItem): Attribute {
  return attributeCodec.decode(item, "");
}

export function encodeAttribute(attribute: Attribute): StructureItem {
  return attributeCodec.encode(Tag.Attribute, attribute) as StructureItem;
}

/** Decodes a Template-Attribute, Common / Private Key / Public Key Template-Attribute. */
export function decodeTemplateAttribute(item: TtlvItem): TemplateAttribute {
  return templateAttributeCodec.decode(item, "");
}

export function encodeTemplateAttribute(templateAttribute: TemplateAttribute, tag: number = Tag.TemplateAttribute): StructureItem {
  return templateAttributeCodec.encode(tag, templateAttribute);
}

export function decodeName(item: TtlvItem): Name {
  return nameCodec.decode(item, "");
}

export function encodeName(name: Name, tag: number = Tag.Name): StructureItem {
  return nameCodec.encode(tag, name);
}

export function decodeCryptographicParameters(item: TtlvItem): CryptographicParameters {
  return cryptographicParametersCodec.decode(item, "");
}

export function encodeCryptographicParameters(
  parameters: CryptographicParameters,
  tag: number = Tag.CryptographicParameters,
): StructureItem {
  return cryptographicParametersCodec.encode(tag, parameters);
}
