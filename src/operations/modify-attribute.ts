// Modify Attribute (KMIP 1.x section 4.15): only Name, an Uninterpreted Text
// String, which is the key's CKA_LABEL (doc/compatibility.md#modify-attribute).
import { KmipError } from "../kmip/errors.js";
import { decodeModifyAttributeRequest, encodeModifyAttributeResponse } from "../kmip/payloads/modify-attribute.js";
import { Operation, ResultReason } from "../ttlv/enums.js";
import { labelName, requireId } from "./keys.js";
import type { OperationHandler } from "./operation.js";

export const modifyAttribute: OperationHandler = {
  operation: Operation.ModifyAttribute,
  name: "Modify Attribute",
  readOnly: false,
  async run(context, requestPayload) {
    const request = decodeModifyAttributeRequest(requestPayload);
    const id = requireId(context, request.uniqueIdentifier);
    const name = labelName(request.attribute, "modified");
    const index = request.attribute.index ?? 0;
    if (index !== 0) throw new KmipError(ResultReason.ItemNotFound, `a key has one Name; there is no Name with index ${index}`);
    await context.backend.updateKey(context.slot.slotId, id, { label: name.nameValue });
    return encodeModifyAttributeResponse({ uniqueIdentifier: id, attribute: { name: "Name", index: 0, value: name } });
  },
};
