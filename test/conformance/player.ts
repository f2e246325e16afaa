// Plays one OASIS KMIP Profiles test case against a server: each
// RequestMessage of the file, in order, on one TLS connection, and each
// response compared with the ResponseMessage the file expects (compare.ts).
// The cases carry no credential, and the relay needs one (its Username
// selects the token, its Password is the PIN): a request header without an
// Authentication gets the one given here.
import { basename } from "node:path";
import { KmipClient } from "../../src/client/kmip-client.js";
import { decodeTtlv } from "../../src/ttlv/decode.js";
import { encodeTtlv } from "../../src/ttlv/encode.js";
import { CredentialType } from "../../src/ttlv/enums.js";
import * as ttlv from "../../src/ttlv/build.js";
import { ItemType, type StructureItem, type TtlvItem } from "../../src/ttlv/item.js";
import { Tag } from "../../src/ttlv/tags.js";
import { compareResponse } from "./compare.js";
import { type CaseContext, elementTag, readTestCase, toTtlv, type XmlElement } from "./kmip-xml.js";

export interface Server {
  host: string;
  port: number;
  /** The server certificate to trust, PEM. */
  ca: string | Buffer;
  /** The credential put in request headers that have none. */
  username: string;
  password: string;
}

/** The case's id: its file name without ".xml" ("AKLC-M-1-14"). */
export const caseId = (path: string): string => basename(path, ".xml");

export interface PlayOptions {
  /** Play every step and report every difference (to see all that a case needs), not just the first. */
  readonly keepGoing?: boolean;
}

/**
 * Plays the case; resolves to its differences, none when every response
 * matched: "step 2 GetAttributes: ResponsePayload/Attribute
 * "State"/AttributeValue: Active, expected PreActive" (steps count from 1).
 * Without keepGoing, only the first difference.
 */
export async function playCase(path: string, server: Server, options: PlayOptions = {}): Promise<string[]> {
  const steps = readTestCase(path);
  const context: CaseContext = { now: BigInt(Math.floor(Date.now() / 1000)), bound: new Map() };
  const requestDates = new Set<string>();
  for (const step of steps) collectDates(step.request, requestDates);

  const differences: string[] = [];
  const client = await KmipClient.connect({ host: server.host, port: server.port, ca: server.ca });
  try {
    for (const [index, step] of steps.entries()) {
      const where = `step ${index + 1} ${operations(step.request)}`;
      let request: StructureItem;
      try {
        request = withCredential(toTtlv(repairAttributeNames(step.request), context) as StructureItem, server);
      } catch (error) {
        // Only after a failed step: a placeholder its response should have defined.
        differences.push(`${where}: not sent, ${(error as Error).message}`);
        break;
      }
      let actual: TtlvItem;
      try {
        actual = decodeTtlv(await client.sendRaw(encodeTtlv(request)));
      } catch (error) {
        differences.push(`${where}: no response (${(error as Error).message})`);
        break;
      }
      for (const difference of compareResponse(step.response, actual, { context, requestDates })) {
        differences.push(`${where}: ${difference.replace(/^ResponseMessage\/BatchItem\//, "")}`);
      }
      if (differences.length > 0 && options.keepGoing !== true) return differences.slice(0, 1);
    }
    return differences;
  } finally {
    await client.close();
  }
}

/**
 * The KMIP 1.0 case files write some Attribute Names of their requests with
 * runs of spaces ("Cryptographic   Usage Mask"), an artefact of how they were
 * published: their responses name the same attributes with single spaces, as
 * KMIP 1.0 section 3 does. Such names are sent with single spaces.
 */
function repairAttributeNames(element: XmlElement): XmlElement {
  const value = element.attributes.value;
  if (element.name === "AttributeName" && value !== undefined && / {2,}/.test(value)) {
    return { ...element, attributes: { ...element.attributes, value: value.replace(/ {2,}/g, " ") } };
  }
  return element.children.length === 0 ? element : { ...element, children: element.children.map(repairAttributeNames) };
}

/** "GetAttributes", or "Encrypt+Decrypt" for a batch. */
function operations(request: XmlElement): string {
  return request.children
    .filter((c) => elementTag(c) === Tag.BatchItem)
    .map((item) => item.children.find((c) => elementTag(c) === Tag.Operation)?.attributes.value ?? "?")
    .join("+");
}

function collectDates(element: XmlElement, into: Set<string>): void {
  if (element.attributes.type === "DateTime" && element.attributes.value !== undefined) into.add(element.attributes.value);
  for (const child of element.children) collectDates(child, into);
}

/** Items of the Request Header that come after Authentication (KMIP 1.4 7.2, Request Header). */
const AFTER_AUTHENTICATION = new Set<number>([Tag.BatchErrorContinuationOption, Tag.BatchOrderOption, Tag.TimeStamp, Tag.BatchCount]);

/** The request with the server's Username and Password in its header, unless it has an Authentication of its own. */
function withCredential(request: StructureItem, server: Server): StructureItem {
  const [header, ...rest] = request.value;
  if (header?.type !== ItemType.Structure || header.tag !== Tag.RequestHeader) return request;
  if (header.value.some((c) => c.tag === Tag.Authentication)) return request;
  const authentication = ttlv.structure(Tag.Authentication, [
    ttlv.structure(Tag.Credential, [
      ttlv.enumeration(Tag.CredentialType, CredentialType.UsernameAndPassword),
      ttlv.structure(Tag.CredentialValue, [ttlv.textString(Tag.Username, server.username), ttlv.textString(Tag.Password, server.password)]),
    ]),
  ]);
  let at = header.value.findIndex((c) => AFTER_AUTHENTICATION.has(c.tag));
  if (at < 0) at = header.value.length;
  const items = [...header.value.slice(0, at), authentication, ...header.value.slice(at)];
  return ttlv.structure(request.tag, [ttlv.structure(header.tag, items), ...rest]);
}
