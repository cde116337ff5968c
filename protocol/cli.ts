import { Endpoint, parseEndpoint } from './chain';

// A mistake in how the verifier or the worker was started (a flag, a file, an environment variable): the CLI
// prints its message and exits with status 64.
export class UsageError extends Error {}

// A command-line value that must be a positive whole number; the error names the flag.
export function positiveInt(flag: string, v: string): number {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} must be a positive whole number, got ${v}`);
    return n;
}

// --endpoint values (several, tried in turn: protocol/chain.ts failoverChain). One endpoint alone
// takes its API key from --api-key-env; with several, each names its own as URL#ENV_NAME, so that
// no endpoint ever receives another's key.
export const ENDPOINT_HELP =
    'TON HTTP API endpoints (toncenter v2 JSON-RPC), tried in turn when one fails, hangs or falls behind; with several, give each its API key as URL#ENV_NAME';

export function endpointsFromOptions(values: string[], apiKeyEnv: string, env: NodeJS.ProcessEnv = process.env): Endpoint[] {
    try {
        if (values.length === 1 && !values[0].includes('#')) return [{ url: values[0], apiKey: env[apiKeyEnv] }];
        return values.map((v) => parseEndpoint(v, env));
    } catch (e) {
        throw new UsageError((e as Error).message);
    }
}
