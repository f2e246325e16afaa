// Activate (KMIP 1.x section 4.19). PKCS#11 has no activation; the relay
// records it as CKA_START_DATE (today, UTC) where the token allows that
// attribute to change, and succeeds for any existing key (compat.md).
import { HsmError } from "../hsm/backend.js";
import { decodeActivateRequest, encodeActivateResponse } from "../kmip/payloads/activate.js";
import { Operation } from "../ttlv/enums.js";
import { requireId } from "./keys.js";
import type { OperationHandler } from "./operation.js";
import { recordDate, today } from "./lifecycle.js";

export const activate: OperationHandler = {
  operation: Operation.Activate,
  name: "Activate",
  readOnly: false,
  async run(context, requestPayload) {
    const id = requireId(context, decodeActivateRequest(requestPayload).uniqueIdentifier);
    const key = await context.backend.describeKey(context.slot.slotId, id);
    if (key.startDate === null) {
      await recordDate(context, id, { startDate: today() }).catch((error: unknown) => {
        if (!(error instanceof HsmError) || error.code === "ITEM_NOT_FOUND" || error.code === "MODULE_FAILED") throw error;
        context.logger.debug({ id, err: error.message }, "activation date not recorded");
      });
    }
    return encodeActivateResponse({ uniqueIdentifier: id });
  },
};
