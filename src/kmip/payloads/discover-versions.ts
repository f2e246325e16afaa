// Discover Versions (KMIP 1.1+, 1.4 section 4.26): the client lists the
// protocol versions it supports (newest first, or none to ask for all), the
// server answers with the ones it supports among them.
import { Tag } from "../../ttlv/tags.js";
import { repeated } from "../codec.js";
import { type ProtocolVersion, protocolVersionCodec } from "../message.js";
import { operationPayloads } from "./payload.js";

export interface DiscoverVersionsRequestPayload {
  protocolVersions: ProtocolVersion[];
}

export interface DiscoverVersionsResponsePayload {
  protocolVersions: ProtocolVersion[];
}

const fields = { protocolVersions: repeated(Tag.ProtocolVersion, protocolVersionCodec) };

export const discoverVersionsPayloads = operationPayloads<DiscoverVersionsRequestPayload, DiscoverVersionsResponsePayload>(
  "Discover Versions",
  fields,
  fields,
);
export const {
  decodeRequest: decodeDiscoverVersionsRequest,
  encodeRequest: encodeDiscoverVersionsRequest,
  decodeResponse: decodeDiscoverVersionsResponse,
  encodeResponse: encodeDiscoverVersionsResponse,
} = discoverVersionsPayloads;
