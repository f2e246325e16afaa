// The HSM backend that loads the PKCS#11 module into this process through
// pkcs11js. Slow calls (key generation, RSA signing) run on libuv's thread
// pool through pkcs11js's asynchronous forms; see sign.ts for which signing
// runs where and why.
import { randomBytes } from "node:crypto";
import pkcs11js from "pkcs11js";
import type { Logger } from "../log/logger.js";
import type { HsmBackend, ModuleInfo, SlotSummary } from "./backend.js";
import type { CipherRequest, CipherResult, CipherStreamStep, StreamResult, MacAlgorithm, SecretMechanism, Signature, SignatureRequest, SignMechanism, WrapMechanism } from "./crypto-types.js";
import { HsmError } from "./hsm-error.js";
import type { SecretKeyRequest, KeyDescription, KeyFacts, KeyFilter, KeyImportRequest, KeyPairIds, KeyPairRequest, KeyUpdate, MetadataObject } from "./key-types.js";
import { describeObject, readAttributes, readKeyFacts } from "./attributes.js";
import { CipherStreams, checkStreamable } from "./cipher-stream.js";
import { checkKeyType, cipher, computeMac, forKeyType, initialMechanism, macMechanism, parseAllowedMechanisms, refusal, secretKeyTemplate, verifyMac } from "./cipher.js";
import { hsmErrorOf, p11, p11Async } from "./ckr.js";
import { digestSecretKey } from "./secret-digest.js";
import { CURVES } from "./ec.js";
import { formatKeyId } from "./key-id.js";
import { DEFAULT_LOGIN_THROTTLE, LoginGuard, pinText, type LoginThrottle } from "./login.js";
import { loadModule, type LoadedModule } from "./module.js";
import { AttributeQuirks, type AttributeQuirkOptions } from "./quirks.js";
import { KeyHandles, describeKeys, findKeyIds, findObjects, type KeyObject } from "./objects.js";
import { SessionPool, type Session } from "./session-pool.js";
import { signData, toBuffer, toPkcs11Mechanism, verifyData } from "./sign.js";
import { resolveSignature, signNotPermitted } from "./signature.js";
import { SlotDirectory, type SlotEntry } from "./slots.js";
import { TokenAliases, type TokenSelector } from "./token-aliases.js";
import { keyPairTemplates } from "./templates.js";
import { destroyMetadata, readMetadata, writeMetadata } from "./metadata.js";
import { importKey } from "./import-key.js";
import { wrapSecretKey } from "./wrap.js";

export interface Pkcs11BackendOptions {
  libPath: string;
  /** Passed to C_Initialize in CK_C_INITIALIZE_ARGS.pReserved (NSS softokn's settings, some vendor modules'); see module.ts. */
  initArgs?: string;
  /** Names that select a token by label and/or serial number, ahead of the rule of doc/compatibility.md#username-rule (see slots.ts). */
  tokens?: Readonly<Record<string, TokenSelector>>;
  /** Attribute quirks known in advance (see quirks.ts); more are learned while running. */
  quirks?: AttributeQuirkOptions;
  /** Cap on open sessions per slot (default 16); also bounded by the token's ulMaxSessionCount and ulMaxRwSessionCount when non-zero. */
  maxSessionsPerSlot?: number;
  /**
   * Failed-login throttle per slot: after `limit` failures within `windowMs`, refuse logins for `cooldownMs` without calling C_Login (defaults 5, 60_000, 300_000).
   * null: none here, because the relay throttles per client in its own process (src/server/login-throttle.ts), where a module restart does not reset it.
   */
  loginThrottle?: { limit: number; windowMs: number; cooldownMs: number } | null;
}

const DEFAULT_MAX_SESSIONS_PER_SLOT = 16;
/** doc/compatibility.md#key-identifiers: a random 20-byte CKA_ID, checked unused, a few retries. */
const CKA_ID_LENGTH = 20;
const CKA_ID_ATTEMPTS = 5;
/** C_GenerateRandom bounds: KMIP RNG Retrieve asks for bytes, not megabytes. */
const MAX_RANDOM_LENGTH = 65_536;
/** CKA_START_DATE / CKA_END_DATE as KeyUpdate carries them (CK_DATE, PKCS#11 v2.40 section 3.3). */
const DATE = /^\d{4}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$/;

/** Session states of a logged-in user (PKCS#11 v2.40 section 3.5, CK_STATE). */
const CKS_RO_USER_FUNCTIONS = 1;
const CKS_RW_USER_FUNCTIONS = 3;

/** What the relay keeps per slot it has used. */
interface SlotState {
  readonly entry: SlotEntry;
  readonly pool: SessionPool;
  readonly login: LoginGuard;
  readonly keys: KeyHandles;
}

/** Errors after which the token is gone (removed, replaced): forget what we knew about it. */
const TOKEN_GONE: ReadonlySet<string> = new Set(["CKR_DEVICE_REMOVED", "CKR_TOKEN_NOT_PRESENT", "CKR_SLOT_ID_INVALID"]);

class Pkcs11Backend implements HsmBackend {
  private readonly p: pkcs11js.PKCS11;
  private readonly slots: SlotDirectory;
  private readonly states = new Map<string, SlotState>();
  private readonly maxSessionsPerSlot: number;
  private readonly throttle: LoginThrottle | null;
  private closing: Promise<void> | undefined;
  private readonly streams: CipherStreams;

  constructor(
    private readonly loaded: LoadedModule,
    options: Pkcs11BackendOptions,
    aliases: TokenAliases,
    private readonly quirks: AttributeQuirks,
    private readonly logger: Logger,
  ) {
    this.p = loaded.pkcs11;
    this.slots = new SlotDirectory(this.p, aliases);
    this.streams = new CipherStreams(this.p);
    this.maxSessionsPerSlot = options.maxSessionsPerSlot ?? DEFAULT_MAX_SESSIONS_PER_SLOT;
    this.throttle = options.loginThrottle === null ? null : (options.loginThrottle ?? DEFAULT_LOGIN_THROTTLE);
  }

  get module(): ModuleInfo {
    return this.loaded.info;
  }

  async listSlots(): Promise<SlotSummary[]> {
    this.checkOpen();
    return this.slots.list().map((entry) => entry.summary);
  }

  async resolveSlot(username: string): Promise<SlotSummary> {
    this.checkOpen();
    return this.slots.resolve(username).summary;
  }

  async authenticate(slotId: string, pin: Uint8Array): Promise<void> {
    const state = this.state(slotId);
    await state.login.authenticate(pin, (candidate) => state.pool.use((session) => this.logIn(session, candidate)));
  }

  /** See LoginGuard.adopt; used by the isolated backend after a PIN change (isolated/pin-check.ts). */
  async adoptPin(slotId: string, pin: Uint8Array): Promise<void> {
    const state = this.state(slotId);
    await state.login.adopt(pin, (candidate) => state.pool.use((session) => this.logIn(session, candidate)));
  }

  async mechanisms(slotId: string): Promise<number[]> {
    const { entry } = this.state(slotId);
    return p11("C_GetMechanismList", () => this.p.C_GetMechanismList(entry.handle));
  }

  /**
   * Half-made pairs. The ids go to the client only once C_GenerateKeyPair
   * has returned both handles. The operations layer writes the pair's
   * metadata object, marked pending, before this call and marks it complete
   * after, with the CKA_ID it chose (request.ckaId): a pair whose record is
   * still pending is never reported, and once older than the write timeout
   * the relay that comes across it destroys both keys and the record
   * (src/operations/managed-object.ts, doc/object-model.md#crash-safe-creation),
   * whichever relay made it. A lone key whose partner a client destroyed is
   * no leftover: its record has a complete entry for it.
   */
  async generateKeyPair(slotId: string, request: KeyPairRequest): Promise<KeyPairIds> {
    const state = this.state(slotId);
    return this.withSession(state, async (session) => {
      const ckaId = request.ckaId === undefined ? this.unusedCkaId(session) : this.checkedCkaId(session, request.ckaId);
      const templates = keyPairTemplates(request, ckaId);
      const { mechanism } = templates;
      this.checkMechanism(state.entry.handle, mechanism.mechanism, request);
      const pair = await this.quirks.generate(templates, ({ publicTemplate, privateTemplate }) =>
        p11Async("C_GenerateKeyPair", () => this.p.C_GenerateKeyPairAsync(session, mechanism, publicTemplate, privateTemplate)),
      );
      const publicKeyId = formatKeyId(ckaId, "public");
      const privateKeyId = formatKeyId(ckaId, "private");
      const facts = factsOfSpec(request);
      state.keys.remember({ id: publicKeyId, objectClass: "public", handle: pair.publicKey, facts: { ...facts, objectClass: "public" } });
      state.keys.remember({ id: privateKeyId, objectClass: "private", handle: pair.privateKey, facts: { ...facts, objectClass: "private" } });
      this.logger.info({ slotId, keyType: request.spec.keyType, publicKeyId, privateKeyId }, "Generated key pair");
      return { publicKeyId, privateKeyId };
    });
  }

  /** See import-key.ts for the CKA_ID it takes. */
  async importKey(slotId: string, request: KeyImportRequest): Promise<string> {
    const state = this.state(slotId);
    return this.withSession(state, (session) => {
      const { id, handle, paired } = importKey(this.p, session, request, this.quirks, this.logger, () => this.unusedCkaId(session));
      if (handle === undefined) return id;
      const objectClass = request.material.objectClass;
      state.keys.remember({ id, objectClass, handle });
      this.logger.info({ slotId, keyType: request.material.keyType, keyId: id, paired }, "Imported key object");
      return id;
    });
  }

  async generateSecretKey(slotId: string, request: SecretKeyRequest): Promise<string> {
    const state = this.state(slotId);
    return this.withSession(state, async (session) => {
      const ckaId = request.ckaId === undefined ? this.unusedCkaId(session) : this.checkedCkaId(session, request.ckaId);
      const { mechanism, template } = secretKeyTemplate(request, ckaId);
      const handle =
        request.value === undefined
          ? await p11Async("C_GenerateKey", () => this.p.C_GenerateKeyAsync(session, mechanism, template))
          : p11("C_CreateObject", () => this.p.C_CreateObject(session, template));
      const id = formatKeyId(ckaId, "secret");
      state.keys.remember({ id, objectClass: "secret", handle, facts: { objectClass: "secret", keyType: request.keyType, bits: request.bits } });
      this.logger.info({ slotId, keyType: request.keyType, bits: request.bits, extractable: request.extractable, keyId: id }, request.value === undefined ? "Generated secret key" : "Imported secret key");
      return id;
    });
  }

  async readSecretValue(slotId: string, keyId: string): Promise<Uint8Array> {
    const state = this.state(slotId);
    return this.withKey(state, keyId, (session, key) => {
      if (key.objectClass !== "secret") throw new HsmError("PERMISSION_DENIED", `${keyId} is not a secret key`);
      const flags = readAttributes(this.p, session, key.handle, [pkcs11js.CKA_SENSITIVE, pkcs11js.CKA_EXTRACTABLE]);
      const sensitive = (flags.get(pkcs11js.CKA_SENSITIVE)?.[0] ?? 1) !== 0;
      const extractable = (flags.get(pkcs11js.CKA_EXTRACTABLE)?.[0] ?? 0) !== 0;
      if (sensitive || !extractable) throw notExportable(keyId, sensitive, extractable);
      const value = readAttributes(this.p, session, key.handle, [pkcs11js.CKA_VALUE]).get(pkcs11js.CKA_VALUE);
      if (value === undefined) throw notExportable(keyId, true, extractable);
      return value;
    });
  }

  async wrapKey(slotId: string, keyId: string, wrappingKeyId: string, mechanism: WrapMechanism): Promise<Uint8Array> {
    const state = this.state(slotId);
    return this.withKey(state, keyId, (session, key) => state.keys.use(session, wrappingKeyId, (wrapping) => wrapSecretKey(this.p, session, mechanism, wrapping, key)));
  }

  async encrypt(slotId: string, keyId: string, request: CipherRequest): Promise<CipherResult> {
    return this.cipher(slotId, keyId, request, false);
  }

  async decrypt(slotId: string, keyId: string, request: CipherRequest): Promise<CipherResult> {
    return this.cipher(slotId, keyId, request, true);
  }

  async mac(slotId: string, keyId: string, algorithm: MacAlgorithm, data: Uint8Array): Promise<Uint8Array> {
    const input = toBuffer(data);
    const state = this.state(slotId);
    return this.withKey(state, keyId, (session, key) => {
      this.checkSecret(session, key, keyId, algorithm);
      try {
        return computeMac(this.p, session, key, algorithm, input);
      } catch (error) {
        throw refusal(keyId, "mac", algorithm, error, this.allowedOnFailure(session, key, error));
      }
    });
  }

  async macVerify(slotId: string, keyId: string, algorithm: MacAlgorithm, data: Uint8Array, mac: Uint8Array): Promise<boolean> {
    const [input, expected] = [toBuffer(data), toBuffer(mac)];
    const state = this.state(slotId);
    return this.withKey(state, keyId, (session, key) => {
      this.checkSecret(session, key, keyId, algorithm);
      try {
        return verifyMac(this.p, session, key, algorithm, input, expected);
      } catch (error) {
        throw refusal(keyId, "verify", algorithm, error, this.allowedOnFailure(session, key, error));
      }
    });
  }

  private cipher(slotId: string, keyId: string, request: CipherRequest, decrypting: boolean): Promise<CipherResult> {
    const state = this.state(slotId);
    return this.withKey(state, keyId, async (session, key) => {
      const [random, adapted] = this.cipherKey(session, key, keyId, request, decrypting);
      try {
        return await cipher(this.p, session, key, adapted, decrypting, random);
      } catch (error) {
        throw refusal(keyId, decrypting ? "decrypt" : "encrypt", adapted.mechanism, error, this.allowedOnFailure(session, key, error));
      }
    });
  }

  /** Checks the key for an Encrypt or Decrypt; returns how to make an IV on the session, and the request for the key's cipher (forKeyType). */
  private cipherKey(session: Session, key: KeyObject, keyId: string, asked: CipherRequest, decrypting: boolean): [(length: number) => Buffer, CipherRequest] {
    key.facts ??= readKeyFacts(this.p, session, key.handle, key.objectClass, this.quirks);
    const request = forKeyType(asked, key.facts.keyType);
    const facts = this.checkSecret(session, key, keyId, request.mechanism);
    if (facts.objectClass !== "secret" && facts.objectClass !== (decrypting ? "private" : "public")) {
      throw new HsmError("INVALID_ARGUMENT", `${keyId} is a ${facts.objectClass} key; RSA-OAEP ${decrypting ? "decrypts with the private" : "encrypts with the public"} key`);
    }
    const random = (length: number): Buffer => {
      if (!Number.isInteger(length) || length < 1 || length > 128) throw new HsmError("INVALID_ARGUMENT", `IV length ${length} is not 1 to 128 bytes`);
      return p11("C_GenerateRandom", () => this.p.C_GenerateRandom(session, Buffer.alloc(length)));
    };
    return [random, request];
  }

  async startCipherStream(slotId: string, keyId: string, request: CipherRequest, decrypting: boolean): Promise<CipherStreamStep> {
    const state = this.state(slotId);
    if (!state.login.loggedIn) throw new HsmError("AUTH_FAILED", `slot ${slotId}: the relay has not logged this token in; authenticate first`);
    const what = decrypting ? "decrypt" : "encrypt";
    const init = (session: Session): Promise<Buffer | undefined> =>
      state.keys.use(session, keyId, (key) => {
        const [random, adapted] = this.cipherKey(session, key, keyId, request, decrypting);
        const { mechanism, made } = initialMechanism(adapted, decrypting, random);
        const [name, call] = decrypting ? (["C_DecryptInit", this.p.C_DecryptInit] as const) : (["C_EncryptInit", this.p.C_EncryptInit] as const);
        try {
          p11(name, () => call.call(this.p, session, mechanism, key.handle));
        } catch (error) {
          throw refusal(keyId, what, request.mechanism, error, this.allowedOnFailure(session, key, error));
        }
        return made;
      });
    checkStreamable(request);
    return this.streams.start(slotId, state.pool, keyId, request, what, init);
  }

  async startMacStream(slotId: string, keyId: string, algorithm: MacAlgorithm, data: Uint8Array, verifying: boolean): Promise<CipherStreamStep> {
    const state = this.state(slotId);
    if (!state.login.loggedIn) throw new HsmError("AUTH_FAILED", `slot ${slotId}: the relay has not logged this token in; authenticate first`);
    const what = verifying ? "verify" : "mac";
    const init = (session: Session): Promise<undefined> =>
      state.keys.use(session, keyId, (key) => {
        this.checkSecret(session, key, keyId, algorithm);
        const [name, call] = verifying ? (["C_VerifyInit", this.p.C_VerifyInit] as const) : (["C_SignInit", this.p.C_SignInit] as const);
        try {
          p11(name, () => call.call(this.p, session, macMechanism(algorithm), key.handle));
        } catch (error) {
          throw refusal(keyId, what, algorithm, error, this.allowedOnFailure(session, key, error));
        }
        return undefined;
      });
    return this.streams.start(slotId, state.pool, keyId, { mechanism: algorithm, data }, what, init);
  }

  async continueCipherStream(slotId: string, stream: string, data: Uint8Array, final: boolean, extra?: Uint8Array): Promise<StreamResult> {
    this.checkOpen();
    return this.streams.continue(slotId, stream, data, final, extra);
  }

  async endCipherStream(_slotId: string, stream: string): Promise<void> {
    this.streams.end(stream);
  }

  async seedRandom(slotId: string, seed: Uint8Array): Promise<void> {
    const state = this.state(slotId);
    await this.withSession(state, (session) => p11("C_SeedRandom", () => this.p.C_SeedRandom(session, toBuffer(seed))));
  }

  /** The key's facts, read once; refuses a key of the wrong type for the mechanism. */
  private checkSecret(session: Session, key: KeyObject, keyId: string, mechanism: SecretMechanism): KeyFacts {
    key.facts ??= readKeyFacts(this.p, session, key.handle, key.objectClass, this.quirks);
    checkKeyType(keyId, key.facts, mechanism);
    return key.facts;
  }

  /** CKA_ALLOWED_MECHANISMS, read only when the token refused a mechanism, to say so. */
  private allowedOnFailure(session: Session, key: KeyObject, error: unknown): SecretMechanism[] | undefined {
    if (!(error instanceof HsmError && error.ckr === "CKR_MECHANISM_INVALID")) return undefined;
    try {
      const value = readAttributes(this.p, session, key.handle, [pkcs11js.CKA_ALLOWED_MECHANISMS]).get(pkcs11js.CKA_ALLOWED_MECHANISMS);
      return value === undefined || value.length === 0 ? undefined : parseAllowedMechanisms(value);
    } catch {
      return undefined;
    }
  }

  async describeKey(slotId: string, keyId: string): Promise<KeyDescription> {
    const state = this.state(slotId);
    return this.withKey(state, keyId, (session, key) => {
      const description = describeObject(this.p, session, key.handle, key.id, key.objectClass, this.quirks);
      if (key.objectClass !== "secret") return description;
      const digest = digestSecretKey(this.p, session, key.handle);
      return digest === undefined ? description : { ...description, digest };
    });
  }

  async findKeys(slotId: string, filter: KeyFilter): Promise<string[]> {
    const state = this.state(slotId);
    return this.withSession(state, (session) => findKeyIds(this.p, session, filter, this.quirks));
  }

  async describeKeys(slotId: string, filter: KeyFilter): Promise<KeyDescription[]> {
    const state = this.state(slotId);
    return this.withSession(state, (session) => describeKeys(this.p, session, filter, this.quirks));
  }

  async updateKey(slotId: string, keyId: string, update: KeyUpdate): Promise<void> {
    const template = updateTemplate(update);
    const state = this.state(slotId);
    await this.withKey(state, keyId, (session, key) => {
      if (template.length > 0) p11("C_SetAttributeValue", () => this.p.C_SetAttributeValue(session, key.handle, template));
    });
  }

  async destroyKey(slotId: string, keyId: string): Promise<void> {
    const state = this.state(slotId);
    await this.withKey(state, keyId, (session, key) => {
      p11("C_DestroyObject", () => this.p.C_DestroyObject(session, key.handle));
      state.keys.forget(key.id);
      this.logger.info({ slotId, keyId: key.id }, "Destroyed key object");
    });
  }

  async readMetadata(slotId: string, label?: string): Promise<MetadataObject[]> {
    const state = this.state(slotId);
    return this.withSession(state, (session) => readMetadata(this.p, session, label));
  }

  async writeMetadata(slotId: string, label: string, value: Uint8Array): Promise<void> {
    const state = this.state(slotId);
    await this.withSession(state, (session) => writeMetadata(this.p, session, label, value));
  }

  async destroyMetadata(slotId: string, label: string): Promise<void> {
    const state = this.state(slotId);
    await this.withSession(state, (session) => destroyMetadata(this.p, session, label));
  }

  async sign(slotId: string, keyId: string, request: SignatureRequest): Promise<Signature> {
    const state = this.state(slotId);
    // No await of its own: every promise hop on this path costs CPU per signature.
    return this.withKey(state, keyId, (session, key) => {
      key.facts ??= readKeyFacts(this.p, session, key.handle, key.objectClass, this.quirks);
      const { family, mechanism, input } = resolveSignature(key.facts, keyId, request, "sign");
      return signData(this.p, session, key, toPkcs11Mechanism(mechanism), toBuffer(input)).then(
        (signature) => ({ signature, family }),
        (error: unknown) => {
          throw signNotPermitted(keyId, error);
        },
      );
    });
  }

  async verify(slotId: string, keyId: string, mechanism: SignMechanism, data: Uint8Array, signature: Uint8Array): Promise<boolean> {
    const m = toPkcs11Mechanism(mechanism);
    const input = toBuffer(data);
    const sig = toBuffer(signature);
    const state = this.state(slotId);
    return this.withKey(state, keyId, (session, key) => verifyData(this.p, session, key, m, input, sig));
  }

  async generateRandom(slotId: string, length: number): Promise<Uint8Array> {
    if (!Number.isInteger(length) || length < 1 || length > MAX_RANDOM_LENGTH) {
      throw new HsmError("INVALID_ARGUMENT", `C_GenerateRandom: length ${length} is outside 1..${MAX_RANDOM_LENGTH}`);
    }
    const state = this.state(slotId);
    return this.withSession(state, (session) => p11("C_GenerateRandom", () => this.p.C_GenerateRandom(session, Buffer.alloc(length))));
  }

  async ping(): Promise<boolean> {
    if (this.closing !== undefined) return false;
    try {
      this.p.C_GetInfo();
      return true;
    } catch {
      return false;
    }
  }

  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    // Busy sessions close as their calls finish; C_Finalize must not run
    // under a call still on the thread pool.
    this.streams.endAll();
    await Promise.all([...this.states.values()].map((state) => state.pool.close()));
    this.states.clear();
    if (this.loaded.ownsInitialize) p11("C_Finalize", () => this.p.C_Finalize());
    this.p.close();
    this.logger.info({ path: this.loaded.info.path }, "PKCS#11 module finalised");
  }

  private checkOpen(): void {
    if (this.closing !== undefined) throw new HsmError("PKCS11_ERROR", "the PKCS#11 backend is closed");
  }

  /** The state of a slot with a token present. Throws SLOT_NOT_FOUND. */
  private state(slotId: string): SlotState {
    this.checkOpen();
    const entry = this.slots.byId(slotId);
    let state = this.states.get(slotId);
    if (state === undefined) {
      const login = new LoginGuard(slotId, this.throttle, this.logger);
      const keys = new KeyHandles(this.p);
      const pool = new SessionPool(this.p, entry.handle, this.sessionCap(entry.summary), () => {
        // Closing the last session ends the application's login (PKCS#11 v2.40 section 5.6, C_CloseSession).
        login.forget("no session left open");
        keys.clear();
      });
      state = { entry, pool, login, keys };
      this.states.set(slotId, state);
    }
    return state;
  }

  /** min(configured cap, ulMaxSessionCount, ulMaxRwSessionCount), where 0 is "no limit". */
  private sessionCap(summary: SlotSummary): number {
    const limits = [this.maxSessionsPerSlot, summary.maxSessionCount, summary.maxRwSessionCount].filter((n) => n > 0);
    return Math.max(1, Math.min(...limits));
  }

  /**
   * Runs `use` on a session of a slot the relay has logged in. A token that
   * is no longer logged in loses its login record; one that is gone loses
   * everything cached about it.
   */
  private async withSession<T>(state: SlotState, use: (session: Session) => T | Promise<T>): Promise<T> {
    const slotId = state.entry.summary.slotId;
    if (!state.login.loggedIn) throw new HsmError("AUTH_FAILED", `slot ${slotId}: the relay has not logged this token in; authenticate first`);
    try {
      return await state.pool.use(async (session) => {
        try {
          return await use(session);
        } catch (err) {
          throw this.loggedOutError(state, session, err);
        }
      });
    } catch (err) {
      if (err instanceof HsmError && err.ckr !== undefined && TOKEN_GONE.has(err.ckr)) {
        this.slots.invalidate();
        state.keys.clear();
      }
      throw err;
    }
  }

  /**
   * A token that logged out (another application cannot do that, but a
   * token reset or timeout can) does not always say CKR_USER_NOT_LOGGED_IN:
   * private objects simply vanish from C_FindObjects and their handles turn
   * invalid. So after any failure the session state is asked (C_GetSessionInfo,
   * PKCS#11 v2.40 section 5.6); when it is no user state, the login record is
   * dropped and the failure reported as AUTH_FAILED.
   */
  private loggedOutError(state: SlotState, session: Session, err: unknown): unknown {
    if (!(err instanceof HsmError)) return err;
    if (err.ckr === "CKR_USER_NOT_LOGGED_IN") {
      // Mapped to AUTH_FAILED already (ckr.ts).
      state.login.forget("the token reports CKR_USER_NOT_LOGGED_IN");
      return err;
    }
    if (err.code === "AUTH_FAILED") return err;
    let loggedIn: boolean;
    try {
      const { state: sessionState } = this.p.C_GetSessionInfo(session);
      loggedIn = sessionState === CKS_RW_USER_FUNCTIONS || sessionState === CKS_RO_USER_FUNCTIONS;
    } catch {
      return err; // The session itself is broken; the pool discards it.
    }
    if (loggedIn) return err;
    state.login.forget("the token is no longer logged in");
    return new HsmError("AUTH_FAILED", `${err.message}: the token is no longer logged in; the next request logs in again`, err.fn, err.ckr);
  }

  private withKey<T>(state: SlotState, keyId: string, use: (session: Session, key: KeyObject) => T | Promise<T>): Promise<T> {
    return this.withSession(state, (session) => state.keys.use(session, keyId, (key) => use(session, key)));
  }

  /**
   * C_Login as CKU_USER. CKR_USER_ALREADY_LOGGED_IN means some other code in
   * this process logged the token in (login state is per application), so
   * that C_Login checked nothing: log out and log in with this PIN once, so
   * the PIN the relay records is one the token accepted.
   */
  private logIn(session: Session, pin: Uint8Array): void {
    try {
      this.p.C_Login(session, pkcs11js.CKU_USER, pinText(pin));
      return;
    } catch (err) {
      const error = hsmErrorOf("C_Login", err);
      if (error.ckr !== "CKR_USER_ALREADY_LOGGED_IN") throw error;
    }
    this.logger.warn("Token already logged in by other code in this process; logging out to verify the PIN");
    p11("C_Logout", () => this.p.C_Logout(session));
    p11("C_Login", () => this.p.C_Login(session, pkcs11js.CKU_USER, pinText(pin)));
  }

  /**
   * Refuses, before C_GenerateKeyPair, what the token says it cannot do
   * (C_GetMechanismInfo, PKCS#11 v2.40 section 5.5): modules answer an RSA
   * size outside their range variously (SoftHSM: CKR_GENERAL_ERROR), so the
   * range is checked here to give the client a precise reason.
   */
  private checkMechanism(slot: pkcs11js.Handle, mechanism: number, request: KeyPairRequest): void {
    let info: pkcs11js.MechanismInfo;
    try {
      info = this.p.C_GetMechanismInfo(slot, mechanism);
    } catch (err) {
      const error = hsmErrorOf("C_GetMechanismInfo", err, `the token cannot generate ${request.spec.keyType} keys`);
      if (error.ckr === "CKR_MECHANISM_INVALID") throw error;
      return; // A module without C_GetMechanismInfo: let C_GenerateKeyPair decide.
    }
    const { spec } = request;
    // RSA key sizes are in bits (PKCS#11 v2.40 Current Mechanisms section 2.1.4); 0..0 means unknown.
    if (spec.keyType === "RSA" && info.maxKeySize > 0 && (spec.modulusBits < info.minKeySize || spec.modulusBits > info.maxKeySize)) {
      throw new HsmError(
        "UNSUPPORTED",
        `C_GetMechanismInfo: the token generates RSA moduli of ${info.minKeySize} to ${info.maxKeySize} bits, not ${spec.modulusBits}`,
        "C_GetMechanismInfo",
      );
    }
  }

  /** A CKA_ID the caller chose: refused when some key object has it already. */
  private checkedCkaId(session: Session, chosen: Uint8Array): Buffer {
    const ckaId = Buffer.from(chosen);
    if (ckaId.length === 0 || ckaId.length > 128) throw new HsmError("INVALID_ARGUMENT", `a CKA_ID of ${ckaId.length} bytes cannot be used`);
    if (findObjects(this.p, session, [{ type: pkcs11js.CKA_ID, value: ckaId }], 1).length > 0) {
      throw new HsmError("INVALID_ARGUMENT", `C_FindObjects: CKA_ID ${ckaId.toString("hex").toUpperCase()} is in use already`, "C_FindObjects");
    }
    return ckaId;
  }

  /** A random CKA_ID no object on the token has yet. */
  private unusedCkaId(session: Session): Buffer {
    for (let attempt = 0; attempt < CKA_ID_ATTEMPTS; attempt++) {
      const ckaId = randomBytes(CKA_ID_LENGTH);
      if (findObjects(this.p, session, [{ type: pkcs11js.CKA_ID, value: ckaId }], 1).length === 0) return ckaId;
    }
    throw new HsmError("PKCS11_ERROR", `C_FindObjects: no unused random CKA_ID after ${CKA_ID_ATTEMPTS} attempts`, "C_FindObjects");
  }
}

/** Why Get may not have a secret key's value (the relay's export policy, README "Key export"). */
function notExportable(keyId: string, sensitive: boolean, extractable: boolean): HsmError {
  const why = [sensitive ? "CKA_SENSITIVE is true" : "", extractable ? "" : "CKA_EXTRACTABLE is false"].filter((s) => s !== "").join(" and ");
  return new HsmError(
    "PERMISSION_DENIED",
    `${keyId} cannot leave the HSM: ${why} (create it with the Extractable attribute true to be able to Get it)`,
    "C_GetAttributeValue",
  );
}

/** What a key made from `request` is, but for its class. */
function factsOfSpec({ spec }: KeyPairRequest): Omit<KeyFacts, "objectClass"> {
  switch (spec.keyType) {
    case "RSA":
      return { keyType: "RSA", bits: spec.modulusBits };
    case "EC":
      return { keyType: "EC", bits: CURVES[spec.curve].bits, curve: spec.curve };
    case "EdDSA":
      return { keyType: "EdDSA", bits: CURVES[spec.curve].bits, curve: spec.curve };
  }
}

/** The C_SetAttributeValue template for a KeyUpdate. */
function updateTemplate(update: KeyUpdate): pkcs11js.Template {
  const template: pkcs11js.Template = [];
  if (update.label !== undefined) {
    // An empty CKA_LABEL is how PKCS#11 says "no label".
    template.push({ type: pkcs11js.CKA_LABEL, value: Buffer.from(update.label ?? "", "utf8") });
  }
  for (const [type, date] of [
    [pkcs11js.CKA_START_DATE, update.startDate],
    [pkcs11js.CKA_END_DATE, update.endDate],
  ] as const) {
    if (date === undefined) continue;
    if (date !== null && !DATE.test(date)) throw new HsmError("INVALID_ARGUMENT", `C_SetAttributeValue: date "${date}" is not YYYYMMDD`);
    // No value is an empty CK_DATE ("no date"); pkcs11js rejects an empty Buffer for a date.
    template.push(date === null ? { type } : { type, value: Buffer.from(date, "latin1") });
  }
  if (update.sign !== undefined) template.push({ type: pkcs11js.CKA_SIGN, value: update.sign });
  if (update.verify !== undefined) template.push({ type: pkcs11js.CKA_VERIFY, value: update.verify });
  if (update.encrypt !== undefined) template.push({ type: pkcs11js.CKA_ENCRYPT, value: update.encrypt });
  if (update.decrypt !== undefined) template.push({ type: pkcs11js.CKA_DECRYPT, value: update.decrypt });
  return template;
}

/**
 * Loads the module at `options.libPath` and returns the backend. Start-up
 * failures (no such library, C_Initialize refused, functions missing) are
 * plain Errors whose message names the path.
 */
export async function openPkcs11Backend(options: Pkcs11BackendOptions, logger: Logger): Promise<HsmBackend> {
  const positive = (name: string, n: number | undefined): void => {
    if (n !== undefined && !(Number.isSafeInteger(n) && n > 0)) throw new Error(`PKCS#11 backend: ${name} must be a positive integer, not ${n}`);
  };
  positive("maxSessionsPerSlot", options.maxSessionsPerSlot);
  positive("loginThrottle.limit", options.loginThrottle?.limit);
  positive("loginThrottle.windowMs", options.loginThrottle?.windowMs);
  positive("loginThrottle.cooldownMs", options.loginThrottle?.cooldownMs);
  // Checked before the module is loaded, so that a mistake leaves nothing to clean up.
  const aliases = new TokenAliases(options.tokens ?? {});
  const quirks = new AttributeQuirks(options.quirks ?? {}, logger);
  const loaded = loadModule(options.libPath, logger, options.initArgs);
  const [omitted, skipped] = [quirks.omittedAttributes, quirks.skippedAttributes];
  if (omitted.length > 0 || skipped.length > 0) {
    logger.info({ omitAttributes: omitted, skipAttributes: skipped }, "PKCS#11 module quirks: templates without %s; never reading %s", omitted.join(", ") || "-", skipped.join(", ") || "-");
  }
  return new Pkcs11Backend(loaded, options, aliases, quirks, logger);
}
