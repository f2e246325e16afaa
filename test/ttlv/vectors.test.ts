// Every KMIP test vector decodes, re-encodes byte for byte, survives the JSON
// form, and pretty-prints with its secrets redacted.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { decodeTtlv } from "../../src/ttlv/decode.js";
import { encodeTtlv } from "../../src/ttlv/encode.js";
import { TtlvError } from "../../src/ttlv/errors.js";
import { toHex } from "../../src/ttlv/hex.js";
import { ItemType, type TtlvItem } from "../../src/ttlv/item.js";
import { fromJson, toJson } from "../../src/ttlv/json.js";
import { tagName } from "../../src/ttlv/names.js";
import { formatTtlv } from "../../src/ttlv/pretty.js";
import { Tag } from "../../src/ttlv/tags.js";
import { loadVectors, VENDOR_EXTENSION_VECTOR } from "../helpers/vectors.js";

const vectors = loadVectors();

test("the manifest lists all 87 vectors with their lengths", () => {
  assert.equal(vectors.length, 87);
  for (const v of vectors) assert.equal(v.bytes.length, v.length, v.name);
});

describe("every vector", () => {
  for (const v of vectors.filter((v) => v.name !== VENDOR_EXTENSION_VECTOR)) {
    test(v.name, () => {
      const item = decodeTtlv(v.bytes);
      assert.equal(tagName(item.tag), outerTagName(v.message));
      assert.equal(toHex(encodeTtlv(item)), toHex(v.bytes), "re-encodes byte for byte");
      assert.equal(toHex(encodeTtlv(fromJson(JSON.parse(JSON.stringify(toJson(item)))))), toHex(v.bytes), "JSON form round-trips");
      const text = formatTtlv(item);
      assert.equal(text.split("\n").length, countItems(item));
      assert.doesNotMatch(text, /\b0x42[0-9A-F]{4} /, "every tag in the vectors has a name");
      assert.doesNotMatch(text, /\(Enumeration\): 0x/, "every enumeration value in the vectors has a name");
    });
  }
});

test("the Vendor Extension whose body is not TTLV is rejected at the bogus inner item", () => {
  // README.md: the Vendor Extension 0x42009C at offset 64 holds 8 zero bytes,
  // which read as an item of tag 0x000000 and type 0x00. A strict decoder
  // rejects it; the relay answers such a message with Invalid Message.
  const v = vectors.find((v) => v.name === VENDOR_EXTENSION_VECTOR)!;
  assert.throws(
    () => decodeTtlv(v.bytes),
    (e: unknown) => e instanceof TtlvError && e.code === "UNKNOWN_TYPE" && e.offset === 72 && /type 0x00 for tag 0x000000/.test(e.message),
  );
});

describe("redaction", () => {
  const secretBearing = vectors.filter((v) => v.name !== VENDOR_EXTENSION_VECTOR && hasSecret(decodeTtlv(v.bytes)));

  test("some vectors carry key material or a password", () => {
    assert.ok(secretBearing.length >= 3, `${secretBearing.length} vectors with secrets`);
  });

  for (const v of secretBearing) {
    test(v.name, () => {
      const item = decodeTtlv(v.bytes);
      const redacted = formatTtlv(item);
      const plain = formatTtlv(item, { redact: false });
      for (const secret of secrets(item)) {
        assert.ok(!redacted.includes(secret), `redacted output shows ${secret}`);
        assert.ok(plain.includes(secret), `--no-redact output lacks ${secret}`);
      }
      assert.match(redacted, /<redacted( \d+ bytes)?>/);
    });
  }
});

/** "RequestMessage" for "request", "BatchItem" for "fragment:Batch Item". */
function outerTagName(message: string): string {
  if (message === "request" || message === "response") return message === "request" ? "RequestMessage" : "ResponseMessage";
  return message.replace(/^fragment:/, "").replace(/ /g, "");
}

function countItems(item: TtlvItem): number {
  return item.type === ItemType.Structure ? 1 + item.value.reduce((n, c) => n + countItems(c), 0) : 1;
}

function hasSecret(item: TtlvItem): boolean {
  return secrets(item).length > 0;
}

/** How formatTtlv prints the secret values in the tree: key material bytes and passwords. */
function secrets(item: TtlvItem, inKeyMaterial = false): string[] {
  if (item.type === ItemType.Structure) {
    return item.value.flatMap((c) => secrets(c, inKeyMaterial || item.tag === Tag.KeyMaterial));
  }
  if (item.type === ItemType.ByteString && (inKeyMaterial || item.tag === Tag.KeyMaterial) && item.value.length > 0) return [toHex(item.value)];
  if (item.type === ItemType.TextString && item.tag === Tag.Password) return [JSON.stringify(Buffer.from(item.value).toString("utf8"))];
  return [];
}
