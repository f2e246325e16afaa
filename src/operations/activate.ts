// Activate (KMIP 1.x section 4.19): a Pre-Active object becomes Active, with
// Activation Date now, and a private key gets CKA_SIGN true (lifecycle.ts).
// Each key of a pair is activated by its own request.
import { decodeActivateRequest, encodeActivateResponse } from "../kmip/payloads/activate.js";
import { Operation } from "../ttlv/enums.js";
import { requireId } from "./keys.js";
import { activateObject } from "./lifecycle.js";
import type { OperationHandler } from "./operation.js";

export const activate: OperationHandler = {
  operation: Operation.Activate,
  name: "Activate",
  readOnly: false,
  async run(context, requestPayload) {
    const id = requireId(context, decodeActivateRequest(requestPayload).uniqueIdentifier);
    await activateObject(context, id);
    return encodeActivateResponse({ uniqueIdentifier: id });
  },
};
