// Check (KMIP 1.x section 4.10), simple form: the key exists and its
// Cryptographic Usage Mask (read from CKA_SIGN, CKA_VERIFY, ...) allows every
// usage asked for. A revoked private key has CKA_SIGN false, so a check for
// Sign fails on it. The relay keeps no usage limits or leases, so Usage
// Limits Count and Lease Time never fail a check. A failed check is answered
// Permission Denied (11.11) with the usages the key lacks in the message.
import { KmipError } from "../kmip/errors.js";
import { decodeCheckRequest, encodeCheckResponse } from "../kmip/payloads/check.js";
import { Operation, ResultReason } from "../ttlv/enums.js";
import { maskNames } from "../ttlv/names.js";
import { Tag } from "../ttlv/tags.js";
import { usageMaskOf } from "./key-attributes.js";
import { requireId } from "./keys.js";
import type { OperationHandler } from "./operation.js";

export const check: OperationHandler = {
  operation: Operation.Check,
  name: "Check",
  readOnly: true,
  async run(context, requestPayload) {
    const request = decodeCheckRequest(requestPayload);
    const id = requireId(context, request.uniqueIdentifier);
    const key = await context.backend.describeKey(context.slot.slotId, id);
    const asked = request.cryptographicUsageMask;
    if (asked !== undefined) {
      const allowed = usageMaskOf(key);
      const lacking = asked & ~allowed;
      if (lacking !== 0) {
        const names = (mask: number) => (mask === 0 ? "nothing" : maskNames(Tag.CryptographicUsageMask, mask)!.join(", "));
        throw new KmipError(ResultReason.PermissionDenied, `${id} does not allow ${names(lacking)}; it allows ${names(allowed)}`);
      }
    }
    return encodeCheckResponse({ uniqueIdentifier: id });
  },
};
