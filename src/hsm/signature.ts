// What a key may do with a signature request: the one place that decides,
// from the key's facts (KeyFacts), whether a key may sign or verify and with
// which mechanism, and prepares the exact bytes that mechanism signs.
//
// The relay hashes the data itself and asks the token for the raw mechanisms
// (CKM_RSA_PKCS on a DigestInfo, CKM_RSA_PKCS_PSS and CKM_ECDSA on a digest,
// CKM_EDDSA on the message), so one mechanism per key type serves every hash,
// and a digest computed by the client needs no special case. The key is
// always consulted: a request may name a scheme the key cannot do, and a
// module need not refuse that cleanly (SoftHSM 2.6 crashes on C_SignInit
// with CKM_RSA_PKCS_PSS and an EC key).
//
// Pure: the in-process backend runs it where it learns the key's facts, so
// that a first signature needs no call before the one that signs.
import { hash as digestOf } from "node:crypto";
import type { HashName, Refused, SignatureFamily, SignatureRequest, SignMechanism } from "./crypto-types.js";
import { HsmError } from "./hsm-error.js";
import type { KeyFacts, KeyType } from "./key-types.js";
import { defaultsOfMechanisms } from "./import-templates.js";
import {
  CKG_MGF1_SHA1,
  CKG_MGF1_SHA256,
  CKG_MGF1_SHA384,
  CKG_MGF1_SHA512,
  CKM_ECDSA,
  CKM_EDDSA,
  CKM_RSA_PKCS,
  CKM_RSA_PKCS_PSS,
  CKM_SHA_1,
  CKM_SHA256,
  CKM_SHA384,
  CKM_SHA512,
} from "./mechanisms.js";

interface HashInfo {
  readonly length: number;
  readonly ckm: number;
  readonly mgf: number;
  /** DER of DigestInfo (RFC 8017 section 9.2, note 1) up to the digest itself. */
  readonly digestInfoPrefix: Buffer;
}

const HASHES: Readonly<Record<HashName, HashInfo>> = {
  // SHA-1: verifying what older signers made, and the OASIS test cases; DNSSEC's own SHA-1 algorithms are deprecated (RFC 8624).
  sha1: { length: 20, ckm: CKM_SHA_1, mgf: CKG_MGF1_SHA1, digestInfoPrefix: Buffer.from("3021300906052b0e03021a05000414", "hex") },
  sha256: { length: 32, ckm: CKM_SHA256, mgf: CKG_MGF1_SHA256, digestInfoPrefix: Buffer.from("3031300d060960864801650304020105000420", "hex") },
  sha384: { length: 48, ckm: CKM_SHA384, mgf: CKG_MGF1_SHA384, digestInfoPrefix: Buffer.from("3041300d060960864801650304020205000430", "hex") },
  sha512: { length: 64, ckm: CKM_SHA512, mgf: CKG_MGF1_SHA512, digestInfoPrefix: Buffer.from("3051300d060960864801650304020305000440", "hex") },
};

/** A signature resolved against the key: its mechanism and the bytes it signs. */
export interface ResolvedSignature {
  readonly family: SignatureFamily;
  /** The digest signed (absent for EdDSA, which signs the message itself). */
  readonly hash?: HashName;
  readonly mechanism: SignMechanism;
  readonly input: Uint8Array;
}

function invalid(message: string): HsmError {
  return new HsmError("INVALID_ARGUMENT", message);
}

function isRefused<T>(value: T | Refused | undefined): value is Refused {
  return typeof value === "object" && value !== null && "refused" in value;
}

/**
 * The signature `request` asks of the key `keyId` names, checked against
 * what the key is and may do. `use` "verify" needs a public key; "sign" a
 * private one.
 */
export function resolveSignature(key: KeyFacts, keyId: string, request: SignatureRequest, use: "sign" | "verify"): ResolvedSignature {
  if (use === "verify" && key.objectClass !== "public") {
    throw new HsmError("PERMISSION_DENIED", `${keyId} is a private key, which cannot verify; verify with the public key, ${partnerOf(keyId)}`);
  }
  const { family, hash, mechanism } = chooseMechanism(key, request);
  const input = toBeSigned(family, hash, request);
  // After the scheme: a request that is wrong whatever the key says so first.
  if (use === "sign" && key.objectClass === "public") {
    throw new HsmError("PERMISSION_DENIED", `C_SignInit: ${keyId} is a public key, which cannot sign`);
  }
  return hash === undefined ? { family, mechanism, input } : { family, hash, mechanism, input };
}

/**
 * The token refused C_SignInit for the key's usage (CKR_KEY_FUNCTION_NOT_PERMITTED):
 * its CKA_SIGN is false. The token decides, not a fact kept here, since
 * another relay may revoke or activate the key at any time.
 */
export function signNotPermitted(keyId: string, error: unknown): unknown {
  if (!(error instanceof HsmError && error.ckr === "CKR_KEY_FUNCTION_NOT_PERMITTED")) return error;
  return new HsmError(
    "PERMISSION_DENIED",
    `${keyId} may not sign: its CKA_SIGN is false (revoked, or made without signing rights); ${error.message}`,
    error.fn,
    error.ckr,
  );
}

/** The other object of the key pair, as the id was written: `_priv` <-> `_pub`. */
function partnerOf(keyId: string): string {
  if (keyId.endsWith("_priv")) return `${keyId.slice(0, -"_priv".length)}_pub`;
  return `${keyId.slice(0, -"_pub".length)}_priv`;
}

function familyOfKey(keyType: KeyType): SignatureFamily {
  switch (keyType) {
    case "RSA":
      return "RSA-PKCS1";
    case "EC":
      return "ECDSA";
    case "EdDSA":
      return "EdDSA";
    default:
      throw new HsmError("UNSUPPORTED", "the key is of a type the relay cannot sign with (RSA, EC and Ed25519 keys only)");
  }
}

function describeFamily(family: SignatureFamily): string {
  return { "RSA-PKCS1": "RSA", "RSA-PSS": "RSA-PSS", ECDSA: "ECDSA", EdDSA: "Ed25519" }[family];
}

/** The hash a key signs with when the request names none: SHA-256, or the curve's size for P-384 and P-521 (RFC 5656 section 6.2.1). */
function defaultHash(family: SignatureFamily, key: KeyFacts): HashName {
  if (family === "ECDSA") {
    if (key.bits > 384) return "sha512";
    if (key.bits > 256) return "sha384";
  }
  return "sha256";
}

function chooseMechanism(key: KeyFacts, request: SignatureRequest): { family: SignatureFamily; hash?: HashName; mechanism: SignMechanism } {
  if (isRefused(request.family)) throw invalid(request.family.refused);
  const keyFamily = familyOfKey(key.keyType);
  // No Cryptographic Parameters in the request: those the key was registered with (import-templates.ts).
  const defaults = request.keyDefaults === true ? defaultsOfMechanisms(key.allowedMechanisms) : undefined;
  let family = request.family ?? defaults?.family ?? keyFamily;
  const compatible = keyFamily === family || (keyFamily === "RSA-PKCS1" && family === "RSA-PSS");
  if (!compatible) throw invalid(`a ${describeFamily(family)} signature was asked for, but the key is an ${key.keyType} key`);
  if (family === "RSA-PKCS1" && request.padding !== undefined) {
    if (isRefused(request.padding)) throw invalid(request.padding.refused);
    family = "RSA-PSS";
  }

  if (family === "EdDSA") {
    if (request.hash !== undefined) throw invalid("Ed25519 signs the message itself: the request must not name a Hashing Algorithm");
    return { family, mechanism: { mechanism: CKM_EDDSA } };
  }

  if (isRefused(request.hash)) throw invalid(request.hash.refused);
  const hash = request.hash ?? defaults?.hash ?? defaultHash(family, key);
  switch (family) {
    case "RSA-PKCS1":
      return { family, hash, mechanism: { mechanism: CKM_RSA_PKCS } };
    case "ECDSA":
      return { family, hash, mechanism: { mechanism: CKM_ECDSA } };
    case "RSA-PSS": {
      if (isRefused(request.maskGenerator)) throw invalid(request.maskGenerator.refused);
      if (isRefused(request.maskGeneratorHash)) throw invalid(request.maskGeneratorHash.refused);
      const info = HASHES[hash];
      const mgf = HASHES[request.maskGeneratorHash ?? hash].mgf;
      const saltLength = request.saltLength ?? info.length;
      return { family, hash, mechanism: { mechanism: CKM_RSA_PKCS_PSS, pss: { hashAlg: info.ckm, mgf, saltLength } } };
    }
  }
}

/**
 * What the mechanism signs: the DigestInfo (RSA PKCS#1 v1.5), the digest
 * (RSA-PSS, ECDSA) or the message (EdDSA).
 */
function toBeSigned(family: SignatureFamily, hash: HashName | undefined, { data, digest }: SignatureRequest): Uint8Array {
  if ((data === undefined) === (digest === undefined)) {
    throw invalid(data === undefined ? "the request carries neither Data nor Digested Data" : "the request carries both Data and Digested Data");
  }
  if (hash === undefined) {
    if (data === undefined) throw invalid("Ed25519 signs the message itself: send Data, not Digested Data");
    return data;
  }
  const info = HASHES[hash];
  let digested: Uint8Array;
  if (digest !== undefined) {
    if (digest.length !== info.length) throw invalid(`Digested Data is ${digest.length} bytes; a ${hash.toUpperCase()} digest is ${info.length}`);
    digested = digest;
  } else {
    // The one-shot form: no Hash object per signature.
    digested = digestOf(hash, data!, "buffer");
  }
  return family === "RSA-PKCS1" ? Buffer.concat([info.digestInfoPrefix, digested]) : digested;
}
