// The OASIS test cases the relay does not pass yet, each with the first
// difference it shows and why. Reviewed by hand: the suite fails when a case
// listed here passes (remove it) or fails with another difference (update it),
// and when a case not listed fails.

export interface ExpectedSkip {
  /** The first difference, exactly as playCase reports it. */
  readonly difference: string;
  /** What the relay lacks, in a few words. */
  readonly why: string;
}

export const EXPECTED_SKIPS: ReadonlyMap<string, ExpectedSkip> = new Map<string, ExpectedSkip>([
]);
