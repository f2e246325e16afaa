// Destroy (KMIP 1.x section 4.21): C_DestroyObject on the key object named.
// 4.21 lets only Pre-Active or Deactivated objects be destroyed, so an
// Active key (any key not revoked, including keys made by other tools) is
// refused with Permission Denied (11.22): revoke it first. Each object of a
// pair is destroyed by its own request; afterwards the id answers Item Not
// Found to every operation, on every relay, since the object is gone.
import { KmipError } from "../kmip/errors.js";
import { decodeDestroyRequest, encodeDestroyResponse } from "../kmip/payloads/destroy.js";
import { Operation, ResultReason, State } from "../ttlv/enums.js";
import { requireId } from "./keys.js";
import { describeLifecycle } from "./lifecycle.js";
import type { OperationHandler } from "./operation.js";

export const destroy: OperationHandler = {
  operation: Operation.Destroy,
  name: "Destroy",
  readOnly: false,
  async run(context, requestPayload) {
    const id = requireId(context, decodeDestroyRequest(requestPayload).uniqueIdentifier);
    // A secret key keeps no lifecycle in the token (SoftHSM cannot read back
    // a date on a private object, and CKA_SIGN says nothing for an AES key):
    // it is never made Active by the relay, so nothing keeps it from Destroy.
    const { key, lifecycle } = await describeLifecycle(context, id);
    if (lifecycle.state === State.Active && key.objectClass !== "secret") {
      throw new KmipError(ResultReason.PermissionDenied, `${id} is Active and cannot be destroyed; revoke it first (KMIP 4.21)`);
    }
    await context.backend.destroyKey(context.slot.slotId, id);
    return encodeDestroyResponse({ uniqueIdentifier: id });
  },
};
