// The state machine of a managed object (KMIP 1.x section 3.22), on the model
// kept in the token (managed-object.ts). The two keys of a pair are two
// objects: changing one leaves the other as it is.
//
//   (new)                         -> Pre-Active   no Activation Date, or one to come
//   (new)                         -> Active       an Activation Date now or past
//   Pre-Active                    -> Active       Activate, or the Activation Date reached
//   Pre-Active, Active            -> Deactivated  Revoke (not a compromise), or the Deactivation Date reached
//   Pre-Active, Active, Deactivated -> Compromised Revoke with Key Compromise or CA Compromise
//   Pre-Active, Deactivated, Compromised -> gone   Destroy (doc/object-model.md#destroy)
//
// What the token must enforce, it enforces: a private key that is not Active
// has CKA_SIGN false, so no relay and no other tool signs with it. A key
// whose Activation Date has come is activated when it is next read, or when
// the token refuses it a signature (repairSigning).
import type { RevocationReason } from "../kmip/attributes.js";
import { KmipError } from "../kmip/errors.js";
import { ResultReason, RevocationReasonCode, State } from "../ttlv/enums.js";
import { commit, describeManaged, type ManagedKey, nowSeconds, signingAllowed, stateOf, stored, verifyingAllowed, withValue } from "./managed-object.js";
import type { OperationContext } from "./operation.js";

export { dateTimeOf, today } from "./legacy.js";

const COMPROMISE: ReadonlySet<number> = new Set([RevocationReasonCode.KeyCompromise, RevocationReasonCode.CaCompromise]);

export function isCompromiseReason(code: number): boolean {
  return COMPROMISE.has(code);
}

/**
 * Activate (4.19): Pre-Active -> Active with Activation Date now. An Active
 * object stays as it is (keys of other tools and of earlier relays are
 * Active already, and their clients activate them). Deactivated and
 * Compromised objects cannot be activated again: Permission Denied (11.20).
 */
export async function activateObject(context: OperationContext, id: string): Promise<ManagedKey> {
  const managed = await describeManaged(context, id);
  const state = stateOf(managed.attributes);
  if (state === State.Active) return managed;
  if (state !== State.PreActive) {
    throw new KmipError(ResultReason.PermissionDenied, `${id} is ${stateName(state)}; only a Pre-Active object can be activated`);
  }
  const attributes = withValue(withValue(managed.attributes, "State", State.Active), "Activation Date", nowSeconds());
  return commit(context, managed, attributes);
}

/**
 * Revoke (4.20): a compromise reason makes the object Compromised, with
 * Compromise Date now and the Compromise Occurrence Date given; any other
 * reason makes a Pre-Active or Active object Deactivated with Deactivation
 * Date now. The Revocation Reason is kept. Revoking a Deactivated object
 * again keeps its state and dates: PyKMIP revokes both keys of a pair, and
 * some clients revoke twice.
 */
export async function revokeObject(context: OperationContext, id: string, reason: RevocationReason, compromiseOccurrenceDate: bigint | undefined): Promise<ManagedKey> {
  const managed = await describeManaged(context, id);
  const state = stateOf(managed.attributes);
  const now = nowSeconds();
  let attributes = withValue(managed.attributes, "Revocation Reason", reason);
  if (isCompromiseReason(reason.revocationReasonCode)) {
    attributes = withValue(attributes, "State", State.Compromised);
    if (stored(attributes, "Compromise Date") === undefined) attributes = withValue(attributes, "Compromise Date", now);
    attributes = withValue(attributes, "Compromise Occurrence Date", compromiseOccurrenceDate ?? stored(attributes, "Compromise Occurrence Date") ?? now);
  } else if (state === State.PreActive || state === State.Active) {
    attributes = withValue(withValue(attributes, "State", State.Deactivated), "Deactivation Date", now);
  }
  return commit(context, managed, attributes);
}

/** Makes an Active object Deactivated (Destroy's first step by default, doc/object-model.md#destroy). */
export async function deactivateObject(context: OperationContext, managed: ManagedKey): Promise<ManagedKey> {
  const attributes = withValue(withValue(managed.attributes, "State", State.Deactivated), "Deactivation Date", nowSeconds());
  return commit(context, managed, attributes);
}

/**
 * After the token refused a signature: whether the model lets the key sign
 * (an Activation Date that has come, an Activate whose CKA_SIGN write a
 * crash cut off). Then CKA_SIGN is set and the caller tries once more.
 */
export async function repairSigning(context: OperationContext, id: string): Promise<boolean> {
  const managed = await describeManaged(context, id);
  if (managed.record === undefined || managed.key.objectClass !== "private" || !signingAllowed(managed.attributes)) return false;
  await context.backend.updateKey(context.slot.slotId, id, { sign: true });
  context.logger.info({ id }, "CKA_SIGN set: the key is Active in its metadata");
  return true;
}

/**
 * After the token refused a public key a verification: whether the model
 * lets it verify (its Process Start Date has come since CKA_VERIFY was
 * set false). Then CKA_VERIFY is set and the caller tries once more.
 */
export async function repairVerifying(context: OperationContext, id: string): Promise<boolean> {
  const managed = await describeManaged(context, id);
  if (managed.record === undefined || managed.key.objectClass !== "public" || managed.key.usage.verify || !verifyingAllowed(managed.attributes)) return false;
  await context.backend.updateKey(context.slot.slotId, id, { verify: true });
  context.logger.info({ id }, "CKA_VERIFY set: the key's Process Start Date has come");
  return true;
}

const STATE_NAMES: Readonly<Record<number, string>> = {
  [State.PreActive]: "Pre-Active",
  [State.Active]: "Active",
  [State.Deactivated]: "Deactivated",
  [State.Compromised]: "Compromised",
  [State.Destroyed]: "Destroyed",
  [State.DestroyedCompromised]: "Destroyed Compromised",
};

export function stateName(state: number): string {
  return STATE_NAMES[state] ?? `state ${state}`;
}
