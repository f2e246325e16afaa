// Signature Verify (KMIP 1.2+ section 4.32): C_VerifyInit + C_Verify with the
// public key, the scheme chosen as for Sign (hsm/signature.ts decides what the
// key may do), Data hashed by the relay or Digested Data (1.4) as sent. ECDSA signatures arrive DER-encoded,
// as Sign returns them. A signature that does not verify, or cannot be
// parsed, is answered with Validity Indicator Invalid, not a failure. An
// RSA-PSS signature without a Salt Length is tried with the two salt
// lengths signers use (below).
// Revoked (Deactivated) keys still verify: their public key keeps
// CKA_VERIFY, since KMIP 3.22 lets a Deactivated key process what it protected.
// A key whose Process Start Date (3.25) has not come has CKA_VERIFY false.
import { HsmError } from "../hsm/hsm-error.js";
import { resolveSignature } from "../hsm/signature.js";
import { KmipError } from "../kmip/errors.js";
import { decodeSignatureVerifyRequest, encodeSignatureVerifyResponse } from "../kmip/payloads/signature-verify.js";
import { Operation, ResultReason, ValidityIndicator } from "../ttlv/enums.js";
import { requireId } from "./keys.js";
import { repairVerifying } from "./lifecycle.js";
import type { OperationHandler } from "./operation.js";
import { checkSigningFields, ecdsaDerToRaw, signatureRequest } from "./signing.js";

export const signatureVerify: OperationHandler = {
  operation: Operation.SignatureVerify,
  name: "Signature Verify",
  readOnly: true,
  async run(context, requestPayload) {
    const request = decodeSignatureVerifyRequest(requestPayload);
    checkSigningFields(request, context.version, "Signature Verify");
    const id = requireId(context, request.uniqueIdentifier);
    if (request.signatureData === undefined) throw new KmipError(ResultReason.MissingData, "Signature Verify needs the Signature Data to verify");
    const key = await context.backend.describeKey(context.slot.slotId, id);
    const scheme = resolveSignature(key, id, signatureRequest(request.cryptographicParameters, request.data, request.digestedData), "verify");
    let signature: Uint8Array;
    try {
      signature = scheme.family === "ECDSA" ? ecdsaDerToRaw(request.signatureData, key.bits) : request.signatureData;
    } catch {
      return encodeSignatureVerifyResponse({ uniqueIdentifier: id, validityIndicator: ValidityIndicator.Invalid });
    }
    // A key whose Process Start Date (3.25) is to come has CKA_VERIFY false; once it has come, the first refusal sets it (lifecycle.ts).
    let valid = await context.backend.verify(context.slot.slotId, id, scheme.mechanism, scheme.input, signature).catch(async (error: unknown) => {
      if (!(error instanceof HsmError && error.code === "PERMISSION_DENIED") || !(await repairVerifying(context, id))) throw error;
      return context.backend.verify(context.slot.slotId, id, scheme.mechanism, scheme.input, signature);
    });
    const pss = scheme.mechanism.pss;
    if (!valid && pss !== undefined && request.cryptographicParameters?.saltLength === undefined) {
      // No Salt Length given: PKCS#11 verifies one exact salt length, and
      // signers use two. The hash's length was tried; now the largest
      // (RFC 8017 section 9.1.1: emLen - hLen - 2), OpenSSL's default.
      const largest = Math.ceil((key.bits - 1) / 8) - (scheme.input.length) - 2;
      if (largest > pss.saltLength) {
        valid = await context.backend.verify(context.slot.slotId, id, { ...scheme.mechanism, pss: { ...pss, saltLength: largest } }, scheme.input, signature);
      }
    }
    return encodeSignatureVerifyResponse({ uniqueIdentifier: id, validityIndicator: valid ? ValidityIndicator.Valid : ValidityIndicator.Invalid });
  },
};
