// Revoke (KMIP 1.x section 4.20) of one object (lifecycle.ts): Key Compromise
// and CA Compromise make it Compromised, other reasons Deactivated; the
// Revocation Reason is kept. A private key loses CKA_SIGN before its record
// says so, so the token refuses it at once on every relay. A public key keeps
// CKA_VERIFY: a Deactivated or Compromised key may still process (verify)
// what it protected (3.22).
import { KmipError } from "../kmip/errors.js";
import { decodeRevokeRequest, encodeRevokeResponse } from "../kmip/payloads/revoke.js";
import { Operation, ResultReason } from "../ttlv/enums.js";
import { enumerationName } from "../ttlv/names.js";
import { Tag } from "../ttlv/tags.js";
import { requireId } from "./keys.js";
import { isCompromiseReason, revokeObject, stateName } from "./lifecycle.js";
import { stateOf } from "./managed-object.js";
import type { OperationHandler } from "./operation.js";

export const revoke: OperationHandler = {
  operation: Operation.Revoke,
  name: "Revoke",
  readOnly: false,
  async run(context, requestPayload) {
    const request = decodeRevokeRequest(requestPayload);
    const id = requireId(context, request.uniqueIdentifier);
    const code = request.revocationReason.revocationReasonCode;
    const reason = enumerationName(Tag.RevocationReasonCode, code);
    // 11.21: an unrecognised Revocation Reason is Invalid Field.
    if (reason === undefined) throw new KmipError(ResultReason.InvalidField, `Revocation Reason Code ${code} is not defined by KMIP 1.x`);
    // 4.20: the Compromise Occurrence Date SHALL only be given with a compromise reason.
    if (request.compromiseOccurrenceDate !== undefined && !isCompromiseReason(code)) {
      throw new KmipError(ResultReason.InvalidField, `a Compromise Occurrence Date goes only with Key Compromise or CA Compromise, not ${reason}`);
    }
    const revoked = await revokeObject(context, id, request.revocationReason, request.compromiseOccurrenceDate);
    context.logger.info({ id, reason, state: stateName(stateOf(revoked.attributes)) }, "Revoked key");
    return encodeRevokeResponse({ uniqueIdentifier: id });
  },
};
