// What a key allows, remembered per key: the key type and the mechanisms of
// its CKA_ALLOWED_MECHANISMS (KeyDescription.secretMechanisms), and other
// facts fixed at its creation that callers keep here (rememberOfKey: the
// OAEP parameters a key was registered with, src/operations/ciphers.ts). An Encrypt,
// Decrypt, MAC or MAC Verify request that names no mechanism takes the key's
// own (src/operations/ciphers.ts); reading it from the token on every such
// request cost a describeKey (C_FindObjects + C_GetAttributeValue, and with
// module isolation an IPC round trip) per request: HMAC without parameters
// ran at 0.08 of direct pkcs11js (bench/README.md, "Symmetric operations").
//
// All of it is fixed at the key's creation: the relay never changes
// CKA_KEY_TYPE or CKA_ALLOWED_MECHANISMS of an existing key, and no client
// may change the Cryptographic Parameters its metadata keeps. Destroy forgets
// the key (forgetKeyMechanisms), so an id made again later is read afresh.
// Kept per backend (a module process that restarts keeps the same backend
// object, and its keys stay what they were) and bounded: past MAX_KEYS
// the oldest entry goes. With `[server] workers` each worker keeps its own;
// a key destroyed through another worker (or another relay) stays here until
// it is pushed out, which costs nothing but the entry: the next operation on
// it fails at the token with Item Not Found, as it would without the cache.
import type { HsmBackend } from "./backend.js";
import type { KeyDescription } from "./key-types.js";

export type KeyMechanisms = Pick<KeyDescription, "keyType" | "secretMechanisms">;

const MAX_KEYS = 4096;
/** Per backend, per key: each fact remembered of it (keyMechanisms, and what callers keep with rememberOfKey). */
const caches = new WeakMap<object, Map<string, Map<string, unknown>>>();

const entry = (slotId: string, keyId: string) => `${slotId}\u0000${keyId}`;

/**
 * A fact of a key that is fixed at its creation (`fact` names it), loaded
 * once per key with `load` and remembered until Destroy forgets the key.
 * A load that throws is not remembered.
 */
export async function rememberOfKey<T>(backend: HsmBackend, slotId: string, keyId: string, fact: string, load: () => Promise<T>): Promise<T> {
  let cache = caches.get(backend);
  if (cache === undefined) {
    cache = new Map();
    caches.set(backend, cache);
  }
  const name = entry(slotId, keyId);
  const facts = cache.get(name);
  if (facts?.has(fact) === true) return facts.get(fact) as T;
  const value = await load();
  let kept = cache.get(name);
  if (kept === undefined) {
    if (cache.size >= MAX_KEYS) cache.delete(cache.keys().next().value!);
    kept = new Map();
    cache.set(name, kept);
  }
  kept.set(fact, value);
  return value;
}

/** The key's type and allowed mechanisms, read from the token once per key. */
export async function keyMechanisms(backend: HsmBackend, slotId: string, keyId: string): Promise<KeyMechanisms> {
  return rememberOfKey(backend, slotId, keyId, "mechanisms", async () => {
    const key = await backend.describeKey(slotId, keyId);
    return { keyType: key.keyType, ...(key.secretMechanisms !== undefined && { secretMechanisms: key.secretMechanisms }) };
  });
}

/** Forgets what keyMechanisms and rememberOfKey remembered of a key (it is being destroyed). */
export function forgetKeyMechanisms(backend: HsmBackend, slotId: string, keyId: string): void {
  caches.get(backend)?.delete(entry(slotId, keyId));
}
