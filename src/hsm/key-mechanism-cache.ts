// What a key allows, remembered per key: the key type and the mechanisms of
// its CKA_ALLOWED_MECHANISMS (KeyDescription.secretMechanisms). An Encrypt,
// Decrypt, MAC or MAC Verify request that names no mechanism takes the key's
// own (src/operations/ciphers.ts); reading it from the token on every such
// request cost a describeKey (C_FindObjects + C_GetAttributeValue, and with
// module isolation an IPC round trip) per request: HMAC without parameters
// ran at 0.08 of direct pkcs11js (bench/README.md, "Symmetric operations").
//
// Both fields are fixed at the key's creation: the relay never changes
// CKA_KEY_TYPE or CKA_ALLOWED_MECHANISMS of an existing key. Destroy forgets
// the key (forgetKeyMechanisms), so an id made again later is read afresh.
// Kept per backend (a module process that restarts keeps the same backend
// object, and its keys stay what they were) and bounded: past MAX_KEYS
// the oldest entry goes. With `[server] workers` each worker keeps its own;
// a key destroyed through another worker (or another relay) stays here until
// it is pushed out, which costs nothing but the entry: the next operation on
// it fails at the token with Item Not Found, as it would without the cache.
import type { HsmBackend, KeyDescription } from "./backend.js";

export type KeyMechanisms = Pick<KeyDescription, "keyType" | "secretMechanisms">;

const MAX_KEYS = 4096;
const caches = new WeakMap<object, Map<string, KeyMechanisms>>();

const entry = (slotId: string, keyId: string) => `${slotId}\u0000${keyId}`;

/** The key's type and allowed mechanisms, read from the token once per key. */
export async function keyMechanisms(backend: HsmBackend, slotId: string, keyId: string): Promise<KeyMechanisms> {
  let cache = caches.get(backend);
  if (cache === undefined) {
    cache = new Map();
    caches.set(backend, cache);
  }
  const name = entry(slotId, keyId);
  const known = cache.get(name);
  if (known !== undefined) return known;
  const key = await backend.describeKey(slotId, keyId);
  const kept: KeyMechanisms = { keyType: key.keyType, ...(key.secretMechanisms !== undefined && { secretMechanisms: key.secretMechanisms }) };
  if (cache.size >= MAX_KEYS) cache.delete(cache.keys().next().value!);
  cache.set(name, kept);
  return kept;
}

/** Forgets what keyMechanisms remembered of a key (it is being destroyed). */
export function forgetKeyMechanisms(backend: HsmBackend, slotId: string, keyId: string): void {
  caches.get(backend)?.delete(entry(slotId, keyId));
}
