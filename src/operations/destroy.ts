// Destroy (KMIP 1.x section 4.21): C_DestroyObject on the key object named,
// then its entry leaves the metadata record (the record goes with its last
// entry). The object is then gone: its id answers Item Not Found to every
// operation, on every relay; no Destroyed state outlives it
// (doc/object-model.md#destroy).
//
// 4.21 lets only objects that are not Active be destroyed. Cascade removes a
// retired key with a plain Destroy of the private key, then of the public
// key, and no Revoke before: so by default an Active object is deactivated
// first (one log line names it) and then destroyed; with [lifecycle]
// strict-destroy = true it is refused with Permission Denied (11.22).
import { KmipError } from "../kmip/errors.js";
import { decodeDestroyRequest, encodeDestroyResponse } from "../kmip/payloads/destroy.js";
import { Operation, ResultReason, State } from "../ttlv/enums.js";
import { forgetKeyMechanisms } from "../hsm/key-mechanism-cache.js";
import { requireId } from "./keys.js";
import { deactivateObject } from "./lifecycle.js";
import { describeManaged, forgetDestroyed, policyOf, stateOf } from "./managed-object.js";
import type { OperationHandler } from "./operation.js";

export const destroy: OperationHandler = {
  operation: Operation.Destroy,
  name: "Destroy",
  readOnly: false,
  async run(context, requestPayload) {
    const id = requireId(context, decodeDestroyRequest(requestPayload).uniqueIdentifier);
    forgetKeyMechanisms(context.backend, context.slot.slotId, id);
    let managed = await describeManaged(context, id);
    if (stateOf(managed.attributes) === State.Active) {
      if (policyOf(context).strictDestroy) {
        throw new KmipError(ResultReason.PermissionDenied, `${id} is Active and cannot be destroyed; revoke it first (KMIP 4.21, [lifecycle] strict-destroy)`);
      }
      context.logger.info({ id }, `Destroy of the Active key ${id}: deactivating it first`);
      managed = await deactivateObject(context, managed);
    }
    await context.backend.destroyKey(context.slot.slotId, id);
    await forgetDestroyed(context, managed);
    return encodeDestroyResponse({ uniqueIdentifier: id });
  },
};
