// [tokens.NAME]: names that select a token by label and/or serial number,
// and each token's key-export policy.
import { aliasProblem, type TokenSelector } from "../hsm/token-aliases.js";
import type { TableReader } from "./table-reader.js";

/**
 * [tokens.NAME] key-export: whether symmetric keys made on that token may
 * leave it in the clear (README "Key export", src/operations/key-export.ts).
 * "on-request" (the default): only when the client's template says
 * Extractable true; "by-default": unless it says Extractable false or
 * Sensitive true; "never": not at all.
 */
export const KEY_EXPORT_POLICIES = ["on-request", "by-default", "never"] as const;
export type KeyExport = (typeof KEY_EXPORT_POLICIES)[number];

/** A [tokens] table's key-export, with how that table selects its token. */
export interface KeyExportRule extends TokenSelector {
  /** The [tokens] table's name. */
  readonly alias: string;
  readonly policy: KeyExport;
}

export function readTokens(t: TableReader): { tokens: Record<string, TokenSelector>; keyExport: KeyExportRule[] } {
  const tokens: Record<string, TokenSelector> = {};
  const keyExport: KeyExportRule[] = [];
  for (const name of t.keys()) {
    const alias = t.table(name, { required: true });
    const selector: TokenSelector = { label: alias.string("label"), serial: alias.string("serial") };
    const policy = alias.oneOf("key-export", KEY_EXPORT_POLICIES);
    alias.finish();
    const problem = aliasProblem(name, selector);
    if (problem !== undefined) t.fail(name, problem);
    // Absent fields are left out rather than undefined, so the selector crosses to the module's process as it is.
    tokens[name] = Object.fromEntries(Object.entries(selector).filter(([, v]) => v !== undefined));
    if (policy !== undefined) keyExport.push({ ...tokens[name], alias: name, policy });
  }
  t.finish();
  return { tokens, keyExport };
}
