// Modify Attribute (KMIP 1.x section 4.15): Name, an Uninterpreted Text
// String, which is the key's CKA_LABEL (doc/compatibility.md#modify-attribute);
// Object Group, Contact Information and x- attributes, kept in the object's
// metadata (client-attributes.ts).
import { KmipError } from "../kmip/errors.js";
import { decodeModifyAttributeRequest, encodeModifyAttributeResponse } from "../kmip/payloads/modify-attribute.js";
import { Operation, ResultReason } from "../ttlv/enums.js";
import { labelName, requireId } from "./keys.js";
import { isClientAttribute, modifyClientAttribute, touch } from "./client-attributes.js";
import type { OperationHandler } from "./operation.js";

export const modifyAttribute: OperationHandler = {
  operation: Operation.ModifyAttribute,
  name: "Modify Attribute",
  readOnly: false,
  async run(context, requestPayload) {
    const request = decodeModifyAttributeRequest(requestPayload);
    const id = requireId(context, request.uniqueIdentifier);
    if (isClientAttribute(request.attribute.name)) {
      const attribute = await modifyClientAttribute(context, id, request.attribute);
      return encodeModifyAttributeResponse({ uniqueIdentifier: id, attribute });
    }
    const name = labelName(request.attribute, "modified");
    const index = request.attribute.index ?? 0;
    if (index !== 0) throw new KmipError(ResultReason.ItemNotFound, `a key has one Name; there is no Name with index ${index}`);
    await context.backend.updateKey(context.slot.slotId, id, { label: name.nameValue });
    await touch(context, id);
    return encodeModifyAttributeResponse({ uniqueIdentifier: id, attribute: { name: "Name", index: 0, value: name } });
  },
};
