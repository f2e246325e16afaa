// MAC Verify (KMIP 1.2+, 1.4 section 4.34): C_VerifyInit + C_Verify with the
// MAC operation's mechanisms; Validity Indicator Valid or Invalid.
import { KmipError } from "../kmip/errors.js";
import { decodeMacVerifyRequest, encodeMacVerifyResponse } from "../kmip/payloads/mac-verify.js";
import { Operation, ResultReason, ValidityIndicator } from "../ttlv/enums.js";
import { macAlgorithm } from "./ciphers.js";
import { requireId } from "./keys.js";
import type { OperationHandler } from "./operation.js";
import { usingSecretKey } from "./secret-state.js";
import { checkSigningFields } from "./signing.js";

export const macVerify: OperationHandler = {
  operation: Operation.MacVerify,
  name: "MAC Verify",
  readOnly: true,
  async run(context, requestPayload) {
    const request = decodeMacVerifyRequest(requestPayload);
    checkSigningFields(request, context.version, "MAC Verify");
    const id = requireId(context, request.uniqueIdentifier);
    if (request.data === undefined) throw new KmipError(ResultReason.MissingData, "MAC Verify needs Data");
    if (request.macData === undefined) throw new KmipError(ResultReason.MissingData, "MAC Verify needs MAC Data");
    const algorithm = await macAlgorithm(context, id, request.cryptographicParameters);
    const { data, macData } = request;
    const valid = await usingSecretKey(context, id, () => context.backend.macVerify(context.slot.slotId, id, algorithm, data, macData));
    return encodeMacVerifyResponse({ uniqueIdentifier: id, validityIndicator: valid ? ValidityIndicator.Valid : ValidityIndicator.Invalid });
  },
};
