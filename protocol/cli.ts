// A mistake in how the verifier or the worker was started (a flag, a file, an environment variable): the CLI
// prints its message and exits with status 64.
export class UsageError extends Error {}

// A command-line value that must be a positive whole number; the error names the flag.
export function positiveInt(flag: string, v: string): number {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} must be a positive whole number, got ${v}`);
    return n;
}
