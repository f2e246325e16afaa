// Create (KMIP 1.4 section 4.1): generates a managed object, here a
// Symmetric Key, from the attributes of a Template-Attribute. The response
// carries the attributes the server set implicitly, when it reports them.
import { Tag } from "../../ttlv/tags.js";
import { type TemplateAttribute, templateAttributeCodec } from "../attributes.js";
import { enumeration, optional, required, textString } from "../codec.js";
import { operationPayloads } from "./payload.js";

export interface CreateRequestPayload {
  objectType: number;
  templateAttribute: TemplateAttribute;
}

export interface CreateResponsePayload {
  objectType: number;
  uniqueIdentifier: string;
  templateAttribute?: TemplateAttribute;
}

export const createPayloads = operationPayloads<CreateRequestPayload, CreateResponsePayload>(
  "Create",
  {
    objectType: required(Tag.ObjectType, enumeration),
    templateAttribute: required(Tag.TemplateAttribute, templateAttributeCodec),
  },
  {
    objectType: required(Tag.ObjectType, enumeration),
    uniqueIdentifier: required(Tag.UniqueIdentifier, textString),
    templateAttribute: optional(Tag.TemplateAttribute, templateAttributeCodec),
  },
);
export const {
  decodeRequest: decodeCreateRequest,
  encodeRequest: encodeCreateRequest,
  decodeResponse: decodeCreateResponse,
  encodeResponse: encodeCreateResponse,
} = createPayloads;
