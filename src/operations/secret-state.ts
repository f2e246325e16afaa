// Encrypt, Decrypt, MAC and MAC Verify read no metadata: the token refuses a
// secret key its state forbids, because the relay keeps the key's usage
// flags as its state allows (secret-usage.ts, doc/object-model.md#states).
// When the token refuses, the model is read once: an Activation Date that
// has come (or an Activate whose flag write a crash cut off) makes the key
// Active, its flags are set and the operation is tried once more; a key
// that is not Active is refused with its state named.
import { HsmError } from "../hsm/hsm-error.js";
import { KmipError } from "../kmip/errors.js";
import { ResultReason, State } from "../ttlv/enums.js";
import { stateName } from "./lifecycle.js";
import { describeManaged, stateOf } from "./managed-object.js";
import type { OperationContext } from "./operation.js";
import { flagChanges, secretDateLimits, secretTokenUsage } from "./secret-usage.js";

export async function usingSecretKey<T>(context: OperationContext, id: string, use: () => Promise<T>): Promise<T> {
  try {
    return await use();
  } catch (error) {
    if (!(error instanceof HsmError && error.code === "PERMISSION_DENIED") || !id.endsWith("_sec")) throw error;
    const managed = await describeManaged(context, id).catch(() => undefined);
    if (managed?.record === undefined) throw error;
    const state = stateOf(managed.attributes);
    if (state !== State.Active) {
      const allowed = state === State.PreActive ? "activate it first" : "a key in this state may only decrypt and verify MACs";
      throw new KmipError(ResultReason.PermissionDenied, `${id} is ${stateName(state)}; ${allowed} (${error.message})`);
    }
    const wanted = secretTokenUsage(managed.attributes);
    const update = flagChanges(wanted, managed.key.usage);
    if (Object.keys(update).length === 0) {
      const limits = secretDateLimits(managed.attributes, BigInt(Math.floor(Date.now() / 1000)));
      if (limits !== undefined) throw new KmipError(ResultReason.PermissionDenied, `${id}: ${limits.why} (${error.message})`);
      throw error;
    }
    await context.backend.updateKey(context.slot.slotId, id, update);
    context.logger.info({ id }, "usage flags set: the key is Active in its metadata");
    return use();
  }
}
