// Activate (KMIP 1.x section 4.19). PKCS#11 has no activation; the relay
// records it as CKA_START_DATE (today, UTC) on the public key of the pair
// (lifecycle.ts says why not on the private key), where the token allows
// that attribute to change, and succeeds for any existing key that is not
// revoked (doc/compatibility.md#activate; keys count as Active from their creation). A revoked
// (Deactivated) key cannot become Active again (3.22): Permission Denied (11.20).
import { HsmError } from "../hsm/backend.js";
import { KmipError } from "../kmip/errors.js";
import { decodeActivateRequest, encodeActivateResponse } from "../kmip/payloads/activate.js";
import { Operation, ResultReason, State } from "../ttlv/enums.js";
import { requireId } from "./keys.js";
import { describeLifecycle, today, updatePair } from "./lifecycle.js";
import type { OperationHandler } from "./operation.js";

export const activate: OperationHandler = {
  operation: Operation.Activate,
  name: "Activate",
  readOnly: false,
  async run(context, requestPayload) {
    const id = requireId(context, decodeActivateRequest(requestPayload).uniqueIdentifier);
    const { lifecycle } = await describeLifecycle(context, id);
    if (lifecycle.state === State.Deactivated) {
      throw new KmipError(ResultReason.PermissionDenied, `${id} is Deactivated (revoked); a revoked key cannot be activated again`);
    }
    if (lifecycle.activationDate === null) {
      await updatePair(context, id, { public: { startDate: today() } }).catch((error: unknown) => {
        if (!(error instanceof HsmError) || error.code === "ITEM_NOT_FOUND" || error.code === "MODULE_FAILED") throw error;
        context.logger.debug({ id, err: error.message }, "activation date not recorded");
      });
    }
    return encodeActivateResponse({ uniqueIdentifier: id });
  },
};
