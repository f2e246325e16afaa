// The comparison of the conformance player, without a server: a response
// built from the case file itself matches, and one changed value, a missing
// Attribute or a placeholder used with another value is reported.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import * as ttlv from "../../src/ttlv/build.js";
import { ItemType, type TtlvItem } from "../../src/ttlv/item.js";
import { Tag } from "../../src/ttlv/tags.js";
import { compareResponse } from "./compare.js";
import { type CaseContext, readTestCase, toTtlv } from "./kmip-xml.js";
import { CASES_DIRECTORY } from "./suite.js";

const steps = readTestCase(join(CASES_DIRECTORY, "1.4", "mandatory", "AKLC-M-1-14.xml"));
const NOW = 1_800_000_000n;

function context(): CaseContext {
  const bound = new Map<string, TtlvItem>([
    ["$UNIQUE_IDENTIFIER_0", ttlv.textString(Tag.UniqueIdentifier, "A_priv")],
    ["$UNIQUE_IDENTIFIER_1", ttlv.textString(Tag.UniqueIdentifier, "A_pub")],
  ]);
  return { now: NOW, bound };
}

/** The expected response of step 2 (Get Attributes of the private key), as TTLV, changed by `edit`. */
function response(edit: (item: TtlvItem) => TtlvItem | undefined = (i) => i): TtlvItem {
  const map = (item: TtlvItem): TtlvItem | undefined => {
    const edited = edit(item);
    if (edited === undefined || edited.type !== ItemType.Structure) return edited;
    return ttlv.structure(edited.tag, edited.value.map(map).filter((c): c is TtlvItem => c !== undefined));
  };
  return map(toTtlv(steps[1]!.response, context()))!;
}

const compare = (actual: TtlvItem) => compareResponse(steps[1]!.response, actual, { context: context(), requestDates: new Set() });

test("a response as the case expects it matches", () => {
  assert.deepEqual(compare(response()), []);
});

test("another State is reported with both names", () => {
  const actual = response((item) => (item.tag === Tag.AttributeValue && item.type === ItemType.Enumeration && item.value === 1 ? { ...item, value: 2 } : item));
  assert.deepEqual(compare(actual), ['ResponseMessage/BatchItem/ResponsePayload/Attribute "State"/AttributeValue: Active, expected PreActive']);
});

test("a missing Attribute and another identifier are reported", () => {
  let dropped = false;
  const actual = response((item) => {
    if (item.tag === Tag.Attribute && !dropped && JSON.stringify(item, (_, v) => (typeof v === "bigint" ? String(v) : v)).includes("Initial Date")) {
      dropped = true;
      return undefined;
    }
    return item.tag === Tag.UniqueIdentifier && item.type === ItemType.TextString ? { ...item, value: "B_priv" } : item;
  });
  const differences = compare(actual);
  assert.match(differences[0]!, /UniqueIdentifier: "B_priv", expected \$UNIQUE_IDENTIFIER_0 = "A_priv"/);
  assert.ok(differences.some((d) => d.endsWith('Attribute "Initial Date" missing')), differences.join("\n"));
});

test("a digest of another length is reported, another value of the same length is not", () => {
  const digest = (bytes: number) => (item: TtlvItem) => (item.tag === Tag.DigestValue ? ttlv.byteString(Tag.DigestValue, new Uint8Array(bytes)) : item);
  assert.deepEqual(compare(response(digest(32))), []);
  assert.match(compare(response(digest(20)))[0]!, /DigestValue: 20 bytes, expected 32 bytes/);
});
