// MAC (KMIP 1.2+, 1.4 section 4.33): C_SignInit + C_Sign with an HMAC key
// (SHA-1, SHA-256, SHA-384, SHA-512) or an AES key (CMAC). The algorithm
// comes from the Cryptographic Parameters, else from the key (the HMAC its
// CKA_ALLOWED_MECHANISMS name). KMIP 1.3+ streaming (Init Indicator,
// Correlation Value, Final Indicator) runs C_SignUpdate per part and
// answers the MAC with the last (cipher-streams.ts).
import { KmipError } from "../kmip/errors.js";
import { decodeMacRequest, encodeMacResponse } from "../kmip/payloads/mac.js";
import { Operation, ResultReason } from "../ttlv/enums.js";
import { macAlgorithm } from "./ciphers.js";
import { macStreamPart } from "./cipher-streams.js";
import { requireId } from "./keys.js";
import type { OperationHandler } from "./operation.js";
import { usingSecretKey } from "./secret-state.js";

export const mac: OperationHandler = {
  operation: Operation.Mac,
  name: "MAC",
  readOnly: true,
  async run(context, requestPayload) {
    const request = decodeMacRequest(requestPayload);
    const id = requireId(context, request.uniqueIdentifier);
    const part = await macStreamPart(context, id, request, false);
    if (part !== undefined) {
      // The parts before the last answer no MAC Data (nothing is computed yet); the last answers the MAC.
      return encodeMacResponse({
        uniqueIdentifier: id,
        ...(part.correlationValue === undefined ? { macData: part.result.data } : { correlationValue: part.correlationValue }),
      });
    }
    if (request.data === undefined) throw new KmipError(ResultReason.MissingData, "MAC needs Data");
    const algorithm = await macAlgorithm(context, id, request.cryptographicParameters);
    const data = request.data;
    const macData = await usingSecretKey(context, id, () => context.backend.mac(context.slot.slotId, id, algorithm, data));
    return encodeMacResponse({ uniqueIdentifier: id, macData });
  },
};
