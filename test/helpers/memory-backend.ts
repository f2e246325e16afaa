// An HsmBackend that keeps its keys in memory, for the unit tests of the
// operations layer (test/operations/). It behaves as the PKCS#11 backend does
// on SoftHSM where an operation can tell: the key id scheme and templates of
// doc/compatibility.md#key-identifiers and #create-key-pair, the HsmError
// codes and CKR names of each failure, CKA_SIGN enforced by the "token".
// The end-to-end tests run the same operations against real SoftHSM. The key
// objects and what node:crypto does with them are in test/helpers/memory-key.ts.
//
// Key material is real (node:crypto), so Get answers real public keys. RSA
// PKCS#1 v1.5 and Ed25519 signatures are real too. node:crypto cannot sign a
// digest with ECDSA or RSA-PSS without hashing it again, so for those two the
// "signature" is a keyed digest of what was to be signed, of the right
// length, which only this backend's verify accepts: enough to test what the
// relay asks the token to sign and what it does with the answer, not the
// cryptography (that is the token's job, tested end to end).
import {
  constants,
  createSecretKey,
  privateEncrypt,
  publicDecrypt,
  randomBytes,
  sign,
  timingSafeEqual,
  verify,
  type KeyObject,
} from "node:crypto";
import type { HsmBackend, SlotSummary } from "../../src/hsm/backend.js";
import type { CipherRequest, CipherResult, MacAlgorithm, SecretMechanism, Signature, SignatureRequest, SignMechanism } from "../../src/hsm/crypto-types.js";
import { HsmError } from "../../src/hsm/hsm-error.js";
import type { KeyDescription, KeyFilter, KeyImportRequest, KeyPairIds, KeyPairRequest, KeyUpdate, MetadataObject, SecretKeyRequest } from "../../src/hsm/key-types.js";
import { resolveSignature, signNotPermitted } from "../../src/hsm/signature.js";
import { CURVES } from "../../src/hsm/ec.js";
import { formatKeyId, parseKeyId } from "../../src/hsm/key-id.js";
import { CKM_ECDSA, CKM_EDDSA, CKM_RSA_PKCS, CKM_RSA_PKCS_PSS } from "../../src/hsm/mechanisms.js";
import { checkSecret, cipherWith, hmac, keyObjects, newPair, NO_USAGE, secretValue, standIn, type MemoryKey } from "./memory-key.js";

/** A backend call as the operation made it, for tests that check what the relay asked the token. */
export interface BackendCall {
  readonly fn: string;
  readonly keyId?: string;
  readonly mechanism?: SignMechanism;
  readonly data?: Uint8Array;
  /** authenticate: the PIN's bytes as the caller gave them (not a copy), to see that the caller zeroes them. */
  readonly pin?: Uint8Array;
  /** generateSecretKey: what was asked for. */
  readonly secretKey?: SecretKeyRequest;
  /** encrypt / decrypt: the request as the operation made it; mac / macVerify: the algorithm. */
  readonly cipher?: CipherRequest;
  readonly macAlgorithm?: MacAlgorithm;
}

export interface MemoryBackendOptions {
  /** The token's label; the slot id is "1", its index 0. */
  readonly label?: string;
  readonly pin?: string;
  /** Attributes the token refuses to change (C_SetAttributeValue: CKR_ATTRIBUTE_READ_ONLY), as some modules refuse dates. */
  readonly readOnly?: readonly (keyof KeyUpdate)[];
}

const MAX_RANDOM_LENGTH = 65536;

const b64 = (text: string) => Buffer.from(text, "base64url");

export class MemoryBackend implements HsmBackend {
  readonly module = { path: "/usr/lib/memory/libmemory.so", manufacturer: "test", libraryDescription: "in-memory token", libraryVersion: "1.0", cryptokiVersion: "2.40" };
  readonly slot: SlotSummary;
  /** Every call an operation made, in order. */
  readonly calls: BackendCall[] = [];
  private readonly keys = new Map<string, MemoryKey>();
  /** The metadata objects (CKO_DATA), by CKA_LABEL. */
  private readonly metadata = new Map<string, Uint8Array>();
  private readonly pin: string;
  private readonly readOnly: ReadonlySet<string>;
  /** Failures to throw from the next call of a function, as a module fault would. */
  private readonly faults = new Map<string, HsmError>();

  constructor(options: MemoryBackendOptions = {}) {
    const label = options.label ?? "token";
    this.pin = options.pin ?? "1234";
    this.readOnly = new Set(options.readOnly ?? []);
    this.slot = {
      slotId: "1",
      index: 0,
      slotDescription: "memory slot",
      tokenLabel: label,
      tokenSerial: "0123456789abcdef",
      tokenManufacturer: "test",
      tokenModel: "memory",
      maxSessionCount: 0,
      maxRwSessionCount: 0,
      tokenInitialized: true,
      userPinInitialized: true,
      loginRequired: true,
    };
  }

  /** The next call of `fn` fails with `error` (a module crash, a timeout: faults a unit test cannot cause otherwise). */
  failNext(fn: keyof HsmBackend, error: HsmError): void {
    this.faults.set(fn, error);
  }

  /** A key object as the token holds it, for assertions; undefined when it does not exist. */
  object(id: string): Readonly<MemoryKey> | undefined {
    return this.keys.get(id);
  }

  /** Adds a key pair as another tool would make it: `usage` and dates as given, no label unless given. */
  addKeyPair(spec: KeyPairRequest["spec"], ckaId: Buffer = randomBytes(16), fields: Partial<Pick<MemoryKey, "label" | "startDate" | "endDate">> = {}): KeyPairIds {
    const ids = this.makePair({ spec }, ckaId);
    for (const id of [ids.privateKeyId, ids.publicKeyId]) Object.assign(this.keys.get(id)!, fields);
    return ids;
  }

  /** The value of the metadata object `label`, for assertions; undefined when there is none. */
  metadataObject(label: string): Uint8Array | undefined {
    return this.metadata.get(label);
  }

  /** How many metadata objects the token holds. */
  get metadataCount(): number {
    return this.metadata.size;
  }

  async listSlots(): Promise<SlotSummary[]> {
    this.record({ fn: "listSlots" });
    return [this.slot];
  }

  async resolveSlot(username: string): Promise<SlotSummary> {
    this.record({ fn: "resolveSlot" });
    if (username === this.slot.tokenLabel || username === this.slot.slotId || username === String(this.slot.index)) return this.slot;
    throw new HsmError("SLOT_NOT_FOUND", `no token matches username "${username}" (token label, slot id or slot index)`);
  }

  async authenticate(slotId: string, pin: Uint8Array): Promise<void> {
    this.record({ fn: "authenticate", pin });
    this.checkSlot(slotId);
    if (!Buffer.from(this.pin, "utf8").equals(pin)) throw new HsmError("AUTH_FAILED", "C_Login: CKR_PIN_INCORRECT", "C_Login", "CKR_PIN_INCORRECT");
  }

  async mechanisms(slotId: string): Promise<number[]> {
    this.record({ fn: "mechanisms" });
    this.checkSlot(slotId);
    return [CKM_RSA_PKCS, CKM_RSA_PKCS_PSS, CKM_ECDSA, CKM_EDDSA];
  }

  async generateKeyPair(slotId: string, request: KeyPairRequest): Promise<KeyPairIds> {
    this.record({ fn: "generateKeyPair" });
    this.checkSlot(slotId);
    const ckaId = request.ckaId === undefined ? randomBytes(20) : Buffer.from(request.ckaId);
    if (this.keys.has(formatKeyId(ckaId, "private")) || this.keys.has(formatKeyId(ckaId, "public"))) {
      throw new HsmError("INVALID_ARGUMENT", `C_FindObjects: CKA_ID ${ckaId.toString("hex").toUpperCase()} is in use already`, "C_FindObjects");
    }
    const ids = this.makePair(request, ckaId);
    Object.assign(this.keys.get(ids.privateKeyId)!.usage, request.privateUsage ?? {}, { verify: false, encrypt: false, wrap: false });
    Object.assign(this.keys.get(ids.publicKeyId)!.usage, request.publicUsage ?? {}, { sign: false, decrypt: false, unwrap: false });
    return ids;
  }

  async readMetadata(slotId: string, label?: string): Promise<MetadataObject[]> {
    this.record({ fn: "readMetadata" });
    this.checkSlot(slotId);
    return [...this.metadata].filter(([name]) => label === undefined || name === label).map(([name, value]) => ({ label: name, value: Buffer.from(value) }));
  }

  async writeMetadata(slotId: string, label: string, value: Uint8Array): Promise<void> {
    this.record({ fn: "writeMetadata" });
    this.checkSlot(slotId);
    this.metadata.set(label, Buffer.from(value));
  }

  async destroyMetadata(slotId: string, label: string): Promise<void> {
    this.record({ fn: "destroyMetadata" });
    this.checkSlot(slotId);
    this.metadata.delete(label);
  }

  async generateSecretKey(slotId: string, request: SecretKeyRequest): Promise<string> {
    this.record({ fn: "generateSecretKey", secretKey: request });
    this.checkSlot(slotId);
    if (request.keyType === "AES" && ![128, 192, 256].includes(request.bits)) {
      throw new HsmError("INVALID_ARGUMENT", `C_GenerateKey: AES keys are 128, 192 or 256 bits, not ${request.bits}`);
    }
    const id = formatKeyId(request.ckaId ?? randomBytes(20), "secret");
    const value = createSecretKey(request.value === undefined ? randomBytes(request.bits / 8) : Buffer.from(request.value));
    this.keys.set(id, {
      id,
      objectClass: "secret",
      keyType: request.keyType,
      bits: request.bits,
      label: request.label ?? null,
      usage: { ...request.usage },
      startDate: request.startDate ?? null,
      endDate: null,
      privateKey: value,
      publicKey: value,
      sensitive: request.sensitive ?? !request.extractable,
      extractable: request.extractable,
      ...(request.allowedMechanisms !== undefined && request.allowedMechanisms.length > 0 && { secretMechanisms: request.allowedMechanisms }),
    });
    return id;
  }

  async wrapKey(_slotId: string, keyId: string): Promise<Uint8Array> {
    this.record({ fn: "wrapKey", keyId });
    throw new HsmError("UNSUPPORTED", "the memory backend does not wrap keys (test/e2e/key-export.test.ts wraps with SoftHSM)", "C_WrapKey");
  }

  async readSecretValue(slotId: string, keyId: string): Promise<Uint8Array> {
    this.record({ fn: "readSecretValue", keyId });
    const key = this.find(slotId, keyId, "C_GetAttributeValue");
    if (key.objectClass !== "secret") throw new HsmError("PERMISSION_DENIED", `${keyId} is not a secret key`);
    if (key.sensitive === true || key.extractable !== true) {
      throw new HsmError("PERMISSION_DENIED", `${keyId} cannot leave the HSM: CKA_SENSITIVE is true and CKA_EXTRACTABLE is false`, "C_GetAttributeValue");
    }
    return secretValue(key).export();
  }

  async encrypt(slotId: string, keyId: string, request: CipherRequest): Promise<CipherResult> {
    return this.cipher(slotId, keyId, request, false);
  }

  async decrypt(slotId: string, keyId: string, request: CipherRequest): Promise<CipherResult> {
    return this.cipher(slotId, keyId, request, true);
  }

  async mac(slotId: string, keyId: string, algorithm: MacAlgorithm, data: Uint8Array): Promise<Uint8Array> {
    this.record({ fn: "mac", keyId, data: Buffer.from(data), macAlgorithm: algorithm });
    const key = this.secretFor(slotId, keyId, algorithm, "sign", "C_SignInit");
    return hmac(key, algorithm, data);
  }

  async macVerify(slotId: string, keyId: string, algorithm: MacAlgorithm, data: Uint8Array, mac: Uint8Array): Promise<boolean> {
    this.record({ fn: "macVerify", keyId, data: Buffer.from(data), macAlgorithm: algorithm });
    const key = this.secretFor(slotId, keyId, algorithm, "verify", "C_VerifyInit");
    const expected = hmac(key, algorithm, data);
    return expected.length === mac.length && timingSafeEqual(expected, mac);
  }

  private cipher(slotId: string, keyId: string, request: CipherRequest, decrypting: boolean): CipherResult {
    this.record({ fn: decrypting ? "decrypt" : "encrypt", keyId, data: Buffer.from(request.data), cipher: request });
    const fn = decrypting ? "C_DecryptInit" : "C_EncryptInit";
    const key = this.find(slotId, keyId, fn);
    return cipherWith(key, keyId, request, decrypting);
  }

  /** A secret key that may do `flag` with `mechanism`, refused as the PKCS#11 backend refuses it. */
  private secretFor(slotId: string, keyId: string, mechanism: SecretMechanism, flag: "sign" | "verify", fn: string): MemoryKey {
    const key = this.find(slotId, keyId, fn);
    checkSecret(key, keyId, mechanism, flag, fn);
    return key;
  }

  /** The in-memory token computes no Digest of a key, as a module without C_DigestKey. */
  async digestSecretKey(slotId: string, keyId: string): Promise<Uint8Array | undefined> {
    this.find(slotId, keyId, "C_DigestKey");
    return undefined;
  }

  async describeKey(slotId: string, keyId: string): Promise<KeyDescription> {
    this.record({ fn: "describeKey", keyId });
    const key = this.find(slotId, keyId, "C_GetAttributeValue");
    const description: KeyDescription = {
      id: key.id,
      objectClass: key.objectClass,
      keyType: key.keyType,
      bits: key.bits,
      ...(key.curve === undefined ? {} : { curve: key.curve }),
      label: key.label,
      usage: { ...key.usage },
      startDate: key.startDate,
      endDate: key.endDate,
      ...(key.allowedMechanisms === undefined ? {} : { allowedMechanisms: key.allowedMechanisms }),
    };
    // The templates of doc/compatibility.md#create-key-pair: sensitive, never extractable.
    if (key.objectClass === "private") return { ...description, protection: { sensitive: true, alwaysSensitive: true, extractable: false, neverExtractable: true } };
    if (key.objectClass === "secret") {
      return {
        ...description,
        sensitive: key.sensitive ?? true,
        extractable: key.extractable ?? false,
        ...(key.secretMechanisms !== undefined && { secretMechanisms: key.secretMechanisms }),
      };
    }
    const jwk = key.publicKey.export({ format: "jwk" });
    if (key.keyType === "RSA") return { ...description, modulus: b64(jwk.n!), publicExponent: b64(jwk.e!) };
    const ecParams = CURVES[key.curve!].oid;
    const ecPoint = key.keyType === "EdDSA" ? b64(jwk.x!) : Buffer.concat([Buffer.from([4]), b64(jwk.x!), b64(jwk.y!)]);
    return { ...description, ecParams, ecPoint };
  }

  /** As the PKCS#11 backend pairs keys (src/hsm/import-key.ts): by the Link, else by public material, else a fresh CKA_ID. */
  async importKey(slotId: string, request: KeyImportRequest): Promise<string> {
    this.record({ fn: "importKey" });
    this.checkSlot(slotId);
    const { material } = request;
    const own = material.objectClass;
    const other = own === "private" ? "public" : "private";
    const { privateKey, publicKey } = keyObjects(material);
    const spki = (key: KeyObject) => key.export({ format: "der", type: "spki" });
    const ckaIdOf = (id: string) => parseKeyId(id)!.ckaId;
    const free = (ckaId: Buffer) => !this.keys.has(formatKeyId(ckaId, own));
    let ckaId: Buffer | undefined;
    if (request.ckaId !== undefined) {
      ckaId = Buffer.from(request.ckaId);
      if (!free(ckaId)) throw new HsmError("INVALID_ARGUMENT", `the token already holds a ${own} key with that CKA_ID`);
    } else if (request.partnerId !== undefined) {
      const partner = this.keys.get(request.partnerId);
      if (partner === undefined || partner.objectClass !== other) throw new HsmError("ITEM_NOT_FOUND", `the Link names ${request.partnerId}, which is not on the token`);
      if (!spki(partner.publicKey).equals(spki(publicKey))) throw new HsmError("INVALID_ARGUMENT", `the Link names ${request.partnerId}, which is not the other half of this key`);
      if (!free(ckaIdOf(partner.id))) throw new HsmError("INVALID_ARGUMENT", `the Link names ${request.partnerId}, which already has a ${own} key`);
      ckaId = ckaIdOf(partner.id);
    } else {
      const match = [...this.keys.values()].find((k) => k.objectClass === other && spki(k.publicKey).equals(spki(publicKey)) && free(ckaIdOf(k.id)));
      ckaId = match === undefined ? randomBytes(20) : ckaIdOf(match.id);
    }
    if (request.chooseOnly === true) return formatKeyId(ckaId, own);
    const curve = material.keyType === "EC" ? material.curve : undefined;
    const bits = material.keyType === "EC" ? CURVES[material.curve].bits : publicKey.asymmetricKeyDetails!.modulusLength!;
    const id = formatKeyId(ckaId, own);
    this.keys.set(id, {
      id,
      objectClass: own,
      keyType: material.keyType,
      bits,
      ...(curve === undefined ? {} : { curve }),
      label: request.label ?? null,
      usage: { ...NO_USAGE, ...request.usage },
      startDate: null,
      endDate: null,
      ...(privateKey === undefined ? {} : { privateKey }),
      publicKey,
      ...(request.allowedMechanisms === undefined ? {} : { allowedMechanisms: request.allowedMechanisms }),
    });
    return id;
  }

  async findKeys(slotId: string, filter: KeyFilter): Promise<string[]> {
    this.record({ fn: "findKeys" });
    this.checkSlot(slotId);
    return [...this.keys.values()]
      .filter(
        (k) =>
          (filter.objectClass === undefined || k.objectClass === filter.objectClass) &&
          (filter.keyType === undefined || k.keyType === filter.keyType) &&
          (filter.label === undefined || k.label === filter.label) &&
          (filter.bits === undefined || k.bits === filter.bits),
      )
      .map((k) => k.id);
  }

  async describeKeys(slotId: string, filter: KeyFilter): Promise<KeyDescription[]> {
    const ids = await this.findKeys(slotId, filter);
    return Promise.all(ids.map((id) => this.describeKey(slotId, id)));
  }

  async updateKey(slotId: string, keyId: string, update: KeyUpdate): Promise<void> {
    this.record({ fn: "updateKey", keyId });
    const key = this.find(slotId, keyId, "C_SetAttributeValue");
    const refused = Object.keys(update).filter((name) => this.readOnly.has(name));
    if (refused.length > 0) {
      throw new HsmError("PERMISSION_DENIED", "C_SetAttributeValue: CKR_ATTRIBUTE_READ_ONLY", "C_SetAttributeValue", "CKR_ATTRIBUTE_READ_ONLY");
    }
    if (update.label !== undefined) key.label = update.label === "" ? null : update.label;
    if (update.startDate !== undefined) key.startDate = update.startDate;
    if (update.endDate !== undefined) key.endDate = update.endDate;
    if (update.sign !== undefined) key.usage.sign = update.sign;
    if (update.verify !== undefined) key.usage.verify = update.verify;
    if (update.encrypt !== undefined) key.usage.encrypt = update.encrypt;
    if (update.decrypt !== undefined) key.usage.decrypt = update.decrypt;
  }

  async destroyKey(slotId: string, keyId: string): Promise<void> {
    this.record({ fn: "destroyKey", keyId });
    this.find(slotId, keyId, "C_DestroyObject");
    this.keys.delete(keyId);
  }

  async sign(slotId: string, keyId: string, request: SignatureRequest): Promise<Signature> {
    const key = this.find(slotId, keyId, "C_SignInit");
    // The same decision the real backends make: hsm/signature.ts. The token enforces CKA_ALLOWED_MECHANISMS.
    const { family, mechanism, input } = resolveSignature(key, keyId, request, "sign");
    this.record({ fn: "sign", keyId, mechanism, data: Buffer.from(input) });
    if (!key.usage.sign) {
      throw signNotPermitted(keyId, new HsmError("PERMISSION_DENIED", "C_SignInit: CKR_KEY_FUNCTION_NOT_PERMITTED", "C_SignInit", "CKR_KEY_FUNCTION_NOT_PERMITTED"));
    }
    this.checkMechanism(key, mechanism);
    switch (mechanism.mechanism) {
      case CKM_RSA_PKCS:
        return { family, signature: privateEncrypt({ key: key.privateKey!, padding: constants.RSA_PKCS1_PADDING }, input) };
      case CKM_EDDSA:
        return { family, signature: sign(null, input, key.privateKey!) };
      default:
        return { family, signature: standIn(key, mechanism, input) };
    }
  }

  async verify(slotId: string, keyId: string, mechanism: SignMechanism, data: Uint8Array, signature: Uint8Array): Promise<boolean> {
    this.record({ fn: "verify", keyId, mechanism, data: Buffer.from(data) });
    const key = this.find(slotId, keyId, "C_VerifyInit");
    if (!key.usage.verify) {
      throw new HsmError("PERMISSION_DENIED", "C_VerifyInit: CKR_KEY_FUNCTION_NOT_PERMITTED", "C_VerifyInit", "CKR_KEY_FUNCTION_NOT_PERMITTED");
    }
    this.checkMechanism(key, mechanism);
    switch (mechanism.mechanism) {
      case CKM_RSA_PKCS:
        try {
          return publicDecrypt({ key: key.publicKey, padding: constants.RSA_PKCS1_PADDING }, signature).equals(Buffer.from(data));
        } catch {
          return false;
        }
      case CKM_EDDSA:
        return verify(null, data, key.publicKey, signature);
      default:
        return standIn(key, mechanism, data).equals(Buffer.from(signature));
    }
  }

  async generateRandom(slotId: string, length: number): Promise<Uint8Array> {
    this.record({ fn: "generateRandom" });
    this.checkSlot(slotId);
    if (!Number.isInteger(length) || length < 1 || length > MAX_RANDOM_LENGTH) {
      throw new HsmError("INVALID_ARGUMENT", `C_GenerateRandom: length ${length} is outside 1..${MAX_RANDOM_LENGTH}`);
    }
    return randomBytes(length);
  }

  async ping(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {}

  private record(call: BackendCall): void {
    this.calls.push(call);
    const fault = this.faults.get(call.fn);
    if (fault !== undefined) {
      this.faults.delete(call.fn);
      throw fault;
    }
  }

  private checkSlot(slotId: string): void {
    if (slotId !== this.slot.slotId) throw new HsmError("SLOT_NOT_FOUND", `no slot ${slotId}`);
  }

  private find(slotId: string, keyId: string, fn: string): MemoryKey {
    this.checkSlot(slotId);
    const key = this.keys.get(keyId);
    if (key === undefined) throw new HsmError("ITEM_NOT_FOUND", `${fn}: no key object ${keyId} on the token`, fn);
    return key;
  }

  private checkMechanism(key: MemoryKey, mechanism: SignMechanism): void {
    const fits =
      (key.keyType === "RSA" && (mechanism.mechanism === CKM_RSA_PKCS || mechanism.mechanism === CKM_RSA_PKCS_PSS)) ||
      (key.keyType === "EC" && mechanism.mechanism === CKM_ECDSA) ||
      (key.keyType === "EdDSA" && mechanism.mechanism === CKM_EDDSA);
    if (!fits) throw new HsmError("INVALID_ARGUMENT", "C_SignInit: CKR_KEY_TYPE_INCONSISTENT", "C_SignInit", "CKR_KEY_TYPE_INCONSISTENT");
    if (key.allowedMechanisms !== undefined && !key.allowedMechanisms.includes(mechanism.mechanism)) {
      throw new HsmError("UNSUPPORTED", "C_SignInit: CKR_MECHANISM_INVALID", "C_SignInit", "CKR_MECHANISM_INVALID");
    }
  }

  private makePair(request: Pick<KeyPairRequest, "spec" | "privateLabel" | "publicLabel">, ckaId: Buffer): KeyPairIds {
    const { spec } = request;
    const { pair, keyType, bits, curve } = newPair(spec);
    const common = { keyType, bits, ...(curve === undefined ? {} : { curve }), startDate: null, endDate: null, ...pair };
    const privateKeyId = formatKeyId(ckaId, "private");
    const publicKeyId = formatKeyId(ckaId, "public");
    // The templates of doc/compatibility.md#create-key-pair.
    this.keys.set(privateKeyId, { ...common, id: privateKeyId, objectClass: "private", label: request.privateLabel ?? null, usage: { ...NO_USAGE, sign: true } });
    this.keys.set(publicKeyId, { ...common, id: publicKeyId, objectClass: "public", label: request.publicLabel ?? null, usage: { ...NO_USAGE, verify: true } });
    return { privateKeyId, publicKeyId };
  }
}
