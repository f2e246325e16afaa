// Keys without a metadata record: made by pkcs11-tool, OpenDNSSEC, the Rust
// relay, or earlier versions of kmip2pkcs11 (doc/object-model.md#keys-made-by-other-tools).
// They are read as they are, and get a record on their first change
// (managed-object.ts, commit).
//
// Earlier versions of the relay kept a pair's dates on its public key:
//
//   public key CKA_START_DATE                   -> Activation Date (both keys)
//   public key CKA_END_DATE                     -> Deactivation Date (both keys)
//   CKA_END_DATE empty, absent or after today   -> Active
//   CKA_END_DATE today or earlier               -> Deactivated
//   private key CKA_SIGN false                  -> Deactivated
//
// (on the public key because SoftHSM 2.6 cannot read back a date set on a
// private object). Keys of other tools carry no dates and count as Active.
// The two keys of a CKA_ID are linked to each other (KMIP 1.x 3.35).
import type { KeyDescription } from "../hsm/key-types.js";
import type { Attribute } from "../kmip/attributes.js";
import { LinkType, State } from "../ttlv/enums.js";
import { usageMaskOf } from "./key-attributes.js";

const CK_DATE = /^(\d{4})(\d{2})(\d{2})$/;

/** Today as a PKCS#11 CK_DATE ("YYYYMMDD", UTC). */
export function today(now = new Date()): string {
  return now.toISOString().slice(0, 10).replace(/-/g, "");
}

/** A CK_DATE as a KMIP Date-Time: seconds since the epoch at midnight UTC of that day. */
export function dateTimeOf(ckDate: string): bigint {
  const match = CK_DATE.exec(ckDate);
  if (match === null) throw new Error(`"${ckDate}" is not a CK_DATE (YYYYMMDD)`);
  return BigInt(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) / 1000);
}

/** The stored attributes a key without a record has (see above). */
function attributesOf(key: KeyDescription, partner: KeyDescription | undefined, now: Date): Attribute[] {
  const dated = key.objectClass === "public" ? key : partner?.objectClass === "public" ? partner : key;
  const ended = dated.endDate !== null && dated.endDate <= today(now);
  const signingRevoked = key.objectClass === "private" && !key.usage.sign;
  const attributes: Attribute[] = [
    { name: "State", value: ended || signingRevoked ? State.Deactivated : State.Active },
    { name: "Cryptographic Usage Mask", value: usageMaskOf(key) },
  ];
  if (dated.startDate !== null) attributes.push({ name: "Activation Date", value: dateTimeOf(dated.startDate) });
  if (dated.endDate !== null) attributes.push({ name: "Deactivation Date", value: dateTimeOf(dated.endDate) });
  if (partner !== undefined) {
    attributes.push({ name: "Link", value: { linkType: key.objectClass === "private" ? LinkType.PublicKeyLink : LinkType.PrivateKeyLink, linkedObjectIdentifier: partner.id } });
  }
  return attributes;
}

/** The models of a key without a record and of its partner (the other key of its CKA_ID), when there is one. */
export function legacyAttributes(key: KeyDescription, partner: KeyDescription | undefined, now = new Date()): { own: Attribute[]; partner?: Attribute[] } {
  const own = attributesOf(key, partner, now);
  return partner === undefined ? { own } : { own, partner: attributesOf(partner, key, now) };
}

/** The State of a key without a record, as Locate needs it: `publicKey` dates a private key. */
export function legacyState(key: KeyDescription, publicKey: KeyDescription | undefined, now = new Date()): number {
  return attributesOf(key, publicKey, now).find((attribute) => attribute.name === "State")!.value as number;
}
