// Modify Attribute (KMIP 1.x section 4.16): only Name, an Uninterpreted Text
// String, which is the key's CKA_LABEL (compat.md).
import { KmipError } from "../kmip/errors.js";
import { isAttribute } from "../kmip/attributes.js";
import { decodeModifyAttributeRequest, encodeModifyAttributeResponse } from "../kmip/payloads/modify-attribute.js";
import { NameType, Operation, ResultReason } from "../ttlv/enums.js";
import { requireId } from "./keys.js";
import type { OperationHandler } from "./operation.js";

export const modifyAttribute: OperationHandler = {
  operation: Operation.ModifyAttribute,
  name: "Modify Attribute",
  readOnly: false,
  async run(context, requestPayload) {
    const request = decodeModifyAttributeRequest(requestPayload);
    const id = requireId(context, request.uniqueIdentifier);
    const attribute = request.attribute;
    if (!isAttribute(attribute, "Name")) {
      throw new KmipError(ResultReason.PermissionDenied, `attribute "${attribute.name}" cannot be modified here; only Name (the key's CKA_LABEL) can`);
    }
    if ((attribute.index ?? 0) !== 0) throw new KmipError(ResultReason.ItemNotFound, `a key has one Name; there is no Name with index ${attribute.index}`);
    if (attribute.value.nameType !== NameType.UninterpretedTextString) {
      throw new KmipError(ResultReason.InvalidField, "only Names of type Uninterpreted Text String are supported");
    }
    await context.backend.updateKey(context.slot.slotId, id, { label: attribute.value.nameValue });
    return encodeModifyAttributeResponse({ uniqueIdentifier: id, attribute: { name: "Name", index: 0, value: attribute.value } });
  },
};
