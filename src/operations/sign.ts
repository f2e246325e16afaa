// Sign (KMIP 1.2+ section 4.31): C_SignInit + C_Sign with the private key.
// The relay hashes the data itself (see signing.ts); ECDSA signatures are
// returned DER-encoded (doc/compatibility.md#sign). One backend call: the HSM layer learns
// the key's facts and decides what it may do (hsm/signature.ts). A revoked
// key has CKA_SIGN false, so the token itself refuses it on every relay
// instance: Permission Denied, since KMIP 1.x has no Wrong Key Lifecycle
// State (a 2.0 Result Reason). The metadata is read only when the token
// refuses: a key whose Activation Date has come is activated then, and the
// signature tried once more (lifecycle.ts, repairSigning).
import { HsmError } from "../hsm/hsm-error.js";
import { decodeSignRequest, encodeSignResponse } from "../kmip/payloads/sign.js";
import { Operation } from "../ttlv/enums.js";
import { requireId } from "./keys.js";
import { repairSigning } from "./lifecycle.js";
import type { OperationHandler } from "./operation.js";
import { checkSigningFields, ecdsaRawToDer, signatureRequest } from "./signing.js";

export const sign: OperationHandler = {
  operation: Operation.Sign,
  name: "Sign",
  readOnly: true,
  async run(context, requestPayload) {
    const request = decodeSignRequest(requestPayload);
    checkSigningFields(request, context.version, "Sign");
    const id = requireId(context, request.uniqueIdentifier);
    const wanted = signatureRequest(request.cryptographicParameters, request.data, request.digestedData);
    const { signature, family } = await context.backend.sign(context.slot.slotId, id, wanted).catch(async (error: unknown) => {
      if (!(error instanceof HsmError && error.code === "PERMISSION_DENIED") || !(await repairSigning(context, id))) throw error;
      return context.backend.sign(context.slot.slotId, id, wanted);
    });
    return encodeSignResponse({
      uniqueIdentifier: id,
      signatureData: family === "ECDSA" ? ecdsaRawToDer(signature) : signature,
    });
  },
};
