// [tokens] aliases: names an operator gives tokens, selecting each by its
// label and/or serial number (slots.ts applies them). Kept apart from
// slots.ts, which needs pkcs11js, so that the config file's checks can use
// the same rules without loading the binding.

/** The explicit username forms. */
export const EXPLICIT = /^(label|serial|slot):(.*)$/s;
/** CK_TOKEN_INFO field sizes (PKCS#11 v2.40 section 3.2): a longer value can never match. */
const LABEL_BYTES = 32;
const SERIAL_BYTES = 16;

/** How an alias selects its token: every field given must match. */
export interface TokenSelector {
  readonly label?: string;
  readonly serial?: string;
}

/** The [tokens] aliases, checked. */
export class TokenAliases {
  private readonly selectors: ReadonlyMap<string, TokenSelector>;

  /** Throws an Error naming the alias when one cannot select anything. */
  constructor(aliases: Readonly<Record<string, TokenSelector>>) {
    for (const [name, selector] of Object.entries(aliases)) {
      const problem = aliasProblem(name, selector);
      if (problem !== undefined) throw new Error(`PKCS#11 backend: token alias "${name}": ${problem}`);
    }
    this.selectors = new Map(Object.entries(aliases));
  }

  get(name: string): TokenSelector | undefined {
    return this.selectors.get(name);
  }
}

/** Why an alias cannot be used, or undefined. Shared with the config file's checks. */
export function aliasProblem(name: string, selector: TokenSelector): string | undefined {
  if (name === "") return "the name is empty";
  if (EXPLICIT.test(name)) return `the name starts like an explicit username form (label:, serial:, slot:), which the alias could never win over`;
  if (selector.label === undefined && selector.serial === undefined) return "give a label, a serial or both";
  if (selector.label !== undefined && (selector.label === "" || Buffer.byteLength(selector.label) > LABEL_BYTES)) {
    return `label must be 1 to ${LABEL_BYTES} bytes (CK_TOKEN_INFO.label)`;
  }
  if (selector.serial !== undefined && (selector.serial === "" || Buffer.byteLength(selector.serial) > SERIAL_BYTES)) {
    return `serial must be 1 to ${SERIAL_BYTES} bytes (CK_TOKEN_INFO.serialNumber)`;
  }
  return undefined;
}

