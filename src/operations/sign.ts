// Sign (KMIP 1.2+ section 4.31): C_SignInit + C_Sign with the private key.
// The relay hashes the data itself (see signing.ts); ECDSA signatures are
// returned DER-encoded (compat.md). A revoked key has CKA_SIGN false, so the
// token itself refuses it (Permission Denied) on every relay instance.
import { decodeSignRequest, encodeSignResponse } from "../kmip/payloads/sign.js";
import { Operation } from "../ttlv/enums.js";
import { requireId, type SigningKeyCache } from "./keys.js";
import type { OperationHandler } from "./operation.js";
import { chooseScheme, ecdsaRawToDer, needsKey, requireSinglePart, toBeSigned } from "./signing.js";

export function signHandler(keys: SigningKeyCache): OperationHandler {
  return {
    operation: Operation.Sign,
    name: "Sign",
    readOnly: true,
    async run(context, requestPayload) {
      const request = decodeSignRequest(requestPayload);
      requireSinglePart(request, "Sign");
      const id = requireId(context, request.uniqueIdentifier);
      const params = request.cryptographicParameters;
      try {
        const key = needsKey(params) ? await keys.get(context, id) : undefined;
        const scheme = chooseScheme(params, key);
        const data = toBeSigned(scheme, request.data, request.digestedData);
        const signature = await context.backend.sign(context.slot.slotId, id, scheme.mechanism, data);
        return encodeSignResponse({
          uniqueIdentifier: id,
          signatureData: scheme.family === "ECDSA" ? ecdsaRawToDer(signature) : signature,
        });
      } catch (error) {
        keys.forget(context, id, error);
        throw error;
      }
    },
  };
}
