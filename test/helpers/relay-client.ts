// What the end-to-end tests of the operations share (test/e2e/lifecycle*,
// operations*, algorithms*, batch*): a KmipClient on a running relay, key
// pairs made as Cascade makes them, failures checked by Result Reason, and
// the node:crypto key of a Get answer to verify signatures with.
import assert from "node:assert/strict";
import { createPublicKey, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before } from "node:test";
import { KmipClient, type KmipClientOptions, KmipResultError } from "../../src/client/kmip-client.js";
import type { Attribute } from "../../src/kmip/attributes.js";
import type { KeyObject as KmipKeyObject, TransparentEcPublicKey, TransparentRsaPublicKey } from "../../src/kmip/objects.js";
import type { CreateKeyPairResponsePayload, GetResponsePayload } from "../../src/kmip/payloads/index.js";
import { CryptographicUsageMask, KeyFormatType, NameType, RecommendedCurve, ResultStatus } from "../../src/ttlv/enums.js";
import { enumerationName } from "../../src/ttlv/names.js";
import { Tag } from "../../src/ttlv/tags.js";
import { startRelayProcess, type RunningRelay } from "./relay.js";

/** What Cascade signs: a DNS record set, as bytes. */
export const DATA = Buffer.from("example.com. 3600 IN A 192.0.2.1");

/**
 * One relay (its own process and SoftHSM token) and one client on it
 * (KMIP 1.`minor`, the client's default version without one), for all the
 * tests of a file: started before them, closed after them. Read `relay` and
 * `client` inside the tests.
 */
export function relayAndClient(minor?: number): { readonly relay: RunningRelay; readonly client: KmipClient } {
  let relay: RunningRelay | undefined;
  let client: KmipClient | undefined;
  before(async () => {
    relay = await startRelayProcess();
    client = await connect(relay, minor === undefined ? {} : { protocolVersion: { major: 1, minor } });
  });
  after(async () => {
    await client?.close();
    await relay?.cleanup();
  });
  return {
    get relay() {
      if (relay === undefined) throw new Error("the relay is not started yet (read it inside a test)");
      return relay;
    },
    get client() {
      if (client === undefined) throw new Error("the client is not connected yet (read it inside a test)");
      return client;
    },
  };
}

/** A KmipClient on the relay, trusting its generated certificate, with the token's credential. */
export async function connect(relay: RunningRelay, options: Partial<KmipClientOptions> = {}): Promise<KmipClient> {
  return KmipClient.connect({
    host: relay.host,
    port: relay.port,
    ca: await readFile(join(relay.dir, "state", "tls", "cert.pem")),
    username: relay.token.label,
    password: relay.token.pin,
    ...options,
  });
}

export const name = (nameValue: string): Attribute => ({ name: "Name", value: { nameValue, nameType: NameType.UninterpretedTextString } });
export const algorithm = (value: number): Attribute => ({ name: "Cryptographic Algorithm", value });
export const length = (value: number): Attribute => ({ name: "Cryptographic Length", value });
export const objectType = (value: number): Attribute => ({ name: "Object Type", value });
export const usage = (value: number): Attribute => ({ name: "Cryptographic Usage Mask", value });

/** Create Key Pair as Cascade sends it: `common` in the common template, Name and usage per key. */
export function createKeyPair(client: KmipClient, common: Attribute[], label?: string, { active = true }: { active?: boolean } = {}): Promise<CreateKeyPairResponsePayload> {
  // Active: an Activation Date of now, so the pair signs at once; otherwise Pre-Active until Activate (KMIP 1.x 3.22).
  const activation: Attribute[] = active ? [{ name: "Activation Date", value: BigInt(Math.floor(Date.now() / 1000)) }] : [];
  return client.createKeyPair({
    commonTemplateAttribute: { names: [], attributes: [...common, ...activation] },
    privateKeyTemplateAttribute: { names: [], attributes: [...(label ? [name(`${label}-priv`)] : []), usage(CryptographicUsageMask.Sign)] },
    publicKeyTemplateAttribute: { names: [], attributes: [...(label ? [name(`${label}-pub`)] : []), usage(CryptographicUsageMask.Verify)] },
  });
}

/** Asserts that `promise` fails with this Result Reason and a Result Message matching `message`. */
export async function rejectsWith(promise: Promise<unknown>, reason: number, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof KmipResultError, `expected a failed batch item, got ${String(error)}`);
    assert.equal(error.resultStatus, ResultStatus.OperationFailed);
    assert.equal(enumerationName(Tag.ResultReason, error.resultReason!), enumerationName(Tag.ResultReason, reason), error.message);
    if (message !== undefined) assert.match(error.resultMessage ?? "", message);
    return true;
  });
}

const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");
const JWK_CURVES: Readonly<Record<number, string>> = {
  [RecommendedCurve.P256]: "P-256",
  [RecommendedCurve.P384]: "P-384",
  [RecommendedCurve.P521]: "P-521",
};

/**
 * The node:crypto key of a Get answer, from every format the relay answers:
 * PKCS#1, X.509 / Raw SubjectPublicKeyInfo, Transparent RSA and EC Public
 * Key, and Raw Ed25519 (`raw` says which Raw is meant).
 */
export function publicKeyOf(got: GetResponsePayload, raw: "spki" | "ed25519" = "spki"): KeyObject {
  const { keyBlock } = got.object as KmipKeyObject;
  assert.ok(keyBlock.keyValue !== undefined && !(keyBlock.keyValue instanceof Uint8Array), "the key value is in plaintext");
  const material = keyBlock.keyValue.keyMaterial;
  switch (keyBlock.keyFormatType) {
    case KeyFormatType.TransparentRSAPublicKey: {
      const { modulus, publicExponent } = material as TransparentRsaPublicKey;
      const bytes = (n: bigint) => {
        const hex = n.toString(16);
        return Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, "hex");
      };
      return createPublicKey({ key: { kty: "RSA", n: b64url(bytes(modulus)), e: b64url(bytes(publicExponent)) }, format: "jwk" });
    }
    case KeyFormatType.TransparentECPublicKey:
    case KeyFormatType.TransparentECDSAPublicKey: {
      const { recommendedCurve, qString } = material as TransparentEcPublicKey;
      const size = (qString.length - 1) / 2;
      const crv = JWK_CURVES[recommendedCurve];
      assert.ok(crv !== undefined && qString[0] === 0x04, "an uncompressed point on a NIST curve");
      return createPublicKey({
        key: { kty: "EC", crv, x: b64url(qString.subarray(1, 1 + size)), y: b64url(qString.subarray(1 + size)) },
        format: "jwk",
      });
    }
    default: {
      assert.ok(material instanceof Uint8Array, "the key material is a byte string");
      if (keyBlock.keyFormatType === KeyFormatType.Raw && raw === "ed25519") {
        return createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: b64url(material) }, format: "jwk" });
      }
      const type = keyBlock.keyFormatType === KeyFormatType.PKCS1 ? "pkcs1" : "spki";
      return createPublicKey({ key: Buffer.from(material), format: "der", type });
    }
  }
}
