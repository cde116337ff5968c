// The worker as its own process, killed with kill -9 in the middle of a session and started
// again: with its keys sealed, the session goes on (no new session, no new attestation, no
// message on-chain for it), the request in flight is answered after the restart, and every
// nanoton is accounted for.
import { ChildProcess } from 'child_process';
import { toNano } from '@ton/core';
import { CocoonClient } from '../../sdk';
import { sessionFor } from '../../wrappers';
import { DEMO_MODEL, LOCAL_CLIENT_POLICY, LocalNetwork, startLocalNetwork } from '../../testkit/local-network';
import { serveChainBridge, spawnWorkerProcess } from '../../testkit/chain-bridge';
import { tempDir } from '../tmp';

const ask = (content: string) => ({ messages: [{ role: 'user' as const, content }], max_tokens: 32 });

describe('a worker process killed with kill -9', () => {
    let net: LocalNetwork;
    let child: ChildProcess | undefined;
    let closeBridge: (() => Promise<void>) | undefined;
    afterEach(async () => {
        child?.kill('SIGKILL');
        await closeBridge?.();
        await net?.stop();
    });

    it('comes back with its sealed keys: the session goes on, the request in flight is answered, TON conserved', async () => {
        net = await startLocalNetwork();
        await net.stopWorker(); // the in-process worker makes way for the process
        const bridge = await serveChainBridge(net);
        closeBridge = bridge.close;
        const o = {
            bridgeUrl: bridge.url,
            provider: net.provider.toString(),
            verifiers: net.verifierUrls,
            backendUrl: net.backendUrl,
            dir: tempDir('worker-process'),
            port: Number(new URL(net.workerUrl).port),
        };
        child = await spawnWorkerProcess(o); // attests its new keys through the bridge
        const client = new CocoonClient({
            ...LOCAL_CLIENT_POLICY,
            chain: net.chain,
            wallet: net.ledger.sender(net.client),
            root: net.root.address,
            requestTimeoutMs: 3000,
            retries: 6,
        });
        await net.ledger.track('session', (await sessionFor(net.root.address, net.gpuOwner.address, net.client.address, 1n)).address);
        const session = await client.openSession(net.provider, {
            model: DEMO_MODEL,
            budget: toNano('5'),
            durationSeconds: 3600,
            nonce: 1n,
        });
        const first = await session.chat(ask('before the crash'));
        const attestation = await session.checkAttestation();

        net.setBackendDelay(1500); // the next request is in the model when the worker dies
        const inFlight = session.chat(ask('during the crash'));
        await new Promise((r) => setTimeout(r, 500));
        child.kill('SIGKILL');
        await new Promise((r) => child!.once('exit', r));
        net.setBackendDelay(0);
        child = await spawnWorkerProcess(o); // the same keys, unsealed: no attestation needed

        const during = await inFlight; // the SDK's retries reached the restarted worker
        expect(during.completion.choices[0].message.content).toContain('during the crash');
        expect(during.receipt.seqno).toBeGreaterThan(first.receipt.seqno);
        const after = await session.chat(ask('after the crash'));
        expect(after.receipt.seqno).toBe(during.receipt.seqno + 1);
        expect((await session.checkAttestation()).equals(attestation)).toBe(true); // the same attested key
        await session.close();
        await new Promise((r) => setTimeout(r, 2500)); // the worker's next pass claims the closing session
        const s = await session.refresh();
        expect(s.claimed).toBe(after.receipt.amountDue);
        net.blockchain.now = session.finalizableAt().at;
        await expect(session.finalize()).resolves.toMatchObject({ claimed: after.receipt.amountDue, timedOut: false });
        expect(net.ledger.untracked()).toEqual([]);
        expect(await net.ledger.imbalance()).toBe(0n);
    });
});
