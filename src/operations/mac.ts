// MAC (KMIP 1.2+, 1.4 section 4.33): C_SignInit + C_Sign with an HMAC key
// (SHA-1, SHA-256, SHA-384, SHA-512) or an AES key (CMAC). The algorithm
// comes from the Cryptographic Parameters, else from the key (the HMAC its
// CKA_ALLOWED_MECHANISMS name). No streaming: the whole Data in one request.
import { KmipError } from "../kmip/errors.js";
import { decodeMacRequest, encodeMacResponse } from "../kmip/payloads/mac.js";
import { Operation, ResultReason } from "../ttlv/enums.js";
import { macAlgorithm } from "./ciphers.js";
import { requireId } from "./keys.js";
import type { OperationHandler } from "./operation.js";
import { usingSecretKey } from "./secret-state.js";
import { checkSigningFields } from "./signing.js";

export const mac: OperationHandler = {
  operation: Operation.Mac,
  name: "MAC",
  readOnly: true,
  async run(context, requestPayload) {
    const request = decodeMacRequest(requestPayload);
    checkSigningFields(request, context.version, "MAC");
    const id = requireId(context, request.uniqueIdentifier);
    if (request.data === undefined) throw new KmipError(ResultReason.MissingData, "MAC needs Data");
    const algorithm = await macAlgorithm(context, id, request.cryptographicParameters);
    const data = request.data;
    const macData = await usingSecretKey(context, id, () => context.backend.mac(context.slot.slotId, id, algorithm, data));
    return encodeMacResponse({ uniqueIdentifier: id, macData });
  },
};
