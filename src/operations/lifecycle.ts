// The KMIP lifecycle kept in the token, never in the relay, so that every
// relay instance serving the token and every restart agree (README "Key
// lifecycle"). A key pair's dates live on its public key object:
//
//   public key CKA_START_DATE                   -> Activation Date (both keys)
//   public key CKA_END_DATE                     -> Deactivation Date (both keys)
//   CKA_END_DATE empty, absent or after today   -> Active
//   CKA_END_DATE today or earlier               -> Deactivated
//   private key CKA_SIGN false                  -> Deactivated
//
// Revoke sets the public key's CKA_END_DATE and clears the private key's
// CKA_SIGN. PKCS#11 v2.40 section 4.7 says dates are "for reference only"
// and tokens do not restrict keys by them; CKA_SIGN is what the token
// enforces (CKR_KEY_FUNCTION_NOT_PERMITTED), on every relay, after restarts.
//
// Why not the private key's own dates: SoftHSM 2.6 stores a date set on a
// private object unencrypted but decrypts it when read, so every later
// C_GetAttributeValue of it fails with CKR_GENERAL_ERROR. A private key
// without a public key (made by another tool) is dated by itself.
//
// Pre-Active is never reported: the original relay signed with keys it had
// just made, before any Activate (doc/compatibility.md#activate), and keys made by other tools
// carry no dates, so both count as Active. Compromised is not reported
// either: no PKCS#11 attribute can record a revocation reason, so Revoke
// records every reason alike.
import { HsmError, type KeyDescription, type KeyUpdate } from "../hsm/backend.js";
import { State } from "../ttlv/enums.js";
import { partnerId } from "./keys.js";
import type { OperationContext } from "./operation.js";

const CK_DATE = /^(\d{4})(\d{2})(\d{2})$/;

/** Today as a PKCS#11 CK_DATE ("YYYYMMDD", UTC). */
export function today(now = new Date()): string {
  return now.toISOString().slice(0, 10).replace(/-/g, "");
}

/** A CK_DATE as a KMIP Date-Time: seconds since the epoch at midnight UTC of that day. */
export function dateTimeOf(ckDate: string): bigint {
  const match = CK_DATE.exec(ckDate);
  if (match === null) throw new Error(`"${ckDate}" is not a CK_DATE (YYYYMMDD)`);
  return BigInt(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) / 1000);
}

/** A key's KMIP State and dates, as CK_DATEs ("YYYYMMDD") or null when not recorded. */
export interface KeyLifecycle {
  readonly state: number;
  readonly activationDate: string | null;
  readonly deactivationDate: string | null;
}

/**
 * The lifecycle of `key` (see above). `publicKey` is the public key of its
 * pair when `key` is a private key, undefined when there is none.
 */
export function lifecycleOf(key: KeyDescription, publicKey: KeyDescription | undefined, now = new Date()): KeyLifecycle {
  const dated = key.objectClass === "public" ? key : (publicKey ?? key);
  const ended = dated.endDate !== null && dated.endDate <= today(now);
  const signingRevoked = key.objectClass === "private" && !key.usage.sign;
  return {
    state: ended || signingRevoked ? State.Deactivated : State.Active,
    activationDate: dated.startDate,
    deactivationDate: dated.endDate,
  };
}

const isGone = (error: unknown) => error instanceof HsmError && error.code === "ITEM_NOT_FOUND";

/** A key as the token describes it, and its lifecycle (reading its public key too when it is a private key). */
export async function describeLifecycle(context: OperationContext, id: string): Promise<{ key: KeyDescription; lifecycle: KeyLifecycle }> {
  const key = await context.backend.describeKey(context.slot.slotId, id);
  let publicKey: KeyDescription | undefined;
  if (key.objectClass === "private") {
    publicKey = await context.backend.describeKey(context.slot.slotId, partnerId(id)).catch((error: unknown) => {
      if (isGone(error)) return undefined;
      throw error;
    });
  }
  return { key, lifecycle: lifecycleOf(key, publicKey) };
}

/**
 * Applies lifecycle changes to the objects of the pair `id` belongs to, the
 * private key first (so that a Revoke stops signing before anything else).
 * The object `id` names must exist; its partner may be gone (destroyed, or
 * never made by the tool that made the key).
 */
export async function updatePair(context: OperationContext, id: string, updates: { private?: KeyUpdate; public?: KeyUpdate }): Promise<void> {
  const isPrivate = id.endsWith("_priv");
  const ids = { private: isPrivate ? id : partnerId(id), public: isPrivate ? partnerId(id) : id };
  for (const objectClass of ["private", "public"] as const) {
    const update = updates[objectClass];
    if (update === undefined) continue;
    try {
      await context.backend.updateKey(context.slot.slotId, ids[objectClass], update);
    } catch (error) {
      if (ids[objectClass] === id || !isGone(error)) throw error;
    }
  }
}
