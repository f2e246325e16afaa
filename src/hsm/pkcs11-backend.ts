// The HSM backend that loads the PKCS#11 module into this process through
// pkcs11js. Slow calls (key generation, RSA signing) run on libuv's thread
// pool through pkcs11js's asynchronous forms; see sign.ts for which signing
// runs where and why.
import pkcs11js from "pkcs11js";
import { DEFAULTS } from "../config/defaults.js";
import type { Logger } from "../log/logger.js";
import type { HsmBackend, ModuleInfo, SlotSummary } from "./backend.js";
import type { CipherRequest, CipherResult, CipherStreamStep, StreamResult, MacAlgorithm, Signature, SignatureRequest, SignMechanism, WrapMechanism } from "./crypto-types.js";
import { HsmError } from "./hsm-error.js";
import type { SecretKeyRequest, KeyDescription, KeyFilter, KeyImportRequest, KeyPairIds, KeyPairRequest, KeyUpdate, MetadataObject } from "./key-types.js";
import { describeObject, readKeyFacts } from "./attributes.js";
import { CipherStreams, checkStreamable } from "./cipher-stream.js";
import { cipher, computeMac, initialMechanism, macMechanism, refusal, secretKeyTemplate, verifyMac } from "./cipher.js";
import { p11, p11Async } from "./ckr.js";
import { digestSecretKey } from "./secret-digest.js";
import { formatKeyId } from "./key-id.js";
import { checkKeyPairMechanism, checkedCkaId, factsOfSpec, unusedCkaId } from "./key-creation.js";
import { updateTemplate } from "./key-update.js";
import { DEFAULT_LOGIN_THROTTLE } from "./login.js";
import { loadModule, type LoadedModule } from "./module.js";
import { AttributeQuirks, type AttributeQuirkOptions } from "./quirks.js";
import { describeKeys, findKeyIds } from "./objects.js";
import { allowedOnFailure, checkSecret, exportableValue, prepareCipher } from "./secret-key-checks.js";
import type { Session } from "./session-pool.js";
import { signData, toBuffer, toPkcs11Mechanism, verifyData } from "./sign.js";
import { resolveSignature, signNotPermitted } from "./signature.js";
import { SlotSessions, type SlotState } from "./slot-sessions.js";
import { SlotDirectory } from "./slots.js";
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

/** The config file's [pkcs11] max-sessions default (src/config/defaults.ts). */
const DEFAULT_MAX_SESSIONS_PER_SLOT = DEFAULTS.pkcs11.maxSessions;
/** C_GenerateRandom bounds: KMIP RNG Retrieve asks for bytes, not megabytes. */
const MAX_RANDOM_LENGTH = 65_536;

class Pkcs11Backend implements HsmBackend {
  private readonly p: pkcs11js.PKCS11;
  private readonly slots: SlotDirectory;
  private readonly sessions: SlotSessions;
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
    const throttle = options.loginThrottle === null ? null : (options.loginThrottle ?? DEFAULT_LOGIN_THROTTLE);
    this.sessions = new SlotSessions(this.p, this.slots, options.maxSessionsPerSlot ?? DEFAULT_MAX_SESSIONS_PER_SLOT, throttle, logger);
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
    await this.sessions.authenticate(this.state(slotId), pin);
  }

  /** See LoginGuard.adopt; used by the isolated backend after a PIN change (isolated/pin-check.ts). */
  async adoptPin(slotId: string, pin: Uint8Array): Promise<void> {
    await this.sessions.adoptPin(this.state(slotId), pin);
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
    return this.sessions.withSession(state, async (session) => {
      const ckaId = request.ckaId === undefined ? unusedCkaId(this.p, session) : checkedCkaId(this.p, session, request.ckaId);
      const templates = keyPairTemplates(request, ckaId);
      const { mechanism } = templates;
      checkKeyPairMechanism(this.p, state.entry.handle, mechanism.mechanism, request);
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
    return this.sessions.withSession(state, (session) => {
      const { id, handle, paired } = importKey(this.p, session, request, this.quirks, this.logger, () => unusedCkaId(this.p, session));
      if (handle === undefined) return id;
      const objectClass = request.material.objectClass;
      state.keys.remember({ id, objectClass, handle });
      this.logger.info({ slotId, keyType: request.material.keyType, keyId: id, paired }, "Imported key object");
      return id;
    });
  }

  async generateSecretKey(slotId: string, request: SecretKeyRequest): Promise<string> {
    const state = this.state(slotId);
    return this.sessions.withSession(state, async (session) => {
      const ckaId = request.ckaId === undefined ? unusedCkaId(this.p, session) : checkedCkaId(this.p, session, request.ckaId);
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
    return this.sessions.withKey(state, keyId, (session, key) => exportableValue(this.p, session, key, keyId));
  }

  async wrapKey(slotId: string, keyId: string, wrappingKeyId: string, mechanism: WrapMechanism): Promise<Uint8Array> {
    const state = this.state(slotId);
    return this.sessions.withKey(state, keyId, (session, key) => state.keys.use(session, wrappingKeyId, (wrapping) => wrapSecretKey(this.p, session, mechanism, wrapping, key)));
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
    return this.sessions.withKey(state, keyId, (session, key) => {
      checkSecret(this.p, this.quirks, session, key, keyId, algorithm);
      try {
        return computeMac(this.p, session, key, algorithm, input);
      } catch (error) {
        throw refusal(keyId, "mac", algorithm, error, allowedOnFailure(this.p, session, key, error));
      }
    });
  }

  async macVerify(slotId: string, keyId: string, algorithm: MacAlgorithm, data: Uint8Array, mac: Uint8Array): Promise<boolean> {
    const [input, expected] = [toBuffer(data), toBuffer(mac)];
    const state = this.state(slotId);
    return this.sessions.withKey(state, keyId, (session, key) => {
      checkSecret(this.p, this.quirks, session, key, keyId, algorithm);
      try {
        return verifyMac(this.p, session, key, algorithm, input, expected);
      } catch (error) {
        throw refusal(keyId, "verify", algorithm, error, allowedOnFailure(this.p, session, key, error));
      }
    });
  }

  private cipher(slotId: string, keyId: string, request: CipherRequest, decrypting: boolean): Promise<CipherResult> {
    const state = this.state(slotId);
    return this.sessions.withKey(state, keyId, async (session, key) => {
      const [random, adapted] = prepareCipher(this.p, this.quirks, session, key, keyId, request, decrypting);
      try {
        return await cipher(this.p, session, key, adapted, decrypting, random);
      } catch (error) {
        throw refusal(keyId, decrypting ? "decrypt" : "encrypt", adapted.mechanism, error, allowedOnFailure(this.p, session, key, error));
      }
    });
  }

  async startCipherStream(slotId: string, keyId: string, request: CipherRequest, decrypting: boolean): Promise<CipherStreamStep> {
    const state = this.state(slotId);
    this.sessions.checkLoggedIn(state);
    const what = decrypting ? "decrypt" : "encrypt";
    const init = (session: Session): Promise<Buffer | undefined> =>
      state.keys.use(session, keyId, (key) => {
        const [random, adapted] = prepareCipher(this.p, this.quirks, session, key, keyId, request, decrypting);
        const { mechanism, made } = initialMechanism(adapted, decrypting, random);
        const [name, call] = decrypting ? (["C_DecryptInit", this.p.C_DecryptInit] as const) : (["C_EncryptInit", this.p.C_EncryptInit] as const);
        try {
          p11(name, () => call.call(this.p, session, mechanism, key.handle));
        } catch (error) {
          throw refusal(keyId, what, request.mechanism, error, allowedOnFailure(this.p, session, key, error));
        }
        return made;
      });
    checkStreamable(request);
    return this.streams.start(slotId, state.pool, keyId, request, what, init);
  }

  async startMacStream(slotId: string, keyId: string, algorithm: MacAlgorithm, data: Uint8Array, verifying: boolean): Promise<CipherStreamStep> {
    const state = this.state(slotId);
    this.sessions.checkLoggedIn(state);
    const what = verifying ? "verify" : "mac";
    const init = (session: Session): Promise<undefined> =>
      state.keys.use(session, keyId, (key) => {
        checkSecret(this.p, this.quirks, session, key, keyId, algorithm);
        const [name, call] = verifying ? (["C_VerifyInit", this.p.C_VerifyInit] as const) : (["C_SignInit", this.p.C_SignInit] as const);
        try {
          p11(name, () => call.call(this.p, session, macMechanism(algorithm), key.handle));
        } catch (error) {
          throw refusal(keyId, what, algorithm, error, allowedOnFailure(this.p, session, key, error));
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
    await this.sessions.withSession(state, (session) => p11("C_SeedRandom", () => this.p.C_SeedRandom(session, toBuffer(seed))));
  }

  async describeKey(slotId: string, keyId: string): Promise<KeyDescription> {
    const state = this.state(slotId);
    return this.sessions.withKey(state, keyId, (session, key) => describeObject(this.p, session, key.handle, key.id, key.objectClass, this.quirks));
  }

  async digestSecretKey(slotId: string, keyId: string): Promise<Uint8Array | undefined> {
    const state = this.state(slotId);
    return this.sessions.withKey(state, keyId, (session, key) => (key.objectClass === "secret" ? digestSecretKey(this.p, session, key.handle) : undefined));
  }

  async findKeys(slotId: string, filter: KeyFilter): Promise<string[]> {
    const state = this.state(slotId);
    return this.sessions.withSession(state, (session) => findKeyIds(this.p, session, filter, this.quirks));
  }

  async describeKeys(slotId: string, filter: KeyFilter): Promise<KeyDescription[]> {
    const state = this.state(slotId);
    return this.sessions.withSession(state, (session) => describeKeys(this.p, session, filter, this.quirks));
  }

  async updateKey(slotId: string, keyId: string, update: KeyUpdate): Promise<void> {
    const template = updateTemplate(update);
    const state = this.state(slotId);
    await this.sessions.withKey(state, keyId, (session, key) => {
      if (template.length > 0) p11("C_SetAttributeValue", () => this.p.C_SetAttributeValue(session, key.handle, template));
    });
  }

  async destroyKey(slotId: string, keyId: string): Promise<void> {
    const state = this.state(slotId);
    await this.sessions.withKey(state, keyId, (session, key) => {
      p11("C_DestroyObject", () => this.p.C_DestroyObject(session, key.handle));
      state.keys.forget(key.id);
      this.logger.info({ slotId, keyId: key.id }, "Destroyed key object");
    });
  }

  async readMetadata(slotId: string, label?: string): Promise<MetadataObject[]> {
    const state = this.state(slotId);
    return this.sessions.withSession(state, (session) => readMetadata(this.p, session, label));
  }

  async writeMetadata(slotId: string, label: string, value: Uint8Array): Promise<void> {
    const state = this.state(slotId);
    await this.sessions.withSession(state, (session) => writeMetadata(this.p, session, label, value));
  }

  async destroyMetadata(slotId: string, label: string): Promise<void> {
    const state = this.state(slotId);
    await this.sessions.withSession(state, (session) => destroyMetadata(this.p, session, label));
  }

  async sign(slotId: string, keyId: string, request: SignatureRequest): Promise<Signature> {
    const state = this.state(slotId);
    // No await of its own: every promise hop on this path costs CPU per signature.
    return this.sessions.withKey(state, keyId, (session, key) => {
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
    return this.sessions.withKey(state, keyId, (session, key) => verifyData(this.p, session, key, m, input, sig));
  }

  async generateRandom(slotId: string, length: number): Promise<Uint8Array> {
    if (!Number.isInteger(length) || length < 1 || length > MAX_RANDOM_LENGTH) {
      throw new HsmError("INVALID_ARGUMENT", `C_GenerateRandom: length ${length} is outside 1..${MAX_RANDOM_LENGTH}`);
    }
    const state = this.state(slotId);
    return this.sessions.withSession(state, (session) => p11("C_GenerateRandom", () => this.p.C_GenerateRandom(session, Buffer.alloc(length))));
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
    await this.sessions.closeAll();
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
    return this.sessions.get(slotId);
  }
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
