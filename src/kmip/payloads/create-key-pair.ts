// Create Key Pair (KMIP 1.4 section 4.2): generates a public / private key
// pair. Attributes come in three Template-Attributes: common to both keys,
// private key only, public key only.
import { ResultReason } from "../../ttlv/enums.js";
import { Tag } from "../../ttlv/tags.js";
import { type TemplateAttribute, templateAttributeCodec } from "../attributes.js";
import { type Codec, fieldError, joinPath, optional, repeated, textString } from "../codec.js";
import { fieldLabel } from "../errors.js";
import { payloadCodecs, payloadStructure } from "./payload.js";

export interface CreateKeyPairRequestPayload {
  commonTemplateAttribute?: TemplateAttribute;
  privateKeyTemplateAttribute?: TemplateAttribute;
  publicKeyTemplateAttribute?: TemplateAttribute;
}

export interface CreateKeyPairResponsePayload {
  privateKeyUniqueIdentifier: string;
  publicKeyUniqueIdentifier: string;
  /** Attributes the server set or changed on the private key. */
  privateKeyTemplateAttribute?: TemplateAttribute;
  /** Attributes the server set or changed on the public key. */
  publicKeyTemplateAttribute?: TemplateAttribute;
}

const requestCodec = payloadStructure<CreateKeyPairRequestPayload>("Create Key Pair Request Payload", {
  commonTemplateAttribute: optional(Tag.CommonTemplateAttribute, templateAttributeCodec),
  privateKeyTemplateAttribute: optional(Tag.PrivateKeyTemplateAttribute, templateAttributeCodec),
  publicKeyTemplateAttribute: optional(Tag.PublicKeyTemplateAttribute, templateAttributeCodec),
});

const responseName = "Create Key Pair Response Payload";

/**
 * The response as found on the wire. Besides the 1.x fields it admits two
 * plain Unique Identifiers (private key first), the form the KMIP 1.0 use
 * cases (8.1) show and some servers send.
 */
const responseFields = payloadStructure<{
  privateKeyUniqueIdentifier?: string;
  publicKeyUniqueIdentifier?: string;
  uniqueIdentifiers: string[];
  privateKeyTemplateAttribute?: TemplateAttribute;
  publicKeyTemplateAttribute?: TemplateAttribute;
}>(responseName, {
  privateKeyUniqueIdentifier: optional(Tag.PrivateKeyUniqueIdentifier, textString),
  publicKeyUniqueIdentifier: optional(Tag.PublicKeyUniqueIdentifier, textString),
  uniqueIdentifiers: repeated(Tag.UniqueIdentifier, textString),
  privateKeyTemplateAttribute: optional(Tag.PrivateKeyTemplateAttribute, templateAttributeCodec),
  publicKeyTemplateAttribute: optional(Tag.PublicKeyTemplateAttribute, templateAttributeCodec),
});

const responseCodec: Codec<CreateKeyPairResponsePayload> = {
  decode(item, path) {
    const { uniqueIdentifiers, ...fields } = responseFields.decode(item, path);
    const ownPath = joinPath(path, responseName);
    let { privateKeyUniqueIdentifier, publicKeyUniqueIdentifier } = fields;
    if (uniqueIdentifiers.length > 0) {
      if (uniqueIdentifiers.length !== 2 || privateKeyUniqueIdentifier !== undefined || publicKeyUniqueIdentifier !== undefined) {
        throw fieldError(
          ResultReason.InvalidMessage,
          ownPath,
          Tag.UniqueIdentifier,
          `${fieldLabel(Tag.UniqueIdentifier)} is only accepted twice, in place of the private and public key's identifiers`,
        );
      }
      [privateKeyUniqueIdentifier, publicKeyUniqueIdentifier] = uniqueIdentifiers;
    }
    const missing = (tag: number) => fieldError(ResultReason.MissingData, ownPath, tag, `missing ${fieldLabel(tag)}`);
    if (privateKeyUniqueIdentifier === undefined) throw missing(Tag.PrivateKeyUniqueIdentifier);
    if (publicKeyUniqueIdentifier === undefined) throw missing(Tag.PublicKeyUniqueIdentifier);
    return { ...fields, privateKeyUniqueIdentifier, publicKeyUniqueIdentifier };
  },
  encode(tag, payload) {
    return responseFields.encode(tag, { ...payload, uniqueIdentifiers: [] });
  },
};

export const createKeyPairPayloads = payloadCodecs(requestCodec, responseCodec);
export const {
  decodeRequest: decodeCreateKeyPairRequest,
  encodeRequest: encodeCreateKeyPairRequest,
  decodeResponse: decodeCreateKeyPairResponse,
  encodeResponse: encodeCreateKeyPairResponse,
} = createKeyPairPayloads;
