// Key export as a policy (README "Key export"): whether a symmetric key made
// or registered on a token may leave it in the clear is decided when the key
// is made (CKA_SENSITIVE / CKA_EXTRACTABLE, which the token then enforces for
// every tool) and checked again by Get. The operator sets it per token with
// [tokens.NAME] key-export; a token no such table selects is "on-request".
//
// - "on-request": exportable only when the template says Extractable true
//   (or, without Extractable, its Cryptographic Usage Mask grants Export).
// - "by-default": exportable unless the template says Extractable false or
//   Sensitive true (clients such as VMware vSphere and Ceph Create without
//   Extractable and then Get the key).
// - "never": Create or Register with Extractable true is Permission Denied,
//   every symmetric key is made non-extractable, and Get of a symmetric
//   key's value is Permission Denied even for a key made exportable before
//   (wrapped Get, key-wrapping.ts, is left to the token: only a key that is
//   CKA_EXTRACTABLE can be wrapped).
// Extractable true with Sensitive true, under the other two, makes a key
// that leaves only wrapped.
//
// A [tokens] table applies to the token it selects as a username would
// (src/hsm/slots.ts), whichever way a request reached that token: its
// username, another form of it, or a [clients] mapping. When several tables
// select one token, the strictest policy wins. A "never" table holds for
// every token its label and serial describe, even one its alias does not
// select (its label on several tokens), so that an ambiguity cannot turn
// the restriction off.
import type { KeyExport, KeyExportRule } from "../config/tokens.js";
import type { SlotSummary } from "../hsm/backend.js";
import { HsmError } from "../hsm/hsm-error.js";
import { type Attribute, attributeValue } from "../kmip/attributes.js";
import { KmipError } from "../kmip/errors.js";
import { CryptographicUsageMask, ResultReason } from "../ttlv/enums.js";
import { policyOf } from "./managed-object.js";
import type { OperationContext } from "./operation.js";

export type { KeyExport, KeyExportRule };

/** The policy of one token, and the [tokens] table that set it (absent: the default). */
export interface TokenKeyExport {
  readonly policy: KeyExport;
  readonly alias?: string;
}

export const DEFAULT_KEY_EXPORT: TokenKeyExport = { policy: "on-request" };

/** Later is stricter. */
const STRICTNESS: readonly KeyExport[] = ["by-default", "on-request", "never"];

/** Whether a [tokens] table's label and serial describe a token, its label either equal or with OpenSC's " (PIN label)" suffix. */
function describes(rule: KeyExportRule, slot: SlotSummary): boolean {
  if (rule.serial !== undefined && rule.serial !== slot.tokenSerial) return false;
  if (rule.label === undefined) return true;
  return slot.tokenLabel === rule.label || (slot.tokenLabel.startsWith(`${rule.label} (`) && slot.tokenLabel.endsWith(")"));
}

/**
 * Whether a rule applies to the token of `slot`. A table that does not
 * describe the token cannot select it, so the module is asked (by the
 * username rule, which a busy relay has cached) only about tables that do;
 * "never" holds for every token its table describes without asking.
 */
async function applies(resolve: (username: string) => Promise<SlotSummary>, rule: KeyExportRule, slot: SlotSummary): Promise<boolean> {
  if (!describes(rule, slot)) return false;
  if (rule.policy === "never") return true;
  try {
    return (await resolve(rule.alias)).slotId === slot.slotId;
  } catch (error) {
    if (!(error instanceof HsmError)) throw error;
    return false;
  }
}

/** The key-export policy of a token: `rules` are the config's [tokens] key-export entries. */
export async function keyExportOf(
  resolve: (username: string) => Promise<SlotSummary>,
  rules: readonly KeyExportRule[],
  slot: SlotSummary,
): Promise<TokenKeyExport> {
  let found = DEFAULT_KEY_EXPORT;
  for (const rule of rules) {
    if (STRICTNESS.indexOf(rule.policy) <= STRICTNESS.indexOf(found.policy) && found.alias !== undefined) continue;
    if (await applies(resolve, rule, slot)) found = { policy: rule.policy, alias: rule.alias };
  }
  return found;
}

/** The key-export policy of the request's token. */
export function tokenKeyExport(context: OperationContext): Promise<TokenKeyExport> {
  const rules = policyOf(context).keyExport ?? [];
  if (rules.length === 0) return Promise.resolve(DEFAULT_KEY_EXPORT);
  return keyExportOf((username) => context.backend.resolveSlot(username), rules, context.slot);
}

/** Where a policy comes from, for messages. */
export function policySource(keyExport: TokenKeyExport): string {
  return keyExport.alias === undefined ? "the default key-export" : `[tokens.${keyExport.alias}] key-export`;
}

function refusedByNever(keyExport: TokenKeyExport, what: string): KmipError {
  return new KmipError(
    ResultReason.PermissionDenied,
    `${what}: the token's key-export policy is "never" (${policySource(keyExport)}), so no symmetric key leaves it in the clear`,
  );
}

/**
 * What the template asks about export: its Extractable, else true when its
 * Cryptographic Usage Mask grants Export (3.19: the key may be exported),
 * else nothing.
 */
function askedExtractable(attributes: readonly Attribute[]): boolean | undefined {
  const extractable = attributeValue(attributes, "Extractable");
  if (extractable !== undefined) return extractable;
  return ((attributeValue(attributes, "Cryptographic Usage Mask") ?? 0) & CryptographicUsageMask.Export) !== 0 ? true : undefined;
}

/** How a key may leave: in the clear (extractable, not sensitive), only wrapped (both), or not at all. */
export interface KeyExportFlags {
  /** CKA_EXTRACTABLE. */
  readonly extractable: boolean;
  /** CKA_SENSITIVE: true for a key that is not extractable, or that may leave only wrapped. */
  readonly sensitive: boolean;
}

/**
 * How Create makes the key: exportable in the clear (CKA_SENSITIVE false,
 * CKA_EXTRACTABLE true), only wrapped (Extractable true with Sensitive
 * true: both true, Get wraps it with a key of the token, key-wrapping.ts),
 * or not at all (CKA_SENSITIVE true, CKA_EXTRACTABLE false).
 */
export function createExport(attributes: readonly Attribute[], keyExport: TokenKeyExport = DEFAULT_KEY_EXPORT): KeyExportFlags {
  const extractable = askedExtractable(attributes);
  const sensitive = attributeValue(attributes, "Sensitive");
  if (keyExport.policy === "never") {
    if (extractable === true) throw refusedByNever(keyExport, "Extractable true (or the Export usage) is refused");
    return { extractable: false, sensitive: true };
  }
  if (extractable === true && sensitive === true) return { extractable: true, sensitive: true };
  const exportable = extractable ?? (keyExport.policy === "by-default" && sensitive !== true);
  return { extractable: exportable, sensitive: !exportable };
}

/**
 * Whether Register keeps a Symmetric Key exportable (CKA_EXTRACTABLE): yes,
 * since the client had its value, unless the template says Extractable
 * false or Sensitive true without Extractable true, or the token's policy
 * is "never" (Extractable true is then refused).
 */
export function registerExtractable(attributes: readonly Attribute[], keyExport: TokenKeyExport): boolean {
  const extractable = askedExtractable(attributes);
  if (keyExport.policy === "never") {
    if (extractable === true) throw refusedByNever(keyExport, "Extractable true (or the Export usage) is refused");
    return false;
  }
  // Extractable true with Sensitive true: extractable, and sensitive (secretKeyRequest), so it leaves only wrapped.
  return extractable === true || (extractable !== false && attributeValue(attributes, "Sensitive") !== true);
}

/** Throws Permission Denied when the token's policy forbids Get of a symmetric key's value. */
export function checkExport(keyExport: TokenKeyExport, id: string): void {
  if (keyExport.policy === "never") throw refusedByNever(keyExport, `${id} cannot be returned`);
}

/** What a policy means, for `kmip2pkcs11 check`. */
export function describePolicy(policy: KeyExport): string {
  switch (policy) {
    case "on-request":
      return "symmetric keys leave the token in the clear only when the client's Create says Extractable true (registered keys: unless it says false)";
    case "by-default":
      return "Create makes symmetric keys exportable unless the client says Extractable false or Sensitive true; Get returns them in the clear";
    case "never":
      return "no symmetric key leaves the token in the clear: Extractable true and Get of a key's value are Permission Denied";
  }
}
