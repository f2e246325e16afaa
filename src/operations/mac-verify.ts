// MAC Verify (KMIP 1.2+, 1.4 section 4.34): C_VerifyInit + C_Verify with the
// MAC operation's mechanisms; Validity Indicator Valid or Invalid. KMIP 1.3+
// streaming runs C_VerifyUpdate per part; the last part carries the MAC Data
// and answers the Validity Indicator (cipher-streams.ts).
import { KmipError } from "../kmip/errors.js";
import { decodeMacVerifyRequest, encodeMacVerifyResponse } from "../kmip/payloads/mac-verify.js";
import { Operation, ResultReason, ValidityIndicator } from "../ttlv/enums.js";
import { macAlgorithm } from "./ciphers.js";
import { macStreamPart } from "./cipher-streams.js";
import { requireId } from "./keys.js";
import type { OperationHandler } from "./operation.js";
import { usingSecretKey } from "./secret-state.js";

export const macVerify: OperationHandler = {
  operation: Operation.MacVerify,
  name: "MAC Verify",
  readOnly: true,
  async run(context, requestPayload) {
    const request = decodeMacVerifyRequest(requestPayload);
    const id = requireId(context, request.uniqueIdentifier);
    const part = await macStreamPart(context, id, request, true);
    if (part !== undefined) {
      // Validity Indicator is required in every answer: the parts before the last say Unknown (nothing is verified yet).
      const validityIndicator = part.result.valid === undefined ? ValidityIndicator.Unknown : part.result.valid ? ValidityIndicator.Valid : ValidityIndicator.Invalid;
      return encodeMacVerifyResponse({ uniqueIdentifier: id, validityIndicator, ...(part.correlationValue !== undefined && { correlationValue: part.correlationValue }) });
    }
    if (request.data === undefined) throw new KmipError(ResultReason.MissingData, "MAC Verify needs Data");
    if (request.macData === undefined) throw new KmipError(ResultReason.MissingData, "MAC Verify needs MAC Data");
    const algorithm = await macAlgorithm(context, id, request.cryptographicParameters);
    const { data, macData } = request;
    const valid = await usingSecretKey(context, id, () => context.backend.macVerify(context.slot.slotId, id, algorithm, data, macData));
    return encodeMacVerifyResponse({ uniqueIdentifier: id, validityIndicator: valid ? ValidityIndicator.Valid : ValidityIndicator.Invalid });
  },
};
