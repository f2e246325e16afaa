// Attribute quirks of PKCS#11 modules, configured ([pkcs11.quirks]) or
// learned while running.
//
// Modules bend PKCS#11 a little: one answers a template entry it does not
// like with CKR_DEVICE_ERROR instead of CKR_ATTRIBUTE_TYPE_INVALID, another
// fails C_GetAttributeValue for an attribute it never implemented. The relay
// needs few attributes to work; the others it can do without:
//   - in C_GenerateKeyPair templates, the usage restrictions that only repeat
//     what the relay never asks of a key (CKA_ENCRYPT, CKA_WRAP, CKA_DECRYPT,
//     CKA_UNWRAP, CKA_DERIVE, CKA_EXTRACTABLE false; doc/compatibility.md#create-key-pair, templates.ts). A module that refuses a template
//     gets it again without as few of them as make it succeed (tpm2-pkcs11
//     1.9 refuses CKA_ENCRYPT and CKA_DECRYPT false: a TPM key both signs
//     and decrypts); those are left out from then on.
//   - in C_GetAttributeValue, the usage flags, CKA_LABEL and the dates. One
//     that fails alone with an error other than "absent", while another
//     attribute of the same object reads fine, is not asked for again (it
//     reads as absent: PKCS#11 v2.40 section 4.1 leaves the defaults of most
//     to the token anyway).
// What is learned lasts as long as the module stays loaded (in "process"
// isolation, until the module's process restarts) and is logged as a
// warning naming the config that makes it permanent.
//
// The relay never asks for CKA_KEY_GEN_MECHANISM (some modules lack it, and
// SoftHSM's RSA value 0 cannot tell "unset" apart): the key type comes from
// CKA_KEY_TYPE.
import type pkcs11js from "pkcs11js";
import type { Logger } from "../log/logger.js";
import { HsmError } from "./hsm-error.js";

/** CKA values (PKCS#11 v2.40 section 4, pkcs11t.h) of the attributes a quirk may name. */
const CKA = {
  CKA_LABEL: 0x3,
  CKA_ENCRYPT: 0x104,
  CKA_DECRYPT: 0x105,
  CKA_WRAP: 0x106,
  CKA_UNWRAP: 0x107,
  CKA_SIGN: 0x108,
  CKA_VERIFY: 0x10a,
  CKA_DERIVE: 0x10c,
  CKA_START_DATE: 0x110,
  CKA_END_DATE: 0x111,
  CKA_EXTRACTABLE: 0x162,
} as const;
export type QuirkAttributeName = keyof typeof CKA;

/** Attributes [pkcs11.quirks] omit-attributes may name: left out of key pair templates. */
export const OMITTABLE_ATTRIBUTES: readonly QuirkAttributeName[] = ["CKA_ENCRYPT", "CKA_WRAP", "CKA_DECRYPT", "CKA_UNWRAP", "CKA_DERIVE", "CKA_EXTRACTABLE"];
/** Attributes [pkcs11.quirks] skip-attributes may name: never read, taken as absent. */
export const SKIPPABLE_ATTRIBUTES: readonly QuirkAttributeName[] = [
  "CKA_LABEL",
  "CKA_SIGN",
  "CKA_VERIFY",
  "CKA_ENCRYPT",
  "CKA_DECRYPT",
  "CKA_WRAP",
  "CKA_UNWRAP",
  "CKA_DERIVE",
  "CKA_START_DATE",
  "CKA_END_DATE",
];

/** Quirks known in advance ([pkcs11.quirks]). */
export interface AttributeQuirkOptions {
  readonly omitAttributes?: readonly string[];
  readonly skipAttributes?: readonly string[];
}

const NAME_OF: ReadonlyMap<number, QuirkAttributeName> = new Map(Object.entries(CKA).map(([name, type]) => [type, name as QuirkAttributeName]));

/**
 * Failures that may be a module's way of refusing one attribute rather than
 * a verdict on the whole call: the spec's own refusals and the generic
 * errors some modules answer instead.
 */
const MAY_BE_ATTRIBUTE_REFUSAL: ReadonlySet<string> = new Set([
  "CKR_ATTRIBUTE_TYPE_INVALID",
  "CKR_ATTRIBUTE_VALUE_INVALID",
  "CKR_TEMPLATE_INCONSISTENT",
  "CKR_DEVICE_ERROR",
  "CKR_GENERAL_ERROR",
  "CKR_FUNCTION_FAILED",
  "CKR_ARGUMENTS_BAD",
]);

export function mayBeAttributeRefusal(err: unknown): err is HsmError {
  return err instanceof HsmError && err.ckr !== undefined && MAY_BE_ATTRIBUTE_REFUSAL.has(err.ckr);
}

function typesOf(names: readonly string[] | undefined, allowed: readonly QuirkAttributeName[], what: string): Set<number> {
  const types = new Set<number>();
  for (const name of names ?? []) {
    if (!(allowed as readonly string[]).includes(name)) {
      throw new Error(`PKCS#11 backend: ${what} cannot name ${name}; allowed: ${allowed.join(", ")}`);
    }
    types.add(CKA[name as QuirkAttributeName]);
  }
  return types;
}

/** The non-empty subsets of `items`, smallest first. */
function subsetsBySize<T>(items: readonly T[]): T[][] {
  const subsets: T[][] = [];
  for (let mask = 1; mask < 1 << items.length; mask++) subsets.push(items.filter((_, i) => (mask & (1 << i)) !== 0));
  return subsets.sort((a, b) => a.length - b.length);
}

const names = (types: Iterable<number>): string => [...types].map((t) => NAME_OF.get(t) ?? `0x${t.toString(16)}`).join(", ");

export interface KeyPairTemplatePair {
  readonly publicTemplate: pkcs11js.Template;
  readonly privateTemplate: pkcs11js.Template;
}

/** The quirks of one loaded module: configured ones, and those learned since it was loaded. */
export class AttributeQuirks {
  private readonly omitted: Set<number>;
  private readonly skipped: Set<number>;

  constructor(
    options: AttributeQuirkOptions,
    private readonly logger: Logger,
  ) {
    this.omitted = typesOf(options.omitAttributes, OMITTABLE_ATTRIBUTES, "omit-attributes");
    this.skipped = typesOf(options.skipAttributes, SKIPPABLE_ATTRIBUTES, "skip-attributes");
  }

  /** Attributes left out of templates now (configured and learned), by name. */
  get omittedAttributes(): string[] {
    return [...this.omitted].map((t) => NAME_OF.get(t)!);
  }

  /** Attributes not read now (configured and learned), by name. */
  get skippedAttributes(): string[] {
    return [...this.skipped].map((t) => NAME_OF.get(t)!);
  }

  /** `types` without those the module is not asked for. */
  readable(types: readonly number[]): readonly number[] {
    return this.skipped.size === 0 ? types : types.filter((type) => !this.skipped.has(type));
  }

  isSkipped(type: number): boolean {
    return this.skipped.has(type);
  }

  /**
   * Called when reading `type` alone failed with `err` while another
   * attribute of the same object read fine. Returns true when the attribute
   * is one the relay can do without and the error may be its refusal: it is
   * not asked for again.
   */
  learnUnreadable(type: number, err: unknown): boolean {
    const name = NAME_OF.get(type);
    if (name === undefined || !SKIPPABLE_ATTRIBUTES.includes(name) || !mayBeAttributeRefusal(err)) return false;
    this.skipped.add(type);
    this.logger.warn(
      { attribute: name, ckr: err.ckr },
      `C_GetAttributeValue fails for ${name} alone (${err.ckr}) while other attributes read fine: ` +
        `the relay no longer asks this module for it and takes it as absent; ` +
        `set [pkcs11.quirks] skip-attributes = [${this.skippedAttributes.map((n) => `"${n}"`).join(", ")}] to skip the probe`,
    );
    return true;
  }

  /**
   * Runs `generate` (C_GenerateKeyPair) with the templates less the omitted
   * attributes. When the module refuses them in a way that may concern an
   * attribute, tries again without each omittable attribute, then without
   * each pair, and so on up to all of them (at most 63 more calls, once per
   * module load, each refused before any key is made): the first
   * success leaves out the fewest. A failed C_GenerateKeyPair creates no
   * object, so the attempts leave nothing behind. What succeeds is
   * remembered.
   */
  async generate<T>(templates: KeyPairTemplatePair, generate: (templates: KeyPairTemplatePair) => Promise<T>): Promise<T> {
    const first = this.without(templates, this.omitted);
    try {
      return await generate(first);
    } catch (err) {
      if (!mayBeAttributeRefusal(err)) throw err;
      const present = [...new Set([...first.publicTemplate, ...first.privateTemplate].map((a) => a.type))].filter((type) => {
        const name = NAME_OF.get(type);
        return name !== undefined && OMITTABLE_ATTRIBUTES.includes(name);
      });
      if (present.length === 0) throw err;
      for (const omit of subsetsBySize(present)) {
        let result: T;
        try {
          result = await generate(this.without(first, new Set(omit)));
        } catch (retryErr) {
          if (mayBeAttributeRefusal(retryErr)) continue;
          throw retryErr;
        }
        for (const type of omit) this.omitted.add(type);
        this.logger.warn(
          { attributes: names(omit), ckr: err.ckr },
          `C_GenerateKeyPair refused the key templates (${err.ckr}) and succeeded without ${names(omit)}: ` +
            `the relay leaves ${omit.length === 1 ? "it" : "them"} out from now on; ` +
            `set [pkcs11.quirks] omit-attributes = [${this.omittedAttributes.map((n) => `"${n}"`).join(", ")}] to skip the probe`,
        );
        return result;
      }
      throw new HsmError(err.code, `${err.message} (refused as well without ${names(present)})`, err.fn, err.ckr);
    }
  }

  /** A C_CreateObject template (import-templates.ts) less the attributes omitted for this module. */
  withoutOmitted(template: pkcs11js.Template): pkcs11js.Template {
    return this.omitted.size === 0 ? template : template.filter((a) => !this.omitted.has(a.type));
  }

  private without(templates: KeyPairTemplatePair, omit: ReadonlySet<number>): KeyPairTemplatePair {
    if (omit.size === 0) return templates;
    return {
      publicTemplate: templates.publicTemplate.filter((a) => !omit.has(a.type)),
      privateTemplate: templates.privateTemplate.filter((a) => !omit.has(a.type)),
    };
  }
}
