// Revoke (KMIP 1.x section 4.20), recorded in the token (see lifecycle.ts):
// the private key of the pair gets CKA_SIGN = false, so the token itself
// refuses to sign with it, through every relay instance and after restarts;
// the public key gets CKA_END_DATE = today, the Deactivation Date of both.
// Both then report Deactivated, so either may be destroyed. The public key
// keeps CKA_VERIFY: a Deactivated key may still process (verify) what it
// protected (3.22).
//
// Every Revocation Reason is recorded alike; the reason is logged, not kept.
// Revoking a Deactivated key succeeds and keeps its date: clients such as
// PyKMIP revoke the private and then the public key of a pair, and the first
// Revoke has already deactivated both.
import { KmipError } from "../kmip/errors.js";
import { decodeRevokeRequest, encodeRevokeResponse } from "../kmip/payloads/revoke.js";
import { Operation, ResultReason, RevocationReasonCode } from "../ttlv/enums.js";
import { enumerationName } from "../ttlv/names.js";
import { Tag } from "../ttlv/tags.js";
import { requireId } from "./keys.js";
import { describeLifecycle, today, updatePair } from "./lifecycle.js";
import type { OperationHandler } from "./operation.js";

const COMPROMISE: ReadonlySet<number> = new Set([RevocationReasonCode.KeyCompromise, RevocationReasonCode.CaCompromise]);

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
    if (request.compromiseOccurrenceDate !== undefined && !COMPROMISE.has(code)) {
      throw new KmipError(ResultReason.InvalidField, `a Compromise Occurrence Date goes only with Key Compromise or CA Compromise, not ${reason}`);
    }

    const { lifecycle } = await describeLifecycle(context, id);
    const now = today();
    const ended = lifecycle.deactivationDate;
    const endDate = ended !== null && ended <= now ? ended : now;
    await updatePair(context, id, { private: { sign: false }, public: { endDate } });
    context.logger.info({ id, reason, endDate }, "Revoked key pair");
    return encodeRevokeResponse({ uniqueIdentifier: id });
  },
};
