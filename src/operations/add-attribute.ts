// Add Attribute (KMIP 1.x section 4.14): Object Group, Contact Information
// and x- attributes go to the object's metadata (client-attributes.ts); Name
// becomes the key's CKA_LABEL. A PKCS#11 object has one label, so a key that already has one
// cannot take a second Name: Index Out Of Bounds, the 1.x reason for "the
// maximum number of instances is exceeded" (11.15); Modify Attribute renames.
import { KmipError } from "../kmip/errors.js";
import { decodeAddAttributeRequest, encodeAddAttributeResponse } from "../kmip/payloads/add-attribute.js";
import { Operation, ResultReason } from "../ttlv/enums.js";
import { labelName, requireId } from "./keys.js";
import { addClientAttribute, isClientAttribute, touch } from "./client-attributes.js";
import type { OperationHandler } from "./operation.js";

export const addAttribute: OperationHandler = {
  operation: Operation.AddAttribute,
  name: "Add Attribute",
  readOnly: false,
  async run(context, requestPayload) {
    const request = decodeAddAttributeRequest(requestPayload);
    const id = requireId(context, request.uniqueIdentifier);
    // 4.14: the server assigns the Attribute Index; a request that gives one is Invalid Field (11.15).
    if (request.attribute.index !== undefined) {
      throw new KmipError(ResultReason.InvalidField, "Add Attribute takes no Attribute Index; the server assigns it");
    }
    if (isClientAttribute(request.attribute.name)) {
      const attribute = await addClientAttribute(context, id, request.attribute);
      return encodeAddAttributeResponse({ uniqueIdentifier: id, attribute });
    }
    const name = labelName(request.attribute, "added");
    const key = await context.backend.describeKey(context.slot.slotId, id);
    if (key.label !== null) {
      throw new KmipError(
        ResultReason.IndexOutOfBounds,
        `${id} already has the Name "${key.label}" and a PKCS#11 key has one label; rename it with Modify Attribute`,
      );
    }
    await context.backend.updateKey(context.slot.slotId, id, { label: name.nameValue });
    await touch(context, id);
    return encodeAddAttributeResponse({ uniqueIdentifier: id, attribute: { name: "Name", index: 0, value: name } });
  },
};
