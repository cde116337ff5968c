#!/usr/bin/env node
// `npm run gateway -- ...`: the OpenAI-compatible gateway (app.ts).
//   --local            starts the whole local network the demo starts (embedded chain, verifiers, a
//                      worker with the built-in backend) and the gateway in front of it
//   --root ADDRESS     on testnet or mainnet: the gateway's wallet pays sessions (its 24-word
//                      mnemonic from the environment variable --wallet-mnemonic-env names)
// When ready it prints one line: "OpenAI-compatible API at http://HOST:PORT/v1".
import { Command, Option } from 'commander';
import { Address, toNano } from '@ton/core';
import { readFileSync } from 'fs';
import { homedir } from 'os';
import { join } from 'path';
import pino from 'pino';
import { CocoonClient } from '../../sdk';
import { failoverChain, mnemonicWallet } from '../../protocol/chain';
import { ENDPOINT_HELP, UsageError, endpointsFromOptions, positiveInt } from '../../protocol/cli';
import { TCB_SIMULATED, TCB_UP_TO_DATE } from '../../wrappers';
import { withProgress } from '../../protocol/progress';
import { apiKeyHash, buildGateway } from './app';
import { DEFAULT_SESSION_POLICY, SessionPolicy } from './sessions';

export interface GatewayCliOptions {
    local: boolean;
    host: string;
    port: number;
    apiKeys?: string;
    root?: Address;
    network: 'mainnet' | 'testnet';
    endpoint: string[];
    apiKeyEnv: string;
    walletMnemonicEnv: string;
    budget: string;
    topUpBelow: string;
    topUp: string;
    sessionHours: number;
    sessionsFile?: string;
    quiet: boolean;
    dev: boolean;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

// API keys, one per line (blank lines and # comments skipped): only their hashes are kept.
export function readApiKeys(file: string): Buffer[] {
    let text: string;
    try {
        text = readFileSync(file, 'utf8');
    } catch (e) {
        throw new UsageError(`--api-keys ${file} cannot be read: ${(e as Error).message}`);
    }
    const keys = text
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#'));
    if (keys.length === 0) throw new UsageError(`--api-keys ${file} holds no key (one per line)`);
    const short = keys.findIndex((k) => k.length < 16);
    if (short >= 0) throw new UsageError(`--api-keys ${file}: key on line ${short + 1} is shorter than 16 characters`);
    return keys.map(apiKeyHash);
}

function ton(flag: string, v: string): bigint {
    try {
        const n = toNano(v);
        if (n <= 0n) throw new Error();
        return n;
    } catch {
        throw new UsageError(`${flag} must be an amount of TON above zero, like "5" or "0.5", got ${v}`);
    }
}

// Starts the gateway (and with --local the local network); `url` is the API's base URL.
export async function startGateway(o: GatewayCliOptions): Promise<{ url: string; stop: () => Promise<void> }> {
    const log = pino({ name: 'cocoon-gateway', level: o.quiet ? 'warn' : 'info' });
    const apiKeyHashes = o.apiKeys ? readApiKeys(o.apiKeys) : undefined;
    if (!apiKeyHashes && !LOOPBACK.has(o.host)) {
        throw new UsageError(`listening on ${o.host} without --api-keys would let anyone spend the gateway's wallet: give --api-keys FILE`);
    }
    const policy: SessionPolicy = {
        ...DEFAULT_SESSION_POLICY,
        budget: ton('--budget', o.budget),
        topUpBelow: ton('--top-up-below', o.topUpBelow),
        topUpAmount: ton('--top-up', o.topUp),
        durationSeconds: o.sessionHours * 3600,
    };
    let client: CocoonClient;
    let sessionRecordFile: string | undefined; // (a local network's sessions end with it)
    let stop = async () => {};
    if (o.local) {
        // (loaded only here: a gateway for a real network does not carry the local network's code)
        let local: typeof import('../../testkit/local-network');
        try {
            local = await import('../../testkit/local-network');
        } catch (e) {
            // (the npm package carries no local network: it lives in the repository's testkit/)
            if ((e as { code?: string }).code !== 'MODULE_NOT_FOUND') throw e;
            throw new UsageError(
                '--local runs from a clone of the Cocoon repository (npm run gateway -- --local), not from the npm package',
            );
        }
        const { localClient, startLocalNetwork } = local;
        const net = await withProgress(
            'starting the local network',
            async (shown) => {
                const started = await startLocalNetwork({ step: (text) => shown.update(text) });
                shown.update("the worker's attestation");
                await started.worker.attest();
                return started;
            },
            { quiet: o.quiet },
        );
        client = localClient(net);
        stop = () => net.stop();
    } else {
        if (!o.root) throw new UsageError('give --root ADDRESS (the Cocoon Root on --network), or --local for a local network');
        if (o.dev && o.network === 'mainnet')
            throw new UsageError(
                '--dev accepts workers without a TEE (simulated evidence): never on mainnet, where no Root allowlists them',
            );
        const mnemonic = process.env[o.walletMnemonicEnv]?.trim().split(/\s+/);
        if (!mnemonic || mnemonic.length !== 24) {
            throw new UsageError(
                `the environment variable ${o.walletMnemonicEnv} must hold the 24-word mnemonic of the gateway's wallet (it pays sessions)`,
            );
        }
        // (--dev: the devnet's clock, which an admin moves forward)
        const chain = failoverChain(endpointsFromOptions(o.endpoint, o.apiKeyEnv), { followChainClock: o.dev });
        const wallet = await mnemonicWallet(chain, mnemonic);
        client = new CocoonClient({
            chain,
            wallet: Object.assign(wallet.sender, { address: wallet.address }),
            root: o.root,
            // (--dev: also workers attested with simulated evidence by development verifiers, as on the devnet)
            acceptedTcbStatuses: o.dev ? [Number(TCB_UP_TO_DATE), Number(TCB_SIMULATED)] : [Number(TCB_UP_TO_DATE)],
        });
        sessionRecordFile =
            o.sessionsFile ?? join(homedir(), '.cocoon', 'gateway', `${o.network}-${wallet.address.toString()}.sessions.json`);
        log.info({ wallet: wallet.address.toString(), root: o.root.toString(), network: o.network, sessionRecordFile }, 'gateway wallet');
    }
    const app = await buildGateway({ client, policy, apiKeyHashes, logger: log, sessionRecordFile });
    const address = await app.listen({ host: o.host, port: o.port });
    return { url: `${address}/v1`, stop: async () => (await app.close(), await stop()) };
}

// The command line, as a new Command each time (commander keeps the values of a parse).
export function gatewayProgram(): Command {
    return new Command('cocoon-gateway')
        .description('OpenAI-compatible API in front of Cocoon: point any OpenAI client at it')
        .option(
            '--local',
            'start a local Cocoon network (embedded chain, verifiers, a worker with the built-in backend) behind the gateway',
            false,
        )
        .option('--host <host>', 'address to listen on (loopback unless --api-keys is given)', '127.0.0.1')
        .option('--port <n>', 'port to listen on (0: any free port)', (v) => port(v), 8080)
        .option('--api-keys <file>', 'file of API keys, one per line: callers pass one as "Authorization: Bearer KEY"')
        .option('--root <address>', 'Root contract address (testnet or mainnet)', (v) => {
            try {
                return Address.parse(v);
            } catch {
                throw new UsageError(`--root must be a TON address, got ${v}`);
            }
        })
        .addOption(new Option('--network <name>', 'network the Root is on').choices(['mainnet', 'testnet']).default('testnet'))
        .option('--endpoint <url...>', ENDPOINT_HELP, ['https://testnet.toncenter.com/api/v2/jsonRPC'])
        .option('--api-key-env <name>', 'environment variable holding the API key of a single --endpoint', 'TONCENTER_API_KEY')
        .option(
            '--wallet-mnemonic-env <name>',
            "environment variable holding the gateway wallet's 24-word mnemonic",
            'COCOON_GATEWAY_MNEMONIC',
        )
        .option('--budget <ton>', 'TON escrowed when a session opens', '5')
        .option('--top-up-below <ton>', 'a session with less budget left is topped up', '1')
        .option('--top-up <ton>', 'TON added by a top-up', '5')
        .option('--session-hours <n>', "a session's lifetime in hours", (v) => positiveInt('--session-hours', v), 24)
        .option(
            '--sessions-file <file>',
            "where the sessions holding the wallet's budget are written down, so that a restarted gateway closes and finalizes those it left (default ~/.cocoon/gateway/NETWORK-WALLET.sessions.json)",
        )
        .option('--quiet', 'log only warnings and errors', false)
        .option(
            '--dev',
            'development (testnet, the devnet): also use workers attested with simulated evidence by development verifiers',
            false,
        );
}

function port(v: string): number {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--port must be a port number (0 for any free one), got ${v}`);
    return n;
}

if (require.main === module) {
    const program = gatewayProgram().parse();
    startGateway(program.opts<GatewayCliOptions>()).then(
        (g) => {
            process.stdout.write(`OpenAI-compatible API at ${g.url}\n`);
            const shutdown = () => g.stop().then(() => process.exit(0));
            process.on('SIGINT', shutdown);
            process.on('SIGTERM', shutdown);
        },
        (e) => {
            process.stderr.write(`cocoon-gateway: ${(e as Error).message}\n`);
            process.exit(e instanceof UsageError ? 64 : 1);
        },
    );
}
