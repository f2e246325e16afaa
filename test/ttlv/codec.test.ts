// The encoder and decoder on the examples of KMIP 1.x 9.1.2, Big Integer
// lengths, encoder checks, and the small helpers (hex, names, builders, JSON).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  bigInteger,
  boolean,
  byteString,
  child,
  children,
  dateTime,
  enumeration,
  integer,
  interval,
  longInteger,
  structure,
  textString,
} from "../../src/ttlv/build.js";
import { decodeTtlv } from "../../src/ttlv/decode.js";
import { bigIntegerLength, encodeTtlv } from "../../src/ttlv/encode.js";
import { Operation, ResultReason } from "../../src/ttlv/enums.js";
import { TtlvError } from "../../src/ttlv/errors.js";
import { parseHex, toHex } from "../../src/ttlv/hex.js";
import { ItemType, type TtlvItem } from "../../src/ttlv/item.js";
import { fromJson, toJson } from "../../src/ttlv/json.js";
import { enumerationName, maskNames, tagName, valueTag } from "../../src/ttlv/names.js";
import { formatTtlv } from "../../src/ttlv/pretty.js";
import { Tag } from "../../src/ttlv/tags.js";

const hex = (text: string) => text.replace(/[\s|]/g, "").toUpperCase();

describe("KMIP 1.x 9.1.2 encoding examples (tag 0x420020)", () => {
  const T = 0x420020;
  const examples: [string, TtlvItem, string][] = [
    ["Integer 8", integer(T, 8), "42 00 20 | 02 | 00 00 00 04 | 00 00 00 08 00 00 00 00"],
    ["Long Integer 123456789000000000", longInteger(T, 123456789000000000n), "42 00 20 | 03 | 00 00 00 08 | 01 B6 9B 4B A5 74 92 00"],
    [
      "Big Integer 1234567890000000000000000000",
      bigInteger(T, 1234567890000000000000000000n),
      "42 00 20 | 04 | 00 00 00 10 | 00 00 00 00 03 FD 35 EB 6B C2 DF 46 18 08 00 00",
    ],
    ["Enumeration 255", enumeration(T, 255), "42 00 20 | 05 | 00 00 00 04 | 00 00 00 FF 00 00 00 00"],
    ["Boolean True", boolean(T, true), "42 00 20 | 06 | 00 00 00 08 | 00 00 00 00 00 00 00 01"],
    ["Text String Hello World", textString(T, "Hello World"), "42 00 20 | 07 | 00 00 00 0B | 48 65 6C 6C 6F 20 57 6F 72 6C 64 00 00 00 00 00"],
    ["Byte String 01 02 03", byteString(T, Uint8Array.of(1, 2, 3)), "42 00 20 | 08 | 00 00 00 03 | 01 02 03 00 00 00 00 00"],
    ["Date-Time 2008-03-14T11:56:40Z", dateTime(T, 0x47da67f8n), "42 00 20 | 09 | 00 00 00 08 | 00 00 00 00 47 DA 67 F8"],
    ["Interval 10 days", interval(T, 864000), "42 00 20 | 0A | 00 00 00 04 | 00 0D 2F 00 00 00 00 00"],
    [
      "Structure of an Enumeration and an Integer",
      structure(T, [enumeration(0x420004, 254), integer(0x420005, 255)]),
      "42 00 20 | 01 | 00 00 00 20 | 42 00 04 | 05 | 00 00 00 04 | 00 00 00 FE 00 00 00 00 | 42 00 05 | 02 | 00 00 00 04 | 00 00 00 FF 00 00 00 00",
    ],
  ];
  for (const [name, item, expected] of examples) {
    test(name, () => {
      assert.equal(toHex(encodeTtlv(item)), hex(expected));
      assert.deepEqual(toJson(decodeTtlv(parseHex(expected.replace(/\|/g, "")))), toJson(item));
    });
  }
});

describe("Big Integer", () => {
  test("minimal sign-extended length, a multiple of 8 bytes", () => {
    const cases: [bigint, number][] = [
      [0n, 8], [1n, 8], [-1n, 8], [(1n << 63n) - 1n, 8], [-(1n << 63n), 8],
      [1n << 63n, 16], [-(1n << 63n) - 1n, 16], [(1n << 127n) - 1n, 16], [1n << 127n, 24],
    ];
    for (const [value, length] of cases) {
      assert.equal(bigIntegerLength(value), length, String(value));
      const decoded = decodeTtlv(encodeTtlv(bigInteger(Tag.Modulus, value)));
      assert.equal(decoded.value, value);
    }
    assert.equal(toHex(encodeTtlv(bigInteger(Tag.Modulus, -1n))), "4200520400000008FFFFFFFFFFFFFFFF");
    assert.equal(toHex(encodeTtlv(bigInteger(Tag.Modulus, 1n << 63n))), "42005204000000100000000000000000" + "8000000000000000");
  });

  test("non-minimal sign extension on the wire is accepted", () => {
    assert.equal(decodeTtlv(parseHex("42005204 00000010 FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFE")).value, -2n);
  });
});

describe("decoder", () => {
  test("Byte String values are views into the input, not copies", () => {
    const input = encodeTtlv(structure(Tag.RequestPayload, [byteString(Tag.Data, Uint8Array.of(9, 8, 7))]));
    const data = child(decodeTtlv(input), Tag.Data)!;
    assert.ok(data.value instanceof Uint8Array);
    assert.equal(data.value.buffer, input.buffer);
    assert.equal(data.value.byteOffset, input.byteOffset + 16);
  });

  test("decodes from a view with a non-zero byte offset", () => {
    const padded = new Uint8Array(40);
    padded.set(encodeTtlv(longInteger(Tag.UsageLimitsTotal, -5n)), 8);
    assert.equal(decodeTtlv(padded.subarray(8, 24)).value, -5n);
  });

  test("Integer is signed, Enumeration and Interval unsigned", () => {
    assert.equal(decodeTtlv(parseHex("42000D02 00000004 FFFFFFFF 00000000")).value, -1);
    assert.equal(decodeTtlv(parseHex("42005C05 00000004 FFFFFFFF 00000000")).value, 0xffffffff);
    assert.equal(decodeTtlv(parseHex("4200490A 00000004 FFFFFFFF 00000000")).value, 0xffffffff);
  });

  test("a Text String keeps a leading byte order mark", () => {
    const item = textString(Tag.Username, "\uFEFFadmin");
    assert.equal(decodeTtlv(encodeTtlv(item)).value, "\uFEFFadmin");
  });
});

describe("encoder checks", () => {
  const rejects = (item: unknown, code: string, offset: number, message: RegExp) =>
    assert.throws(
      () => encodeTtlv(item as TtlvItem),
      (e: unknown) => e instanceof TtlvError && e.code === code && e.offset === offset && message.test(e.message),
    );

  test("values out of range for their item type", () => {
    rejects(integer(Tag.BatchCount, 2 ** 31), "BAD_VALUE", 0, /Integer BatchCount: 2147483648 is not a signed 32-bit integer/);
    rejects(integer(Tag.BatchCount, 1.5), "BAD_VALUE", 0, /not a signed 32-bit integer/);
    rejects(enumeration(Tag.Operation, -1), "BAD_VALUE", 0, /not an unsigned 32-bit integer/);
    rejects(longInteger(Tag.UsageLimitsTotal, 1n << 63n), "BAD_VALUE", 0, /not a signed 64-bit bigint/);
    rejects(textString(Tag.Username, "\uD800"), "BAD_VALUE", 0, /not a well-formed string/);
    rejects({ tag: Tag.Data, type: 8, value: "0102" }, "BAD_VALUE", 0, /not a Uint8Array/);
    rejects(integer(0x1000000, 1), "BAD_VALUE", 0, /not a 3-byte number/);
  });

  test("the offset is where the item would go in the output", () => {
    const item = structure(Tag.RequestMessage, [integer(Tag.BatchCount, 1), structure(Tag.BatchItem, [enumeration(Tag.Operation, 2 ** 32)])]);
    rejects(item, "BAD_VALUE", 32, /Enumeration Operation/);
  });

  test("unknown item type", () => {
    rejects({ tag: Tag.Data, type: 0x0b, value: 1 }, "UNKNOWN_TYPE", 0, /item type 11 for tag Data/);
  });
});

describe("hex", () => {
  test("parses either case with whitespace anywhere", () => {
    assert.deepEqual(parseHex(" 0a\nB c\t\r\nD0 "), Uint8Array.of(0x0a, 0xbc, 0xd0));
    assert.deepEqual(parseHex(""), new Uint8Array(0));
    assert.equal(toHex(Uint8Array.of(0, 0xab, 0xff)), "00ABFF");
  });

  test("rejects a non-hex character or an odd number of digits, by character offset", () => {
    assert.throws(() => parseHex("00 0g"), (e: unknown) => e instanceof TtlvError && e.code === "BAD_HEX" && e.offset === 4 && /"g" is not a hex digit \(at character 4\)/.test(e.message));
    assert.throws(() => parseHex("abc"), (e: unknown) => e instanceof TtlvError && e.code === "BAD_HEX" && /odd number of hex digits \(3\)/.test(e.message));
  });
});

describe("names", () => {
  test("tags by name, unknown tags in hex", () => {
    assert.equal(tagName(Tag.UniqueIdentifier), "UniqueIdentifier");
    assert.equal(tagName(0x54ffff), "0x54FFFF");
    assert.equal(tagName(0x42ffff), "0x42FFFF");
  });

  test("enumerations by the tag that holds them", () => {
    assert.equal(enumerationName(Tag.Operation, Operation.Sign), "Sign");
    assert.equal(enumerationName(Tag.ResultReason, ResultReason.ItemNotFound), "ItemNotFound");
    assert.equal(enumerationName(Tag.MaskGeneratorHashingAlgorithm, 6), "SHA256");
    assert.equal(enumerationName(Tag.Operation, 0xffff), undefined);
    assert.equal(enumerationName(Tag.UniqueIdentifier, 1), undefined);
    assert.deepEqual(maskNames(Tag.CryptographicUsageMask, 0x80000003), ["Sign", "Verify", "0x80000000"]);
    assert.equal(enumerationName(Tag.AlternativeNameType, 5), "DNSName");
  });

  test("an Attribute Value takes its values from the attribute its Attribute Name names", () => {
    assert.equal(valueTag(Tag.AttributeValue, "Cryptographic Algorithm"), Tag.CryptographicAlgorithm);
    assert.equal(valueTag(Tag.AttributeValue, "X.509 Certificate Identifier"), Tag.X509CertificateIdentifier);
    assert.equal(valueTag(Tag.AttributeValue, "x-custom"), Tag.AttributeValue);
    assert.equal(valueTag(Tag.AttributeValue, undefined), Tag.AttributeValue);
    assert.equal(valueTag(Tag.State, "Cryptographic Algorithm"), Tag.State);
  });
});

describe("builders and readers", () => {
  test("children and child select by tag", () => {
    const item = structure(Tag.ResponsePayload, [textString(Tag.UniqueIdentifier, "a"), integer(Tag.BatchCount, 1), textString(Tag.UniqueIdentifier, "b")]);
    assert.deepEqual(children(item, Tag.UniqueIdentifier).map((c) => c.value), ["a", "b"]);
    assert.equal(child(item, Tag.UniqueIdentifier)?.value, "a");
    assert.equal(child(item, Tag.Data), undefined);
    assert.deepEqual(children(integer(Tag.BatchCount, 1), Tag.BatchCount), []);
  });
});

describe("JSON form", () => {
  test("names, numbers and hex for enumerations; decimal strings for 64-bit and big values", () => {
    const item = fromJson({
      tag: "RequestPayload",
      type: "Structure",
      value: [
        { tag: "Operation", type: "Enumeration", value: "Sign" },
        { tag: "ResultReason", type: "Enumeration", value: 1 },
        { tag: "0x42005F", type: "Enumeration", value: "0x00000008" },
        { tag: "UsageLimitsTotal", type: "Long Integer", value: "-9223372036854775808" },
        { tag: "Modulus", type: "BigInteger", value: "123456789012345678901234567890" },
        { tag: "TimeStamp", type: "DateTime", value: 1700000000 },
        { tag: "Data", type: "ByteString", value: "01 02" },
        { tag: "0x540001", type: "Boolean", value: true },
        {
          tag: "Attribute",
          type: "Structure",
          value: [
            { tag: "AttributeName", type: "TextString", value: "Cryptographic Algorithm" },
            { tag: "AttributeValue", type: "Enumeration", value: "RSA" },
          ],
        },
      ],
    });
    const json = toJson(item);
    assert.deepEqual(json.value, [
      { tag: "Operation", type: "Enumeration", value: "Sign" },
      { tag: "ResultReason", type: "Enumeration", value: "ItemNotFound" },
      { tag: "PaddingMethod", type: "Enumeration", value: "Pkcs1v15" },
      { tag: "UsageLimitsTotal", type: "LongInteger", value: "-9223372036854775808" },
      { tag: "Modulus", type: "BigInteger", value: "123456789012345678901234567890" },
      { tag: "TimeStamp", type: "DateTime", value: "1700000000" },
      { tag: "Data", type: "ByteString", value: "0102" },
      { tag: "0x540001", type: "Boolean", value: true },
      {
        tag: "Attribute",
        type: "Structure",
        value: [
          { tag: "AttributeName", type: "TextString", value: "Cryptographic Algorithm" },
          { tag: "AttributeValue", type: "Enumeration", value: "RSA" },
        ],
      },
    ]);
    assert.equal(toHex(encodeTtlv(fromJson(json))), toHex(encodeTtlv(item)));
  });

  test("malformed JSON items name the path", () => {
    const rejects = (json: unknown, message: RegExp) =>
      assert.throws(() => fromJson(json), (e: unknown) => e instanceof TtlvError && e.code === "BAD_JSON" && message.test(e.message));
    rejects([], /^\$: an item must be an object/);
    rejects({ tag: "Nope", type: "Integer", value: 1 }, /^\$: unknown tag "Nope"/);
    rejects({ tag: "BatchCount", type: "Int", value: 1 }, /unknown item type "Int"/);
    rejects({ tag: "BatchCount", type: "Integer", value: "1" }, /\$\.value: a Integer value must be a number/);
    rejects({ tag: "BatchItem", type: "Structure", value: [{ tag: "Operation", type: "Enumeration", value: "Sing" }] }, /^\$\.value\[0\]\.value: .*a name from the Operation table/);
    rejects({ tag: "Data", type: "ByteString", value: "0x01" }, /hex digits/);
    rejects({ tag: "Data", type: "ByteString", value: "01", extra: 1 }, /unknown key "extra"/);
  });
});

describe("pretty printer", () => {
  test("names, values and redaction", () => {
    const item = structure(Tag.RequestMessage, [
      structure(Tag.Authentication, [structure(Tag.Credential, [structure(Tag.CredentialValue, [textString(Tag.Username, "token"), textString(Tag.Password, "1234")])])]),
      enumeration(Tag.Operation, Operation.Sign),
      enumeration(Tag.Operation, 0x99),
      integer(Tag.CryptographicUsageMask, 3),
      interval(Tag.LeaseTime, 60),
      bigInteger(Tag.Modulus, -255n),
      structure(Tag.KeyMaterial, [bigInteger(Tag.Modulus, 0xabn), bigInteger(Tag.PrivateExponent, 0x1234n), byteString(Tag.Data, Uint8Array.of(1))]),
    ]);
    assert.equal(
      formatTtlv(item),
      [
        "RequestMessage (Structure)",
        "  Authentication (Structure)",
        "    Credential (Structure)",
        "      CredentialValue (Structure)",
        '        Username (TextString): "token"',
        "        Password (TextString): <redacted>",
        "  Operation (Enumeration): Sign",
        "  Operation (Enumeration): 0x00000099",
        "  CryptographicUsageMask (Integer): 3 (Sign|Verify)",
        "  LeaseTime (Interval): 60 s",
        "  Modulus (BigInteger): -0xFF",
        "  KeyMaterial (Structure)",
        "    Modulus (BigInteger): 0xAB",
        "    PrivateExponent (BigInteger): <redacted 8 bytes>",
        "    Data (ByteString): <redacted 1 bytes>",
      ].join("\n"),
    );
    const plain = formatTtlv(item, { redact: false });
    assert.match(plain, /Password \(TextString\): "1234"/);
    assert.match(plain, /PrivateExponent \(BigInteger\): 0x1234/);
    assert.match(plain, /Data \(ByteString\): 1 bytes 01/);
  });
});

test("a Password is decoded as a view of its UTF-8 bytes, never a string; invalid UTF-8 is refused there too", () => {
  const bytes = encodeTtlv(structure(Tag.Credential, [textString(Tag.Username, "token"), textString(Tag.Password, "pâss")]));
  const tree = decodeTtlv(bytes);
  assert.equal(tree.type, ItemType.Structure);
  const [username, password] = tree.value as TtlvItem[];
  assert.equal(username!.value, "token");
  assert.ok(password!.value instanceof Uint8Array);
  assert.equal(password!.value.buffer, bytes.buffer, "a view, not a copy");
  assert.equal(Buffer.from(password!.value).toString("utf8"), "pâss");
  assert.deepEqual(encodeTtlv(tree), bytes, "it encodes back to the same bytes");
  const bad = Buffer.from(bytes);
  bad[bytes.length - 8 + 1] = 0xff; // inside the Password, the last item
  assert.throws(() => decodeTtlv(bad), (e: unknown) => e instanceof TtlvError && e.code === "BAD_UTF8");
});
