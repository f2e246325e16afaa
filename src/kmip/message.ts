// KMIP 1.x messages (section 7 "Message Format", 6 "Message Contents"):
// Request / Response Message with header and batch items. Payloads stay TTLV
// structures here; src/kmip/payloads converts them per operation.
//
// Decisions:
// - Headers and batch items are lenient: fields this module does not model
//   (1.2 attestation fields, 1.4 correlation values, Message Extension) are
//   skipped, so a newer 1.x client is not refused for them. A Message
//   Extension that is critical is the operation's business, not the parser's.
// - A message must carry at least one Batch Item, and its Batch Count must
//   equal the number of Batch Items (6.14: "the number of Batch Items in a
//   message"); anything else is Invalid Message.
// - A required field missing from a message, header or batch item is Invalid
//   Message (11.1: the message cannot be parsed).
// - The encoders write exactly what they are given, Batch Count included, so
//   tests can build messages that break these rules.
import * as ttlv from "../ttlv/build.js";
import { CredentialType, ResultReason } from "../ttlv/enums.js";
import type { StructureItem, TtlvItem } from "../ttlv/item.js";
import { Tag } from "../ttlv/tags.js";
import {
  boolean,
  byteString,
  type Codec,
  dateTime,
  enumeration,
  fieldError,
  integer,
  joinPath,
  optional,
  rawItem,
  rawStructure,
  required,
  structure,
  type StructureCodec,
  type StructureOptions,
  secretText,
  textString,
} from "./codec.js";
import { fieldLabel, fieldName } from "./errors.js";

export interface ProtocolVersion {
  major: number;
  minor: number;
}

/** A Credential (2.1.2); Username and Password (type 1) is the one the relay uses. */
export interface Credential {
  credentialType: number;
  username?: string;
  /** Decoded: always its UTF-8 bytes, never a string (secretText in codec.ts); a client may give either. */
  password?: Buffer | string;
}

export interface RequestHeader {
  protocolVersion: ProtocolVersion;
  maximumResponseSize?: number;
  asynchronousIndicator?: boolean;
  authentication?: { credential: Credential };
  batchErrorContinuationOption?: number;
  batchOrderOption?: boolean;
  timeStamp?: bigint;
  batchCount: number;
}

export interface RequestBatchItem {
  operation: number;
  uniqueBatchItemId?: Uint8Array;
  requestPayload: StructureItem;
}

export interface RequestMessage {
  header: RequestHeader;
  batchItems: RequestBatchItem[];
}

export interface ResponseHeader {
  protocolVersion: ProtocolVersion;
  timeStamp: bigint;
  batchCount: number;
}

export interface ResponseBatchItem {
  operation?: number;
  uniqueBatchItemId?: Uint8Array;
  resultStatus: number;
  resultReason?: number;
  resultMessage?: string;
  asynchronousCorrelationValue?: Uint8Array;
  responsePayload?: StructureItem;
}

export interface ResponseMessage {
  header: ResponseHeader;
  batchItems: ResponseBatchItem[];
}

/** Options of every message-level structure: lenient, missing fields are Invalid Message. */
const messageLevel: StructureOptions = { strict: false, missingReason: ResultReason.InvalidMessage };

export const protocolVersionCodec = structure<ProtocolVersion>(
  {
    major: required(Tag.ProtocolVersionMajor, integer),
    minor: required(Tag.ProtocolVersionMinor, integer),
  },
  messageLevel,
);

/**
 * Username and Password credential value (2.1.2). The spec requires the
 * Username; it is optional here so that a credential lacking it reaches the
 * server's own check, which answers each batch item (doc/compatibility.md#credentials: General
 * Failure) instead of refusing the whole message.
 */
const usernameAndPassword = structure<{ username?: string; password?: Buffer | string }>(
  {
    username: optional(Tag.Username, textString),
    password: optional(Tag.Password, secretText),
  },
  messageLevel,
);

const credentialFields = structure<{ credentialType: number; credentialValue: TtlvItem }>(
  {
    credentialType: required(Tag.CredentialType, enumeration),
    credentialValue: required(Tag.CredentialValue, rawItem),
  },
  messageLevel,
);

/**
 * Credential (2.1.2): the Credential Value's form depends on the Credential
 * Type. Only Username and Password is converted; for the other types
 * (Device, Attestation, ...) only the type is kept, and the server refuses it.
 */
const credentialCodec: Codec<Credential> = {
  decode(item, path) {
    const ownPath = joinPath(path, "Credential");
    const { credentialType, credentialValue } = credentialFields.decodeAt(item, ownPath);
    if (credentialType !== CredentialType.UsernameAndPassword) return { credentialType };
    return { credentialType, ...usernameAndPassword.decode(credentialValue, ownPath) };
  },
  encode(tag, credential) {
    if (credential.credentialType !== CredentialType.UsernameAndPassword) {
      throw new TypeError("only a Username and Password Credential can be encoded");
    }
    const value = usernameAndPassword.encode(Tag.CredentialValue, {
      username: credential.username,
      password: credential.password,
    });
    return credentialFields.encode(tag, { credentialType: credential.credentialType, credentialValue: value });
  },
};

const authenticationCodec = structure<{ credential: Credential }>(
  { credential: required(Tag.Credential, credentialCodec) },
  messageLevel,
);

export const requestHeaderCodec = structure<RequestHeader>(
  {
    protocolVersion: required(Tag.ProtocolVersion, protocolVersionCodec),
    maximumResponseSize: optional(Tag.MaximumResponseSize, integer),
    asynchronousIndicator: optional(Tag.AsynchronousIndicator, boolean),
    authentication: optional(Tag.Authentication, authenticationCodec),
    batchErrorContinuationOption: optional(Tag.BatchErrorContinuationOption, enumeration),
    batchOrderOption: optional(Tag.BatchOrderOption, boolean),
    timeStamp: optional(Tag.TimeStamp, dateTime),
    batchCount: required(Tag.BatchCount, integer),
  },
  messageLevel,
);

const requestBatchItemCodec = structure<RequestBatchItem>(
  {
    operation: required(Tag.Operation, enumeration),
    uniqueBatchItemId: optional(Tag.UniqueBatchItemID, byteString),
    requestPayload: required(Tag.RequestPayload, rawStructure),
  },
  messageLevel,
);

export const responseHeaderCodec = structure<ResponseHeader>(
  {
    protocolVersion: required(Tag.ProtocolVersion, protocolVersionCodec),
    timeStamp: required(Tag.TimeStamp, dateTime),
    batchCount: required(Tag.BatchCount, integer),
  },
  messageLevel,
);

const responseBatchItemCodec = structure<ResponseBatchItem>(
  {
    operation: optional(Tag.Operation, enumeration),
    uniqueBatchItemId: optional(Tag.UniqueBatchItemID, byteString),
    resultStatus: required(Tag.ResultStatus, enumeration),
    resultReason: optional(Tag.ResultReason, enumeration),
    resultMessage: optional(Tag.ResultMessage, textString),
    asynchronousCorrelationValue: optional(Tag.AsynchronousCorrelationValue, byteString),
    responsePayload: optional(Tag.ResponsePayload, rawStructure),
  },
  messageLevel,
);

interface Message<H extends { batchCount: number }, B> {
  header: H;
  batchItems: B[];
}

/** Request Message and Response Message differ only in their tags and header / batch item codecs. */
class MessageCodec<H extends { batchCount: number }, B> {
  private readonly name: string;

  constructor(
    private readonly tag: number,
    private readonly headerTag: number,
    private readonly header: StructureCodec<H>,
    private readonly batchItem: StructureCodec<B>,
  ) {
    this.name = fieldName(tag);
  }

  decode(item: TtlvItem): Message<H, B> {
    const path = this.name;
    if (item.tag !== this.tag) {
      throw fieldError(ResultReason.InvalidMessage, path, item.tag, `expected a ${fieldLabel(this.tag)}, got ${fieldLabel(item.tag)}`);
    }
    const fields = rawStructure.decode(item, path).value;
    let header: H | undefined;
    const batchItems: B[] = [];
    for (const child of fields) {
      if (child.tag === this.headerTag) {
        if (header !== undefined) {
          throw fieldError(ResultReason.InvalidMessage, path, child.tag, `${fieldLabel(child.tag)} occurs more than once`);
        }
        header = this.header.decode(child, path);
      } else if (child.tag === Tag.BatchItem) {
        batchItems.push(this.batchItem.decodeAt(child, joinPath(path, `Batch Item ${batchItems.length + 1}`)));
      }
      // Other fields: none are defined at this level in 1.x; skipped as in headers.
    }
    if (header === undefined) {
      throw fieldError(ResultReason.InvalidMessage, path, this.headerTag, `missing ${fieldLabel(this.headerTag)}`);
    }
    if (batchItems.length === 0) {
      throw fieldError(ResultReason.InvalidMessage, path, Tag.BatchItem, `missing ${fieldLabel(Tag.BatchItem)}`);
    }
    if (header.batchCount !== batchItems.length) {
      throw fieldError(
        ResultReason.InvalidMessage,
        joinPath(path, fieldName(this.headerTag)),
        Tag.BatchCount,
        `${fieldLabel(Tag.BatchCount)} is ${header.batchCount}, but the message carries ${batchItems.length} Batch Item(s)`,
      );
    }
    return { header, batchItems };
  }

  encode(message: Message<H, B>): StructureItem {
    return ttlv.structure(this.tag, [
      this.header.encode(this.headerTag, message.header),
      ...message.batchItems.map((batchItem) => this.batchItem.encode(Tag.BatchItem, batchItem)),
    ]);
  }
}

const requestMessageCodec = new MessageCodec(Tag.RequestMessage, Tag.RequestHeader, requestHeaderCodec, requestBatchItemCodec);
const responseMessageCodec = new MessageCodec(Tag.ResponseMessage, Tag.ResponseHeader, responseHeaderCodec, responseBatchItemCodec);

/** Converts a decoded Request Message; throws KmipError (Invalid Message, ...) naming the field at fault. */
export function decodeRequestMessage(item: TtlvItem): RequestMessage {
  return requestMessageCodec.decode(item);
}

export function encodeRequestMessage(message: RequestMessage): StructureItem {
  return requestMessageCodec.encode(message);
}

/** Converts a decoded Response Message; throws KmipError naming the field at fault. */
export function decodeResponseMessage(item: TtlvItem): ResponseMessage {
  return responseMessageCodec.decode(item);
}

export function encodeResponseMessage(message: ResponseMessage): StructureItem {
  return responseMessageCodec.encode(message);
}
