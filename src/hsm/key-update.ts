// KMIP changes to a key's attributes (KeyUpdate) as a C_SetAttributeValue
// template.
import pkcs11js from "pkcs11js";
import { HsmError } from "./hsm-error.js";
import type { KeyUpdate } from "./key-types.js";

/** CKA_START_DATE / CKA_END_DATE as KeyUpdate carries them (CK_DATE, PKCS#11 v2.40 section 3.3). */
const DATE = /^\d{4}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$/;

/** The C_SetAttributeValue template for a KeyUpdate. */
export function updateTemplate(update: KeyUpdate): pkcs11js.Template {
  const template: pkcs11js.Template = [];
  if (update.label !== undefined) {
    // An empty CKA_LABEL is how PKCS#11 says "no label".
    template.push({ type: pkcs11js.CKA_LABEL, value: Buffer.from(update.label ?? "", "utf8") });
  }
  for (const [type, date] of [
    [pkcs11js.CKA_START_DATE, update.startDate],
    [pkcs11js.CKA_END_DATE, update.endDate],
  ] as const) {
    if (date === undefined) continue;
    if (date !== null && !DATE.test(date)) throw new HsmError("INVALID_ARGUMENT", `C_SetAttributeValue: date "${date}" is not YYYYMMDD`);
    // No value is an empty CK_DATE ("no date"); pkcs11js rejects an empty Buffer for a date.
    template.push(date === null ? { type } : { type, value: Buffer.from(date, "latin1") });
  }
  if (update.sign !== undefined) template.push({ type: pkcs11js.CKA_SIGN, value: update.sign });
  if (update.verify !== undefined) template.push({ type: pkcs11js.CKA_VERIFY, value: update.verify });
  if (update.encrypt !== undefined) template.push({ type: pkcs11js.CKA_ENCRYPT, value: update.encrypt });
  if (update.decrypt !== undefined) template.push({ type: pkcs11js.CKA_DECRYPT, value: update.decrypt });
  return template;
}
