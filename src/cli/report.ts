// The findings of `check` and `--check-config`: aligned lines, then every
// problem and warning with its fix, one PROBLEM line each.

export interface Finding {
  readonly problem: boolean;
  readonly message: string;
  readonly fix?: string;
}

/** Where a check writes what it saw and what is wrong. */
export interface FindingSink {
  line(label: string, text: string): void;
  problem(message: string, fix?: string): void;
  warning(message: string, fix?: string): void;
}

export class Report implements FindingSink {
  private readonly findings: Finding[] = [];

  /** `details`: print what was seen as well, not only what is wrong. */
  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly details = true,
  ) {}

  line(label: string, text: string): void {
    if (this.details) this.write(label, text);
  }

  private write(label: string, text: string): void {
    this.out.write(`${label.padEnd(12)} ${text}\n`);
  }

  problem(message: string, fix?: string): void {
    this.findings.push({ problem: true, message, fix });
  }

  warning(message: string, fix?: string): void {
    // The same finding reached twice (e.g. for two tokens) is reported once.
    if (this.findings.some((f) => !f.problem && f.message === message)) return;
    this.findings.push({ problem: false, message, fix });
  }

  /** How many problems (not warnings) so far. */
  get problems(): number {
    return this.findings.filter((f) => f.problem).length;
  }

  /** Prints the findings, without the result line. */
  printFindings(): void {
    for (const f of this.findings) {
      this.write(f.problem ? "PROBLEM" : "warning", f.message);
      if (f.fix !== undefined) this.write("  fix", f.fix);
    }
  }

  /** Prints the findings and the result; true when there is no problem (warnings allowed). */
  finish(): boolean {
    this.printFindings();
    const problems = this.problems;
    this.write("result", problems === 0 ? "no problems found" : `${problems} problem${problems === 1 ? "" : "s"} found`);
    return problems === 0;
  }
}
