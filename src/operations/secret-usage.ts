// What the token lets a secret key (CKO_SECRET_KEY) do in each KMIP state
// (doc/object-model.md#states): the relay writes these flags on every state
// change, so that the token itself refuses a key its state forbids, on every
// relay and to every other tool, whatever any relay remembers.
//
//   Active                    CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN (MAC Generate), CKA_VERIFY (MAC Verify) as the mask grants
//   Deactivated, Compromised  CKA_DECRYPT and CKA_VERIFY as the mask grants (KMIP 1.x 3.22: they may still process), no Encrypt, no MAC
//   Pre-Active                none (3.22: not used for any cryptographic purpose)
//
// and within those, the key's dates (3.25, 3.26): from its Protect Stop Date
// no CKA_ENCRYPT and no CKA_SIGN (no more protection applied), before its
// Process Start Date no CKA_DECRYPT and no CKA_VERIFY (no processing yet).
//
// Secret Data and Opaque Objects kept as secret keys never get a flag: the
// token does nothing with them but hand their value to Get.
import type { Attribute } from "../kmip/attributes.js";
import { CryptographicUsageMask, ObjectType, State } from "../ttlv/enums.js";

export interface SecretTokenUsage {
  readonly encrypt: boolean;
  readonly decrypt: boolean;
  readonly sign: boolean;
  readonly verify: boolean;
}

const NONE: SecretTokenUsage = { encrypt: false, decrypt: false, sign: false, verify: false };

function valueOf(attributes: readonly Attribute[], name: string): unknown {
  return attributes.find((attribute) => attribute.name === name)?.value;
}

/** The flags a secret key of `mask` gets in `state`. */
export function secretUsageIn(state: number, mask: number): SecretTokenUsage {
  const has = (...bits: number[]) => bits.some((bit) => (mask & bit) !== 0);
  if (state === State.Active) {
    return {
      encrypt: has(CryptographicUsageMask.Encrypt),
      decrypt: has(CryptographicUsageMask.Decrypt),
      sign: has(CryptographicUsageMask.MacGenerate, CryptographicUsageMask.Sign),
      verify: has(CryptographicUsageMask.MacVerify, CryptographicUsageMask.Verify),
    };
  }
  if (state === State.Deactivated || state === State.Compromised) {
    return { ...NONE, decrypt: has(CryptographicUsageMask.Decrypt), verify: has(CryptographicUsageMask.MacVerify, CryptographicUsageMask.Verify) };
  }
  return NONE;
}

/** What the key's Protect Stop Date and Process Start Date take away `now` (seconds), and why; undefined when nothing. */
export function secretDateLimits(attributes: readonly Attribute[], now: bigint): { protect: boolean; process: boolean; why: string } | undefined {
  const stop = valueOf(attributes, "Protect Stop Date") as bigint | undefined;
  const start = valueOf(attributes, "Process Start Date") as bigint | undefined;
  const protect = stop !== undefined && stop <= now;
  const process = start !== undefined && start > now;
  if (!protect && !process) return undefined;
  const why = [
    ...(protect ? ["its Protect Stop Date has passed: it may no longer encrypt or compute MACs"] : []),
    ...(process ? ["its Process Start Date is still to come: it may not decrypt or verify MACs before it"] : []),
  ].join("; ");
  return { protect, process, why };
}

/** The flags a secret key's model gives it `now` (State, Cryptographic Usage Mask, its dates, and the Object Type it was registered as). */
export function secretTokenUsage(attributes: readonly Attribute[], now = BigInt(Math.floor(Date.now() / 1000))): SecretTokenUsage {
  const objectType = valueOf(attributes, "Object Type");
  if (objectType !== undefined && objectType !== ObjectType.SymmetricKey) return NONE;
  const state = (valueOf(attributes, "State") as number | undefined) ?? State.Active;
  const mask = (valueOf(attributes, "Cryptographic Usage Mask") as number | undefined) ?? 0;
  const usage = secretUsageIn(state, mask);
  const limits = secretDateLimits(attributes, now);
  if (limits === undefined) return usage;
  return {
    encrypt: usage.encrypt && !limits.protect,
    sign: usage.sign && !limits.protect,
    decrypt: usage.decrypt && !limits.process,
    verify: usage.verify && !limits.process,
  };
}

/**
 * The flags of `wanted` the key does not have yet (`current`, its usage as
 * read); with `granting`, only those it grants (true) or only those it takes
 * away (false), for writes on either side of the record (managed-object.ts).
 */
export function flagChanges(wanted: SecretTokenUsage, current: Partial<Record<keyof SecretTokenUsage, boolean>>, granting?: boolean): Partial<SecretTokenUsage> {
  return Object.fromEntries(
    Object.entries(wanted).filter(([flag, value]) => current[flag as keyof SecretTokenUsage] !== value && (granting === undefined || value === granting)),
  );
}
