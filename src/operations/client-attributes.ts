// The attributes a client may set that PKCS#11 has no place for, kept in the
// object's metadata (managed-object.ts): Object Group (KMIP 1.x 3.33, any
// number), Contact Information (3.36, one) and custom attributes whose name
// starts with "x-" (3.40, any number; "y-" names are the server's, which sets
// none). Name is the key object's CKA_LABEL and is not handled here.
import type { Attribute } from "../kmip/attributes.js";
import { KmipError } from "../kmip/errors.js";
import { ResultReason } from "../ttlv/enums.js";
import { commit, describeManaged, type ManagedKey } from "./managed-object.js";
import type { OperationContext } from "./operation.js";

const MULTI_INSTANCE: ReadonlySet<string> = new Set(["Object Group"]);

/** Whether Add, Modify and Delete Attribute keep `name` in the metadata. */
export function isClientAttribute(name: string): boolean {
  return name === "Object Group" || name === "Contact Information" || name.startsWith("x-");
}

const instances = (managed: ManagedKey, name: string) => managed.attributes.filter((attribute) => attribute.name === name);

/** Add Attribute (4.14): a new instance at the next index. */
export async function addClientAttribute(context: OperationContext, id: string, attribute: Attribute): Promise<Attribute> {
  const managed = await describeManaged(context, id);
  const index = instances(managed, attribute.name).length;
  if (index > 0 && !MULTI_INSTANCE.has(attribute.name) && !attribute.name.startsWith("x-")) {
    throw new KmipError(ResultReason.IndexOutOfBounds, `${id} has ${attribute.name} already and it takes one value; change it with Modify Attribute`);
  }
  await commit(context, managed, [...managed.attributes, { name: attribute.name, value: attribute.value } as Attribute]);
  return { ...attribute, index } as Attribute;
}

/** Modify Attribute (4.15): the instance at `index` (default 0) gets the new value. */
export async function modifyClientAttribute(context: OperationContext, id: string, attribute: Attribute): Promise<Attribute> {
  const managed = await describeManaged(context, id);
  const index = attribute.index ?? 0;
  let seen = -1;
  let found = false;
  const attributes = managed.attributes.map((stored) => {
    if (stored.name !== attribute.name || ++seen !== index) return stored;
    found = true;
    return { name: attribute.name, value: attribute.value } as Attribute;
  });
  if (!found) throw new KmipError(ResultReason.ItemNotFound, `${id} has no ${attribute.name} with index ${index}`);
  await commit(context, managed, attributes);
  return { ...attribute, index } as Attribute;
}

/** Delete Attribute (4.16): the instance at `index` (default 0) goes; the answer is what it was. */
export async function deleteClientAttribute(context: OperationContext, id: string, name: string, index: number): Promise<Attribute> {
  const managed = await describeManaged(context, id);
  let seen = -1;
  let deleted: Attribute | undefined;
  const attributes = managed.attributes.filter((stored) => {
    if (stored.name !== name || ++seen !== index) return true;
    deleted = stored;
    return false;
  });
  if (deleted === undefined) throw new KmipError(ResultReason.ItemNotFound, `${id} has no ${name} with index ${index}`);
  await commit(context, managed, attributes);
  return { ...deleted, index } as Attribute;
}

/** After a change the key object holds itself (its CKA_LABEL): the Last Change Date of a key with a record. */
export async function touch(context: OperationContext, id: string): Promise<void> {
  const managed = await describeManaged(context, id);
  if (managed.record?.objects[managed.key.objectClass] !== undefined) await commit(context, managed, managed.attributes);
}
