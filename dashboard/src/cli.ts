#!/usr/bin/env node
// `npm run dashboard -- --endpoint URL --root ADDRESS`: a web page showing a Cocoon network (its
// providers, verifiers, allowlist, pending governance, sessions, fees and treasury), read through
// any toncenter-compatible endpoint. Read-only: it holds no wallet and sends nothing.
import { Command, CommanderError } from 'commander';
import { Address } from '@ton/core';
import { Endpoint } from '../../protocol/chain';
import { ENDPOINT_HELP, UsageError, endpointsFromOptions, positiveInt } from '../../protocol/cli';
import { buildDashboardServer } from './server';

/** The command line's values, checked. */
export interface DashboardCliOptions {
    endpoints: Endpoint[];
    root: Address;
    host: string;
    port: number;
    refreshSeconds: number;
}

interface RawOptions {
    endpoint: string[];
    root?: string;
    host: string;
    port: number;
    apiKeyEnv: string;
    refreshSeconds: number;
}

function program(): Command {
    return (
        new Command('cocoon-dashboard')
            .description('a web page showing a Cocoon network, read through a toncenter-compatible endpoint')
            .requiredOption('--endpoint <url...>', ENDPOINT_HELP)
            .option('--root <address>', 'the Root contract of the network')
            .option('--host <host>', 'address to listen on', '127.0.0.1')
            .option('--port <n>', 'port to listen on (0: any free port)', port, 8090)
            .option('--api-key-env <name>', 'environment variable holding the API key of a single --endpoint', 'TONCENTER_API_KEY')
            .option(
                '--refresh-seconds <n>',
                'how often the chain is read and the page refreshed',
                (v) => positiveInt('--refresh-seconds', v),
                5,
            )
            .exitOverride()
            // (errors are printed once, by main, as every usage error)
            .configureOutput({ outputError: () => {} })
    );
}

function port(v: string): number {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--port must be a port number (0 for any free one), got ${v}`);
    return n;
}

class HelpShown extends Error {}

/** Parses and checks the command line (argv without node and the script); throws UsageError. */
export function parseDashboardArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): DashboardCliOptions {
    let raw: RawOptions;
    try {
        raw = program().parse(argv, { from: 'user' }).opts<RawOptions>();
    } catch (e) {
        if (e instanceof CommanderError && e.code === 'commander.helpDisplayed') throw new HelpShown();
        if (e instanceof CommanderError) throw new UsageError(e.message.replace(/^error: /, ''));
        throw e;
    }
    if (!raw.root) throw new UsageError('give --root ADDRESS: the Root contract of the network to show (the devnet prints it)');
    let root: Address;
    try {
        root = Address.parse(raw.root);
    } catch {
        throw new UsageError(`--root must be a TON address, got ${raw.root}`);
    }
    const endpoints = endpointsFromOptions(raw.endpoint, raw.apiKeyEnv, env);
    for (const e of endpoints) {
        // (a single endpoint is taken as given by endpointsFromOptions)
        let protocol: string;
        try {
            protocol = new URL(e.url).protocol;
        } catch {
            throw new UsageError(`--endpoint ${e.url} is not a URL`);
        }
        if (protocol !== 'http:' && protocol !== 'https:') throw new UsageError(`--endpoint ${e.url} must be an http or https URL`);
    }
    return { endpoints, root, host: raw.host, port: raw.port, refreshSeconds: raw.refreshSeconds };
}

async function main() {
    const o = parseDashboardArgs(process.argv.slice(2));
    const app = buildDashboardServer({
        root: o.root,
        endpoints: o.endpoints,
        maxAgeMs: o.refreshSeconds * 1000,
        refreshMs: o.refreshSeconds * 1000,
    });
    const address = await app.listen({ host: o.host, port: o.port });
    process.stdout.write(`dashboard at ${address}/\n`);
    const stop = () => app.close().then(() => process.exit(0));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
}

if (require.main === module) {
    main().catch((e) => {
        if (e instanceof HelpShown) process.exit(0);
        process.stderr.write(`cocoon-dashboard: ${(e as Error).message}\n`);
        process.exit(e instanceof UsageError ? 64 : 1);
    });
}
