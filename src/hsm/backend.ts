// The HSM backend: what the relay asks of a PKCS#11 module, as async
// functions on plain data. Operations depend on this interface only, never on
// pkcs11js. Every argument and every result is structured-clone-able (strings,
// numbers, booleans, Buffers/Uint8Arrays, plain objects), so that one
// implementation can load the module in this process and another can run it
// in a supervised child process and forward the calls.
//
// Keys are named by their KMIP Unique Identifier (see key-id.ts): the
// upper-case hex of CKA_ID followed by `_pub`, `_priv` or `_sec`.
//
// The types of its requests and answers are in key-types.ts (key objects) and
// crypto-types.ts (ciphers, MACs, wrapping, signatures); its failures are
// HsmError (hsm-error.ts).
import type { CipherRequest, CipherResult, CipherStreamStep, MacAlgorithm, Signature, SignatureRequest, SignMechanism, StreamResult, WrapMechanism } from "./crypto-types.js";
import type { KeyDescription, KeyFilter, KeyImportRequest, KeyPairIds, KeyPairRequest, KeyUpdate, MetadataObject, SecretKeyRequest } from "./key-types.js";

/** Identity of the loaded module, from C_GetInfo. */
export interface ModuleInfo {
  /** The path the module was loaded from. */
  readonly path: string;
  readonly manufacturer: string;
  readonly libraryDescription: string;
  /** "major.minor" */
  readonly libraryVersion: string;
  /** "major.minor" */
  readonly cryptokiVersion: string;
}

/** A slot with a token present, from C_GetSlotInfo and C_GetTokenInfo. */
export interface SlotSummary {
  /** CK_SLOT_ID as a decimal string (it may exceed 2^53). */
  readonly slotId: string;
  /** The position of the slot in C_GetSlotList(true). */
  readonly index: number;
  readonly slotDescription: string;
  readonly tokenLabel: string;
  readonly tokenSerial: string;
  readonly tokenManufacturer: string;
  readonly tokenModel: string;
  /** ulMaxSessionCount; 0 means "no limit" (CK_EFFECTIVELY_INFINITE). */
  readonly maxSessionCount: number;
  readonly maxRwSessionCount: number;
  readonly tokenInitialized: boolean;
  readonly userPinInitialized: boolean;
  readonly loginRequired: boolean;
}

export interface HsmBackend {
  /** The loaded module's identity. */
  readonly module: ModuleInfo;

  /** Slots with a token present. */
  listSlots(): Promise<SlotSummary[]>;

  /**
   * The slot a KMIP username selects (compat rule): first a token whose label,
   * trailing spaces trimmed, equals it; then a slot whose id equals it; then
   * the slot at that index. Throws SLOT_NOT_FOUND.
   */
  resolveSlot(username: string): Promise<SlotSummary>;

  /**
   * Authenticates a request for a slot: logs the token in on first use, and
   * afterwards compares the PIN with the one that did (salted digest,
   * constant time) without calling C_Login again. Throws AUTH_FAILED,
   * LOGIN_COOLDOWN or PIN_LOCKED.
   *
   * `pin` is the PIN's UTF-8 bytes: the caller zeroes them once the promise
   * settles, so a backend copies what it needs later and keeps no string of
   * it (only C_Login itself, which pkcs11js takes as a string, sees one).
   */
  authenticate(slotId: string, pin: Uint8Array): Promise<void>;

  /** Mechanisms the token offers (C_GetMechanismList), as CKM_* numbers. */
  mechanisms(slotId: string): Promise<number[]>;

  generateKeyPair(slotId: string, request: KeyPairRequest): Promise<KeyPairIds>;

  /**
   * C_CreateObject of a key a client brings (Register); returns the new
   * object's id. Its CKA_ID is its pair's when there is one (the request's
   * partner, or a key of the other class with the same public material),
   * else fresh. Throws INVALID_ARGUMENT for a partner that is not of this
   * pair, UNSUPPORTED for what the module cannot hold.
   */
  importKey(slotId: string, request: KeyImportRequest): Promise<string>;

  /** Throws ITEM_NOT_FOUND when no single object matches the id. */
  describeKey(slotId: string, keyId: string): Promise<KeyDescription>;

  /**
   * A secret key's Digest (SHA-256 of its value) computed by the token
   * (secret-digest.ts); undefined for other keys and where the token does
   * not digest keys. Asked only by the operations that report it.
   */
  digestSecretKey(slotId: string, keyId: string): Promise<Uint8Array | undefined>;

  /** C_GenerateKey: a secret key; returns its id. */
  generateSecretKey(slotId: string, request: SecretKeyRequest): Promise<string>;

  /**
   * CKA_VALUE of a secret key. Throws PERMISSION_DENIED, saying why, for a
   * key that is sensitive or not extractable.
   */
  readSecretValue(slotId: string, keyId: string): Promise<Uint8Array>;

  /**
   * C_WrapKey: a secret key encrypted inside the token with an AES key of
   * the same token (wrap.ts). Throws PERMISSION_DENIED for a key that is not
   * extractable or a wrapping key without CKA_WRAP, INVALID_ARGUMENT for a
   * wrapping key or length the mechanism cannot take.
   */
  wrapKey(slotId: string, keyId: string, wrappingKeyId: string, mechanism: WrapMechanism): Promise<Uint8Array>;

  /**
   * C_EncryptInit + C_Encrypt. Throws PERMISSION_DENIED for a key whose
   * CKA_ENCRYPT is false or whose CKA_ALLOWED_MECHANISMS refuse the
   * mechanism, INVALID_ARGUMENT for a key of another type or bad lengths.
   */
  encrypt(slotId: string, keyId: string, request: CipherRequest): Promise<CipherResult>;

  /** C_DecryptInit + C_Decrypt; GCM: a tag that does not verify is INVALID_ARGUMENT (CKR_ENCRYPTED_DATA_INVALID). */
  decrypt(slotId: string, keyId: string, request: CipherRequest): Promise<CipherResult>;

  /** C_SignInit + C_Sign with an HMAC or CMAC mechanism. */
  mac(slotId: string, keyId: string, algorithm: MacAlgorithm, data: Uint8Array): Promise<Uint8Array>;

  /** C_VerifyInit + C_Verify; false for CKR_SIGNATURE_INVALID/LEN_RANGE. */
  macVerify(slotId: string, keyId: string, algorithm: MacAlgorithm, data: Uint8Array, mac: Uint8Array): Promise<boolean>;

  /** Ids of the keys matching the filter, in token order. */
  findKeys(slotId: string, filter: KeyFilter): Promise<string[]>;

  /** The keys findKeys finds, described: one search, each object read once (not one search per key). */
  describeKeys(slotId: string, filter: KeyFilter): Promise<KeyDescription[]>;

  updateKey(slotId: string, keyId: string, update: KeyUpdate): Promise<void>;

  destroyKey(slotId: string, keyId: string): Promise<void>;

  /**
   * The metadata objects with this CKA_LABEL, or all of the relay's when
   * `label` is absent: one search, each object read once. A label may have
   * more than one (see writeMetadata).
   */
  readMetadata(slotId: string, label?: string): Promise<MetadataObject[]>;

  /**
   * Replaces the metadata objects `label` with one of this value (created
   * first, the old ones destroyed after: a crash between leaves both).
   */
  writeMetadata(slotId: string, label: string, value: Uint8Array): Promise<void>;

  /** Destroys the metadata objects `label`; none is no error. */
  destroyMetadata(slotId: string, label: string): Promise<void>;

  /**
   * C_SignInit + C_Sign with the mechanism the request and the key select,
   * on the bytes that mechanism signs (signature.ts). The key's facts are
   * learned in the same call when it is first used, so a first signature
   * costs no more calls than any other. Throws PERMISSION_DENIED for a key
   * that may not sign, INVALID_ARGUMENT for a request the key cannot do.
   */
  sign(slotId: string, keyId: string, request: SignatureRequest): Promise<Signature>;

  /** C_VerifyInit + C_Verify; false for CKR_SIGNATURE_INVALID/LEN_RANGE. */
  verify(slotId: string, keyId: string, mechanism: SignMechanism, data: Uint8Array, signature: Uint8Array): Promise<boolean>;

  /** C_GenerateRandom. */
  generateRandom(slotId: string, length: number): Promise<Uint8Array>;

  /** C_SeedRandom (RNG Seed); UNSUPPORTED when the token takes no seed. A backend without it takes no seed. */
  seedRandom?(slotId: string, seed: Uint8Array): Promise<void>;

  /**
   * Streaming Encrypt or Decrypt (KMIP 1.3; doc/architecture.md#streaming):
   * C_EncryptInit (C_DecryptInit) + C_EncryptUpdate on a session the stream
   * keeps until it ends. Returns the stream's id and the first output.
   * BUSY when the slot has as many streams as it may (half its sessions).
   * A backend without these methods does not stream.
   */
  startCipherStream?(slotId: string, keyId: string, request: CipherRequest, decrypting: boolean): Promise<CipherStreamStep>;

  /** Streaming MAC or MAC Verify (KMIP 1.3): C_SignInit (C_VerifyInit) + C_SignUpdate on a session kept for the stream, as startCipherStream. */
  startMacStream?(slotId: string, keyId: string, algorithm: MacAlgorithm, data: Uint8Array, verifying: boolean): Promise<CipherStreamStep>;

  /**
   * The next part of a stream: C_EncryptUpdate (C_SignUpdate, ...), and with
   * `final` C_EncryptFinal, which ends the stream. `extra`: a GCM Decrypt's
   * tag, a MAC Verify's MAC, with the last part. A MAC stream's last part
   * answers the MAC as its data, a MAC Verify's whether it verified.
   * ITEM_NOT_FOUND for a stream that is unknown, ended or expired. A failure
   * ends the stream.
   */
  continueCipherStream?(slotId: string, stream: string, data: Uint8Array, final: boolean, extra?: Uint8Array): Promise<StreamResult>;

  /** Ends a stream without its final part (the client went away); unknown streams are no error. */
  endCipherStream?(slotId: string, stream: string): Promise<void>;

  /** Whether the module answers (C_GetInfo or a cheap call); for health checks. */
  ping(): Promise<boolean>;

  /** Closes sessions and calls C_Finalize. */
  close(): Promise<void>;

  /**
   * After this process switched user and group ([daemon] identity): the
   * processes the backend started before, as root, switch too. Only a
   * backend that runs the module in other processes has it.
   */
  followCredentials?(): void;
}
