// Everything of a Cocoon deployment on one machine: the embedded @ton/sandbox chain with Root
// configured by governance, two TEE verifiers (2-of-2) and a worker with the built-in test
// backend, all on loopback HTTP. Used by `npm run demo` and the end-to-end tests.
import { Blockchain, SandboxContract, TreasuryContract } from '@ton/sandbox';
import { Address, Cell, beginCell, toNano } from '@ton/core';
import { randomBytes } from 'crypto';
import { join } from 'path';
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import {
    EXAMPLE_PARAMS,
    GLOBAL_ID_MAINNET,
    ListingInput,
    ProtocolParams,
    Root,
    buildListing,
    bufferToBigInt,
    ed25519FromSeed,
    providerForOwner,
    rootForDeployment,
    storeAddVerifier,
    storeAllowMeasurement,
    storeDeployRoot,
    storeRegister,
    storeSetThreshold,
    storeStake,
} from '../wrappers';
import { ChainAccess, sandboxChain } from '../sdk/chain';
import { Attestor, SIMULATED_MEASUREMENT } from '../tee-verifier/src/attest';
import { DEFAULT_TCB_POLICY } from '../tee-verifier/src/quote';
import { buildServer } from '../tee-verifier/src/server';
import { httpPeer } from '../tee-verifier/src/peer';
import { VerifierStore } from '../tee-verifier/src/store';
import { startEchoBackend } from '../worker/src/echo-backend';
import { openAiBackend } from '../worker/src/backend';
import { Meter } from '../worker/src/meter';
import { buildWorkerServer } from '../worker/src/server';
import { ClaimPolicy, Worker } from '../worker/src/worker';
import { FlowLedger } from './ledger';

export const DEMO_MODEL = 'cocoon-echo'; // the built-in backend: not a language model
export const DEMO_PRICES = { pricePerMillionIn: toNano('100'), pricePerMillionOut: toNano('300') };

export interface LocalNetwork {
    blockchain: Blockchain;
    chain: ChainAccess;
    ledger: FlowLedger;
    governance: SandboxContract<TreasuryContract>;
    gpuOwner: SandboxContract<TreasuryContract>;
    workerWallet: SandboxContract<TreasuryContract>;
    client: SandboxContract<TreasuryContract>;
    root: SandboxContract<Root>;
    provider: Address;
    verifierUrls: string[];
    workerUrl: string;
    worker: Worker;
    // sessionCacheSeconds: how long the worker trusts a session read from the chain (default 15)
    startWorker(o?: { claim?: Partial<ClaimPolicy>; sessionCacheSeconds?: number }): Promise<Worker>;
    stopWorker(): Promise<void>;
    stop(): Promise<void>;
}

const quiet = pino({ level: process.env.COCOON_LOG_LEVEL ?? 'silent' });

async function sendOk(
    ledger: FlowLedger,
    wallet: SandboxContract<TreasuryContract>,
    to: Address,
    value: bigint,
    body: Cell,
    init?: { code: Cell; data: Cell },
) {
    const before = ledger.transactions.length;
    await ledger.sender(wallet).send({ to, value, body, init, bounce: !init });
    const failed = ledger.transactions.slice(before).find((t) => t.description.type === 'generic' && t.description.aborted);
    if (failed && failed.description.type === 'generic' && failed.description.computePhase.type === 'vm') {
        throw new Error(`setup transaction failed with exit code ${failed.description.computePhase.exitCode}`);
    }
}

// `step` reports progress ("what is happening") as the network comes up.
export async function startLocalNetwork(
    o: { params?: ProtocolParams; step?: (text: string) => void; stakeTon?: string; validitySeconds?: number } = {},
): Promise<LocalNetwork> {
    const step = o.step ?? (() => undefined);
    const dir = mkdtempSync(join(tmpdir(), 'cocoon-local-'));
    const closers: (() => Promise<unknown> | unknown)[] = [() => rmSync(dir, { recursive: true, force: true })];
    try {
        const blockchain = await Blockchain.create();
        blockchain.now = Math.floor(Date.now() / 1000);
        const chain = sandboxChain(blockchain);
        const ledger = new FlowLedger(blockchain);
        const governance = await blockchain.treasury('governance');
        const gpuOwner = await blockchain.treasury('gpu-owner');
        const workerWallet = await blockchain.treasury('worker-wallet');
        const client = await blockchain.treasury('client');
        const params = o.params ?? EXAMPLE_PARAMS;
        const root = blockchain.openContract(await rootForDeployment({ owner: governance.address, globalId: GLOBAL_ID_MAINNET, params }));
        const provider = await providerForOwner(root.address, gpuOwner.address);
        for (const [name, address] of [
            ['governance', governance.address],
            ['GPU owner', gpuOwner.address],
            ['worker wallet', workerWallet.address],
            ['client', client.address],
            ['Root', root.address],
            ['Provider', provider.address],
        ] as const) {
            await ledger.track(name, address);
        }

        step(`Governance deploys Root and sets up two verifiers (2-of-2) and the development measurement`);
        await sendOk(
            ledger,
            governance,
            root.address,
            toNano('1'),
            beginCell()
                .store(storeDeployRoot({ $$type: 'DeployRoot', queryId: 0n }))
                .endCell(),
            root.init!,
        );
        const verifierKeys = [0, 1].map(() => ed25519FromSeed(randomBytes(32)));
        for (const k of verifierKeys) {
            const body = beginCell()
                .store(storeAddVerifier({ $$type: 'AddVerifier', queryId: 0n, publicKey: bufferToBigInt(k.publicKey) }))
                .endCell();
            await sendOk(ledger, governance, root.address, toNano('0.05'), body);
        }
        await sendOk(
            ledger,
            governance,
            root.address,
            toNano('0.05'),
            beginCell()
                .store(storeSetThreshold({ $$type: 'SetThreshold', queryId: 0n, threshold: 2n }))
                .endCell(),
        );
        // Development only: a production Root never allowlists the simulated measurement.
        const allow = storeAllowMeasurement({
            $$type: 'AllowMeasurement',
            queryId: 0n,
            measurement: bufferToBigInt(SIMULATED_MEASUREMENT),
        });
        await sendOk(ledger, governance, root.address, toNano('0.05'), beginCell().store(allow).endCell());

        step('Two TEE verifiers start on loopback (development mode: simulated evidence accepted)');
        const verifierUrls: string[] = [];
        for (const [i, key] of [...verifierKeys].reverse().entries()) {
            const store = new VerifierStore(join(dir, `verifier-${i}.sqlite`));
            const attestor = new Attestor({
                store,
                key,
                root: root.address,
                globalId: GLOBAL_ID_MAINNET,
                allowlist: { isAllowed: async (m) => root.getIsMeasurementAllowed(bufferToBigInt(m)) },
                collateral: {
                    collateralFor: async () =>
                        Promise.reject(new Error('the local network has no DCAP collateral: TDX quotes need --collateral or --pccs')),
                },
                policy: DEFAULT_TCB_POLICY,
                validitySeconds: o.validitySeconds ?? 6 * 3600,
                nonceTtlSeconds: 600,
                devMode: true,
                now: chain.now,
                // the second one started is the first in the list: it gathers the other's signature
                peers: verifierUrls.map((url) => httpPeer(url, url)),
                threshold: verifierUrls.length + 1,
            });
            const app = await buildServer({ attestor, store, devMode: true, rateLimitPerMinute: 10_000 });
            verifierUrls.unshift(await app.listen({ host: '127.0.0.1', port: 0 }));
            closers.push(
                () => app.close(),
                () => store.close(),
            );
        }

        step('The built-in test backend (not a language model) and the worker start on loopback');
        const backend = await startEchoBackend();
        closers.push(() => backend.app.close());
        const workerDb = join(dir, 'worker.sqlite');
        let workerApp: FastifyInstance | undefined;
        let meter: Meter | undefined;
        const net: LocalNetwork = {
            blockchain,
            chain,
            ledger,
            governance,
            gpuOwner,
            workerWallet,
            client,
            root,
            provider: provider.address,
            verifierUrls,
            workerUrl: '', // set when the worker first listens
            worker: undefined as unknown as Worker, // set by startWorker just below
            async startWorker(w = {}) {
                meter = new Meter(workerDb, GLOBAL_ID_MAINNET);
                const worker = await Worker.create({
                    provider: provider.address,
                    globalId: GLOBAL_ID_MAINNET,
                    chain,
                    sender: ledger.sender(workerWallet),
                    verifiers: verifierUrls,
                    backend: openAiBackend(backend.url),
                    models: [DEMO_MODEL],
                    meter,
                    evidence: { tsmDir: join(dir, 'no-tsm'), allowSimulated: true },
                    claim: { minAmount: toNano('1000'), intervalSeconds: 86_400, deadlineMarginSeconds: 600, ...w.claim },
                    refreshMarginSeconds: 3600,
                    sessionCacheSeconds: w.sessionCacheSeconds ?? 15,
                    confirmTimeoutMs: 1000,
                    log: quiet,
                });
                workerApp = await buildWorkerServer(worker);
                // the same port across restarts: the listing names it
                const port = net.workerUrl ? Number(new URL(net.workerUrl).port) : 0;
                net.workerUrl = await workerApp.listen({ host: '127.0.0.1', port });
                net.worker = worker;
                return worker;
            },
            async stopWorker() {
                await workerApp?.close();
                meter?.close();
                workerApp = undefined;
                meter = undefined;
            },
            async stop() {
                await net.stopWorker();
                for (const c of closers.reverse()) await c();
            },
        };
        await net.startWorker();

        step(
            `The GPU owner registers its Provider with ${o.stakeTon ?? '150'} TON attached, listing ${DEMO_MODEL} at the worker's URL, then stakes 50 TON more`,
        );
        const listing: ListingInput = {
            gpuModel: 'NVIDIA H100 80GB HBM3',
            gpuCount: 1,
            vramGb: 80,
            endpoint: net.workerUrl,
            models: [{ name: DEMO_MODEL, prices: DEMO_PRICES }],
        };
        const register = beginCell()
            .store(storeRegister({ $$type: 'Register', queryId: 0n, listing: buildListing(listing) }))
            .endCell();
        await sendOk(ledger, gpuOwner, provider.address, toNano(o.stakeTon ?? '150'), register, provider.init!);
        const stake = beginCell()
            .store(storeStake({ $$type: 'Stake', queryId: 0n }))
            .endCell();
        await sendOk(ledger, gpuOwner, provider.address, toNano('50'), stake);
        return net;
    } catch (e) {
        for (const c of closers.reverse()) await c();
        throw e;
    }
}
