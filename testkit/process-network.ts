// Every component of a Cocoon deployment as its own process, talking only HTTP, started with the
// commands an operator runs: the devnet (`npm run devnet`, a toncenter v2 API over its chain), two
// verifiers (`cocoon-verifier serve --dev --key-file`, each submitting from its own wallet), the
// built-in backend, a worker (`cocoon-worker serve` with the devnet as its endpoint, a wallet and
// keys sealed with the verifiers' shares) and the gateway as the client (`cocoon-gateway --root`,
// paying from its wallet). Nothing shares memory with the harness: it reads the chain through the
// devnet's API like any tool. Used by tests/processes/ and `npm run demo -- --processes`.
import { ChildProcess, spawn } from 'child_process';
import { randomBytes } from 'crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { Address, beginCell, toNano } from '@ton/core';
import { ChainAccess, failoverChain, mnemonicWallet } from '../protocol/chain';
import { readProvider } from '../protocol/state';
import { buildListing, providerForOwner, storeRegister, storeStake } from '../wrappers';
import type { DevnetInfo } from '../devnet/src/setup';
import { nodeArgs } from './compiled';
import { DEMO_MODEL, demoListing } from './local-network';
import { restartablePort } from './ports';

const ROOT_DIR = join(__dirname, '..');
const READY_TIMEOUT_MS = 120_000;

/** One component's process: started from its command line, ready when its output says so. */
export class Component {
    private child?: ChildProcess;
    private exited?: Promise<number | null>;
    private tail = ''; // the last lines it printed, for the error when it fails
    starts = 0;

    constructor(
        readonly name: string,
        private readonly entry: string, // the TypeScript entry point, run from dist/ when compiled
        private readonly args: string[],
        private readonly env: NodeJS.ProcessEnv,
        private readonly ready: RegExp, // in its stdout or stderr once it serves
    ) {}

    // Starts it and waits until it says it is ready; what the ready pattern matched.
    start(): Promise<RegExpMatchArray> {
        const child = spawn(process.execPath, [...nodeArgs(this.entry), ...this.args], {
            cwd: ROOT_DIR,
            env: { ...process.env, COCOON_QUIET: '1', ...this.env },
            stdio: ['ignore', 'pipe', 'pipe'],
        });
        this.child = child;
        this.starts += 1;
        this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
        return new Promise((resolve, reject) => {
            let seen = '';
            const timer = setTimeout(() => reject(this.failure(`not ready after ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS);
            const read = (d: Buffer) => {
                const text = d.toString();
                this.tail = (this.tail + text).slice(-4000);
                seen += text;
                const m = seen.match(this.ready);
                if (m) {
                    clearTimeout(timer);
                    seen = '';
                    resolve(m);
                }
            };
            child.stdout!.on('data', read);
            child.stderr!.on('data', read);
            child.once('exit', (code) => {
                clearTimeout(timer);
                reject(this.failure(`exited with ${code} before it was ready`));
            });
        });
    }

    private failure(why: string): Error {
        return new Error(`${this.name} ${why}; its last output:\n${this.tail}`);
    }

    // kill -9: no orderly shutdown, nothing flushed that was not already.
    async crash() {
        this.child?.kill('SIGKILL');
        await this.exited;
    }

    // SIGTERM, its orderly shutdown (the worker's last claim, the gateway's closes); kill -9 after `graceMs`.
    async stop(graceMs = 60_000): Promise<number | null> {
        if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return this.child?.exitCode ?? null;
        this.child.kill('SIGTERM');
        const timer = setTimeout(() => this.child?.kill('SIGKILL'), graceMs);
        const code = await this.exited;
        clearTimeout(timer);
        return code ?? null;
    }

    get output(): string {
        return this.tail;
    }
}

export interface ProcessNetwork {
    dir: string;
    api: string; // the devnet's toncenter v2 API
    info: DevnetInfo;
    chain: ChainAccess; // the harness's own reads, through the API
    root: Address;
    owner: Address; // the GPU owner's wallet
    client: Address; // the gateway's wallet, which pays sessions
    provider: Address;
    devnet: Component;
    backend: Component;
    verifiers: Component[];
    worker: Component;
    gateway: Component;
    gatewayUrl: string; // the OpenAI-compatible API: http://127.0.0.1:PORT/v1
    workerUrl: string;
    advance(seconds: number): Promise<void>; // moves the devnet's clock
    ledger(): Promise<DevnetLedger>;
    stop(): Promise<void>; // every process, orderly
}

/** The devnet's GET /admin/ledger: every account's balance and every fee, against the TON minted at set-up. */
export interface DevnetLedger {
    supply: bigint;
    balances: bigint;
    fees: bigint;
    imbalance: bigint; // balances + fees - supply: 0 when no TON was created or destroyed
    accounts: { address: string; balance: bigint }[];
}

export interface ProcessNetworkOptions {
    dir: string;
    backendDelayMs?: number; // the built-in backend answers this late
    step?: (text: string) => void; // what is happening, for a person watching
}

// Wallets of the devnet (npm run devnet --wallets 6): who pays for what.
const WALLET = { governance: 0, owner: 1, verifierA: 2, client: 3, verifierB: 4, worker: 5 } as const;

export async function startProcessNetwork(o: ProcessNetworkOptions): Promise<ProcessNetwork> {
    const step = o.step ?? (() => {});
    mkdirSync(o.dir, { recursive: true });
    const started: Component[] = [];
    try {
        const [devnetPort, backendPort, workerPort, gatewayPort, ...verifierPorts] = await Promise.all(
            Array.from({ length: 6 }, () => restartablePort()),
        );
        step('the devnet: a local TON chain behind a toncenter-compatible API, Root deployed with two development verifiers');
        const devnetDir = join(o.dir, 'devnet');
        const devnet = new Component(
            'devnet',
            'devnet/src/cli.ts',
            ['--port', String(devnetPort), '--state', devnetDir, '--wallets', '6', '--verifiers', '2'],
            {},
            /toncenter-compatible API at (\S+)/,
        );
        const api = (await devnet.start())[1];
        started.push(devnet);
        const info = JSON.parse(readFileSync(join(devnetDir, 'devnet.json'), 'utf8')) as DevnetInfo;
        const mnemonic = (i: number) => info.wallets[i].mnemonic;
        const rpc = `${api}jsonRPC`;
        const chain = failoverChain([{ url: rpc }], { followChainClock: true });
        const root = Address.parse(info.root!);
        const owner = Address.parse(info.wallets[WALLET.owner].address);
        const provider = (await providerForOwner(root, owner)).address;
        const workerUrl = `http://127.0.0.1:${workerPort}`;

        step('the GPU owner registers its Provider (listing the worker at ' + workerUrl + ') and stakes, from its wallet');
        const ownerWallet = await mnemonicWallet(chain, mnemonic(WALLET.owner).split(' '), { pollMs: 200 });
        const init = (await providerForOwner(root, owner)).init!;
        const listing = buildListing(demoListing(workerUrl, { modelHash: Buffer.from(info.modelHash!, 'hex') }));
        const register = beginCell();
        storeRegister({ $$type: 'Register', queryId: 0n, listing })(register);
        await ownerWallet.sender.send({ to: provider, value: toNano('150'), body: register.endCell(), init, bounce: false });
        const stake = beginCell();
        storeStake({ $$type: 'Stake', queryId: 0n })(stake);
        await ownerWallet.sender.send({ to: provider, value: toNano('50'), body: stake.endCell(), bounce: true });
        const registered = await readProvider(chain, provider);
        if (!registered || registered.stake < toNano('150')) throw new Error('the Provider did not register with its stake');

        step('the built-in backend (not a language model)');
        const backend = new Component(
            'backend',
            'worker/src/cli.ts',
            ['echo-backend', '--port', String(backendPort), ...(o.backendDelayMs ? ['--delay', String(o.backendDelayMs)] : [])],
            {},
            /built-in test backend/,
        );
        await backend.start();
        started.push(backend);

        step('two verifiers, each with its key from the devnet, a sealing secret, and a wallet that submits proofs');
        const verifierUrls = verifierPorts.map((p) => `http://127.0.0.1:${p}`);
        const verifiers = info.verifierKeyFiles.map((keyFile, i) => {
            const secret = join(o.dir, `sealing-${i + 1}.secret`);
            writeFileSync(secret, randomBytes(32).toString('hex'), { mode: 0o600 });
            const peers = verifierUrls.filter((_, j) => j !== i);
            return new Component(
                `verifier-${i + 1}`,
                'tee-verifier/src/cli.ts',
                [
                    'serve',
                    '--dev',
                    '--root',
                    root.toString(),
                    '--endpoint',
                    rpc,
                    '--key-file',
                    keyFile,
                    '--db',
                    join(o.dir, `verifier-${i + 1}.sqlite`),
                    '--port',
                    String(verifierPorts[i]),
                    '--peer',
                    ...peers,
                    '--threshold',
                    '2',
                    '--sealing-secret-file',
                    secret,
                ],
                { COCOON_VERIFIER_MNEMONIC: mnemonic(i === 0 ? WALLET.verifierA : WALLET.verifierB), COCOON_LOG_LEVEL: 'warn' },
                /verifier listening/,
            );
        });
        for (const v of verifiers) {
            await v.start();
            started.push(v);
        }

        step("the worker: attests its keys through the verifiers, who submit the proof on-chain; keys sealed with the verifiers' shares");
        const worker = new Component(
            'worker',
            'worker/src/cli.ts',
            [
                'serve',
                '--dev',
                '--root',
                root.toString(),
                '--owner',
                owner.toString(),
                '--endpoint',
                rpc,
                '--verifier',
                ...verifierUrls,
                '--backend',
                `http://127.0.0.1:${backendPort}`,
                '--model',
                DEMO_MODEL,
                '--model-hash',
                info.modelHash!,
                '--db',
                join(o.dir, 'worker.sqlite'),
                '--tsm',
                join(o.dir, 'no-tsm'),
                '--sealed-keys',
                join(o.dir, 'worker.keys'),
                '--seal-with-verifiers',
                '--port',
                String(workerPort),
                '--tick',
                '1',
                '--claim-min',
                '1000',
            ],
            { COCOON_WORKER_MNEMONIC: mnemonic(WALLET.worker) },
            /"msg":"serving clients"/,
        );
        await worker.start();
        started.push(worker);

        step('the gateway: an OpenAI-compatible API whose wallet opens and pays sessions');
        const gateway = new Component(
            'gateway',
            'gateway/src/cli.ts',
            [
                '--dev',
                '--root',
                root.toString(),
                '--endpoint',
                rpc,
                '--port',
                String(gatewayPort),
                '--sessions-file',
                join(o.dir, 'gateway.sessions.json'),
                '--budget',
                '20',
                '--quiet',
            ],
            { COCOON_GATEWAY_MNEMONIC: mnemonic(WALLET.client) },
            /OpenAI-compatible API at (\S+)/,
        );
        const gatewayUrl = (await gateway.start())[1];
        started.push(gateway);

        const admin = (path: string, init?: RequestInit) => fetch(new URL(path, api), init);
        return {
            dir: o.dir,
            api,
            info,
            chain,
            root,
            owner,
            client: Address.parse(info.wallets[WALLET.client].address),
            provider,
            devnet,
            backend,
            verifiers,
            worker,
            gateway,
            gatewayUrl,
            workerUrl,
            async advance(seconds) {
                const res = await admin('/admin/advance', {
                    method: 'POST',
                    headers: { 'content-type': 'application/json' },
                    body: JSON.stringify({ seconds }),
                });
                if (!res.ok) throw new Error(`the devnet refused to advance its clock: ${res.status} ${await res.text()}`);
            },
            async ledger() {
                const res = await admin('/admin/ledger');
                const body = (await res.json()) as { ok: boolean; error?: string; result: Record<string, unknown> };
                if (!body.ok) throw new Error(`the devnet's ledger: ${body.error}`);
                const r = body.result as {
                    supply: string;
                    balances: string;
                    fees: string;
                    imbalance: string;
                    accounts: { address: string; balance: string }[];
                };
                return {
                    supply: BigInt(r.supply),
                    balances: BigInt(r.balances),
                    fees: BigInt(r.fees),
                    imbalance: BigInt(r.imbalance),
                    accounts: r.accounts.map((a) => ({ address: a.address, balance: BigInt(a.balance) })),
                };
            },
            async stop() {
                for (const c of [gateway, worker, ...verifiers, backend, devnet]) await c.stop();
            },
        };
    } catch (e) {
        for (const c of started.reverse()) await c.crash();
        throw e;
    }
}
