// A mistake in how the verifier was started (a flag, a file, an environment variable): the CLI
// prints its message and exits with status 64.
export class UsageError extends Error {}
