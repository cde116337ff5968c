// The worker of the local network as a process of its own (see chain-bridge.ts): the production
// Worker, Meter, sealed keys (sealed with the verifiers' shares) and HTTP server, with the chain reached through the bridge. Prints
// "serving URL" when ready; runs its background pass every `tickMs`.
import { Address, toNano } from '@ton/core';
import { join } from 'path';
import pino from 'pino';
import { bridgedChain, WorkerProcessOptions } from './chain-bridge';
import { DEMO_MODEL, DEMO_MODEL_HASH, LOCAL_GLOBAL_ID, localSealedKeys } from './local-network';
import { readProvider } from '../protocol/state';
import { Meter } from '../worker/src/meter';
import { Worker } from '../worker/src/worker';
import { openAiBackend } from '../worker/src/backend';
import { buildWorkerServer } from '../worker/src/server';

async function main() {
    const o = JSON.parse(process.argv[2]) as WorkerProcessOptions;
    const { chain, sender } = bridgedChain(o.bridgeUrl);
    const provider = Address.parse(o.provider);
    const root = async () => (await readProvider(chain, provider))!.root;
    const worker = await Worker.create({
        provider,
        globalId: LOCAL_GLOBAL_ID,
        chain,
        sender,
        verifiers: o.verifiers,
        backend: openAiBackend(o.backendUrl),
        models: [DEMO_MODEL],
        modelHash: DEMO_MODEL_HASH,
        meter: new Meter(join(o.dir, 'worker.sqlite'), LOCAL_GLOBAL_ID),
        evidence: { tsmDir: join(o.dir, 'no-tsm'), allowSimulated: true },
        claim: {
            minAmount: toNano('1000'),
            intervalSeconds: 86_400,
            deadlineMarginSeconds: 600,
            finalizeAbandonedAfterSeconds: 7 * 86_400,
        },
        refreshMarginSeconds: 3600,
        sessionCacheSeconds: 3,
        maxConcurrentPerSession: 8,
        perSessionPerMinute: 1_000_000,
        answerRetentionSeconds: 600,
        sealedKeys: localSealedKeys(o.dir, provider, o.verifiers, chain, root),
        confirmTimeoutMs: 5000,
        log: pino({ level: process.env.COCOON_LOG_LEVEL ?? 'silent' }),
    });
    if (await worker.attestationDue()) await worker.attest();
    const app = await buildWorkerServer(worker);
    const url = await app.listen({ host: '127.0.0.1', port: o.port });
    const tickMs = o.tickMs ?? 1000;
    const loop = async () => {
        await worker.tick();
        setTimeout(loop, tickMs);
    };
    setTimeout(loop, tickMs);
    process.on('SIGTERM', () => process.exit(0)); // (an orderly exit writes a --cpu-prof profile)
    process.stdout.write(`serving ${url}\n`);
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
