// Sign (KMIP 1.2+ section 4.31): C_SignInit + C_Sign with the private key.
// The relay hashes the data itself (see signing.ts); ECDSA signatures are
// returned DER-encoded (doc/compatibility.md#sign). A revoked key has CKA_SIGN false, so the
// token itself refuses it on every relay instance: Permission Denied, since
// KMIP 1.x has no Wrong Key Lifecycle State (a 2.0 Result Reason).
import { HsmError } from "../hsm/backend.js";
import { KmipError } from "../kmip/errors.js";
import { decodeSignRequest, encodeSignResponse } from "../kmip/payloads/sign.js";
import { Operation, ResultReason } from "../ttlv/enums.js";
import { requireId, type SigningKeyCache } from "./keys.js";
import type { OperationHandler } from "./operation.js";
import { checkSigningFields, chooseScheme, ecdsaRawToDer, toBeSigned } from "./signing.js";

export function signHandler(keys: SigningKeyCache): OperationHandler {
  return {
    operation: Operation.Sign,
    name: "Sign",
    readOnly: true,
    async run(context, requestPayload) {
      const request = decodeSignRequest(requestPayload);
      checkSigningFields(request, context.version, "Sign");
      const id = requireId(context, request.uniqueIdentifier);
      const params = request.cryptographicParameters;
      try {
        const scheme = chooseScheme(params, keys.cached(context, id) ?? (await keys.get(context, id)));
        const data = toBeSigned(scheme, request.data, request.digestedData);
        const signature = await context.backend.sign(context.slot.slotId, id, scheme.mechanism, data);
        return encodeSignResponse({
          uniqueIdentifier: id,
          signatureData: scheme.family === "ECDSA" ? ecdsaRawToDer(signature) : signature,
        });
      } catch (error) {
        keys.forget(context, id, error);
        if (error instanceof HsmError && error.ckr === "CKR_KEY_FUNCTION_NOT_PERMITTED") {
          throw new KmipError(ResultReason.PermissionDenied, `${id} may not sign: its CKA_SIGN is false (revoked, or made without signing rights); ${error.message}`);
        }
        throw error;
      }
    },
  };
}
