// The client commands on keys, one each: create, get, locate, revoke, destroy.
import { createPublicKey } from "node:crypto";
import { writeFile } from "node:fs/promises";
import type { Attribute } from "../../kmip/attributes.js";
import type { KeyObject } from "../../kmip/objects.js";
import type { CreateKeyPairRequestPayload } from "../../kmip/payloads/index.js";
import {
  CryptographicAlgorithm,
  CryptographicUsageMask,
  KeyFormatType,
  NameType,
  ObjectType,
  RecommendedCurve,
  RevocationReasonCode,
} from "../../ttlv/enums.js";
import { Tag } from "../../ttlv/tags.js";
import { UsageError } from "../args.js";
import { Progress, ToolError } from "../tool.js";
import { choose, positiveInteger, readable, type Choice } from "./arguments.js";
import { onOneConnection, type ClientCommand } from "./command.js";

const CURVES: readonly Choice[] = [
  { name: "p-256", kmip: RecommendedCurve.P256 },
  { name: "p-384", kmip: RecommendedCurve.P384 },
  { name: "p-521", kmip: RecommendedCurve.P521 },
];
const KEY_ALGORITHMS: readonly Choice[] = [
  { name: "rsa", kmip: CryptographicAlgorithm.RSA },
  { name: "ec", kmip: CryptographicAlgorithm.ECDSA },
  { name: "ed25519", kmip: CryptographicAlgorithm.Ed25519 },
];
const GET_FORMATS: readonly Choice[] = [
  { name: "x509", kmip: KeyFormatType.X509 },
  { name: "pkcs1", kmip: KeyFormatType.PKCS1 },
  { name: "raw", kmip: KeyFormatType.Raw },
];

/** "CessationOfOperation" -> "cessation-of-operation". */
function kebab(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();
}

const REVOCATION_REASONS: readonly Choice[] = Object.entries(RevocationReasonCode).map(([name, kmip]) => ({ name: kebab(name), kmip }));

const nameAttribute = (nameValue: string): Attribute => ({ name: "Name", value: { nameValue, nameType: NameType.UninterpretedTextString } });
const usageAttribute = (value: number): Attribute => ({ name: "Cryptographic Usage Mask", value });

/**
 * Create Key Pair as Cascade sends it: algorithm and size in the common
 * template, Name and usage (Sign / Verify) per key. `values`: --algorithm, --bits, --curve, --label.
 */
export function keyPairRequest(values: { algorithm?: string; bits?: string; curve?: string; label?: string }): {
  request: CreateKeyPairRequestPayload;
  description: string;
} {
  if (values.algorithm === undefined) throw new UsageError("create needs --algorithm rsa, ec or ed25519");
  const algorithm = choose("--algorithm", values.algorithm, KEY_ALGORITHMS);
  // Activation Date now: the pair is Active at once, ready to sign (KMIP 1.x 3.22; without it, Pre-Active until Activate).
  const common: Attribute[] = [
    { name: "Cryptographic Algorithm", value: algorithm.kmip },
    { name: "Activation Date", value: BigInt(Math.floor(Date.now() / 1000)) },
  ];
  let description: string;
  if (algorithm.name === "rsa") {
    if (values.curve !== undefined) throw new UsageError("--curve is for EC keys; RSA keys take --bits");
    const bits = values.bits === undefined ? 2048 : positiveInteger("--bits", values.bits);
    common.push({ name: "Cryptographic Length", value: bits });
    description = `RSA-${bits}`;
  } else if (algorithm.name === "ec") {
    if (values.bits !== undefined) throw new UsageError("--bits is for RSA keys; EC keys take --curve");
    const curve = choose("--curve", values.curve ?? "P-256", CURVES);
    common.push({ name: "Cryptographic Domain Parameters", value: { recommendedCurve: curve.kmip } });
    description = `EC ${curve.name.toUpperCase()}`;
  } else {
    if (values.bits !== undefined || values.curve !== undefined) throw new UsageError("Ed25519 keys take neither --bits nor --curve");
    description = "Ed25519";
  }
  const named = values.label === undefined ? [] : [nameAttribute(values.label)];
  return {
    request: {
      commonTemplateAttribute: { names: [], attributes: common },
      privateKeyTemplateAttribute: { names: [], attributes: [...named, usageAttribute(CryptographicUsageMask.Sign)] },
      publicKeyTemplateAttribute: { names: [], attributes: [...named, usageAttribute(CryptographicUsageMask.Verify)] },
    },
    description,
  };
}

export const createCommand: ClientCommand = {
  name: "create",
  usage: `  create --algorithm rsa|ec|ed25519 [--bits N] [--curve P-256|P-384|P-521] [--label NAME]
                           Make an Active key pair for signing (RSA: --bits,
                           default 2048; EC: --curve, default P-256); prints
                           both ids
`,
  ids: 0,
  options: ["algorithm", "bits", "curve", "label"],
  prepare(_id, values, io) {
    const { request, description } = keyPairRequest(values);
    return onOneConnection(async (client) => {
      const progress = new Progress(io.stderr, (s) => `generating ${description} key pair... ${Math.floor(s)} s`).start();
      let created;
      try {
        created = await client.createKeyPair(request);
      } finally {
        progress.stop();
      }
      io.stdout.write(`Private key: ${created.privateKeyUniqueIdentifier}\nPublic key:  ${created.publicKeyUniqueIdentifier}\n`);
    });
  },
};

/** A public key from a Get answer: PEM for X.509 and PKCS#1, hex for Raw. */
function publicKeyOutput(object: KeyObject, format: string): { text: string; bytes?: Uint8Array; summary: string } {
  const block = object.keyBlock;
  const material = block.keyValue === undefined || block.keyValue instanceof Uint8Array ? undefined : block.keyValue.keyMaterial;
  if (!(material instanceof Uint8Array)) throw new ToolError("the server answered Get without plain key material in the asked format");
  const algorithm = block.cryptographicAlgorithm === undefined ? "key" : readable(Tag.CryptographicAlgorithm, block.cryptographicAlgorithm);
  const summary = `${algorithm}${block.cryptographicLength === undefined ? "" : `, ${block.cryptographicLength} bits`}, ${readable(Tag.KeyFormatType, block.keyFormatType)}`;
  if (format === "raw") return { text: `${Buffer.from(material).toString("hex")}\n`, bytes: material, summary };
  const type = format === "pkcs1" ? "pkcs1" : "spki";
  try {
    const pem = createPublicKey({ key: Buffer.from(material), format: "der", type }).export({ type, format: "pem" });
    return { text: pem.toString(), summary };
  } catch (err) {
    throw new ToolError(`the key material of the Get answer is not a ${format} public key: ${(err as Error).message}`);
  }
}

export const getCommand: ClientCommand = {
  name: "get",
  usage: `  get ID [--format x509|pkcs1|raw] [--out FILE]
                           A public key, as PEM (x509, the default, or pkcs1)
                           or as hex (raw)
`,
  ids: 1,
  options: ["format", "out"],
  prepare(id, values, io) {
    const format = choose("--format", values.format ?? "x509", GET_FORMATS);
    return onOneConnection(async (client) => {
      const got = await client.get({ uniqueIdentifier: id, keyFormatType: format.kmip });
      const { text, bytes, summary } = publicKeyOutput(got.object as KeyObject, format.name);
      if (values.out === undefined) io.stdout.write(`${summary}\n${text}`);
      else {
        await writeFile(values.out, bytes ?? text);
        io.stdout.write(`${summary}\nwritten to ${values.out}\n`);
      }
    });
  },
};

export const locateCommand: ClientCommand = {
  name: "locate",
  usage: `  locate [--label NAME] [--class public|private] [--type rsa|ec|ed25519] [--max N]
                           The ids of the keys that match
`,
  ids: 0,
  options: ["label", "class", "type", "max"],
  prepare(_id, values, io) {
    const attributes: Attribute[] = [];
    if (values.label !== undefined) attributes.push(nameAttribute(values.label));
    if (values.class !== undefined) {
      const objectType = choose("--class", values.class, [
        { name: "public", kmip: ObjectType.PublicKey },
        { name: "private", kmip: ObjectType.PrivateKey },
      ]);
      attributes.push({ name: "Object Type", value: objectType.kmip });
    }
    if (values.type !== undefined) attributes.push({ name: "Cryptographic Algorithm", value: choose("--type", values.type, KEY_ALGORITHMS).kmip });
    const maximumItems = values.max === undefined ? undefined : positiveInteger("--max", values.max);
    return onOneConnection(async (client) => {
      const { uniqueIdentifiers } = await client.locate({ attributes, maximumItems });
      for (const found of uniqueIdentifiers) io.stdout.write(`${found}\n`);
      if (uniqueIdentifiers.length === 0) io.stderr.write("no key matches\n");
    });
  },
};

export const revokeCommand: ClientCommand = {
  name: "revoke",
  usage: `  revoke ID [--reason REASON] [--message TEXT]
                           Revokes a key (default reason cessation-of-operation)
`,
  ids: 1,
  options: ["reason", "message"],
  prepare(id, values, io) {
    const reason = choose("--reason", values.reason ?? "cessation-of-operation", REVOCATION_REASONS);
    return onOneConnection(async (client) => {
      await client.revoke({ uniqueIdentifier: id, revocationReason: { revocationReasonCode: reason.kmip, revocationMessage: values.message } });
      io.stdout.write(`Revoked ${id} (${reason.name})\n`);
    });
  },
};

export const destroyCommand: ClientCommand = {
  name: "destroy",
  usage: "  destroy ID               Destroys a key\n",
  ids: 1,
  options: [],
  prepare: (id, _values, io) =>
    onOneConnection(async (client) => {
      await client.destroy({ uniqueIdentifier: id });
      io.stdout.write(`Destroyed ${id}\n`);
    }),
};
