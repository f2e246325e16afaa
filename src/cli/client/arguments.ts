// Reading the client commands' arguments: numbers, named choices, and
// enumeration values as a person reads them.
import { enumerationName } from "../../ttlv/names.js";
import { UsageError } from "../args.js";

export function positiveNumber(option: string, text: string): number {
  const n = Number(text);
  if (!(text.trim() !== "" && Number.isFinite(n) && n > 0)) throw new UsageError(`${option}: expected a positive number, got '${text}'`);
  return n;
}

export function positiveInteger(option: string, text: string): number {
  const n = positiveNumber(option, text);
  if (!Number.isSafeInteger(n)) throw new UsageError(`${option}: expected a positive whole number, got '${text}'`);
  return n;
}

/** A choice among named values: the names are what the user types. */
export interface Choice {
  readonly name: string;
  readonly kmip: number;
}

export function choose(option: string, text: string, choices: readonly Choice[]): Choice {
  const found = choices.find((c) => c.name === text.toLowerCase());
  if (found === undefined) throw new UsageError(`${option}: expected ${choices.map((c) => c.name).join(", ")}; got '${text}'`);
  return found;
}

/** An enumeration value as words: Operation CreateKeyPair -> "Create Key Pair". */
export function readable(tag: number, value: number): string {
  const name = enumerationName(tag, value);
  return name === undefined ? `0x${value.toString(16)}` : name.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/([A-Z])([A-Z][a-z])/g, "$1 $2");
}
