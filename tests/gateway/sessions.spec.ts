// The gateway's money under failure: a request whose outcome is unknown is never paid twice (not
// failed over; retried under its Idempotency-Key, charged once), parallel requests that find a
// session short top it up once, and no session's budget is left behind: sessions the gateway stops
// using are closed and finalized, also by a gateway restarted after it was killed.
import OpenAI from 'openai';
import { readFileSync } from 'fs';
import { join } from 'path';
import { Address, toNano } from '@ton/core';
import type { FastifyInstance } from 'fastify';
import { buildGateway, GatewayOptions } from '../../gateway/src/app';
import { DEFAULT_SESSION_POLICY, SessionPool } from '../../gateway/src/sessions';
import type { ClientSession, CocoonClient } from '../../sdk';
import { DEMO_PRICES, LocalNetwork, addLocalProvider, localClient, startLocalNetwork } from '../../testkit/local-network';
import { readSession } from '../../protocol/state';
import { SESSION_CLOSING, SESSION_FINALIZED } from '../../wrappers';
import { tempDir } from '../tmp';
import { WorkerRefusal } from '../../worker/src/worker';

const ask = (content: string) => ({ model: 'cocoon-echo', messages: [{ role: 'user' as const, content }], max_tokens: 32 });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function serve(net: LocalNetwork, o: Partial<GatewayOptions> & { requestTimeoutMs?: number; retries?: number } = {}) {
    const { requestTimeoutMs, retries, ...rest } = o;
    const app: FastifyInstance = await buildGateway({
        client: localClient(net, { retries: retries ?? 1, ...(requestTimeoutMs ? { requestTimeoutMs } : {}) }),
        policy: { ...DEFAULT_SESSION_POLICY, budget: toNano('20') },
        ...rest,
    });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    return { app, url, openai: new OpenAI({ baseURL: `${url}/v1`, apiKey: 'x', maxRetries: 0 }) };
}

const recorded = (file: string): Address[] =>
    (JSON.parse(readFileSync(file, 'utf8')) as { sessions: string[] }).sessions.map((a) => Address.parse(a));

describe('gateway: a request whose answer was lost', () => {
    let net: LocalNetwork;
    afterEach(() => net?.stop());

    it('is not sent to another provider (it could be paid twice); the same Idempotency-Key gets the answer, charged once', async () => {
        net = await startLocalNetwork();
        await net.worker.attest();
        const second = await addLocalProvider(net, 'second', { prices: { ...DEMO_PRICES, completion: DEMO_PRICES.completion * 2n } });
        const { app, openai } = await serve(net, { requestTimeoutMs: 600, retries: 0 });
        try {
            await openai.chat.completions.create(ask('warm up')); // a session with the first provider
            const key = { headers: { 'Idempotency-Key': 'order-42' } };

            net.setBackendDelay(1500); // the worker answers after the gateway gave up waiting
            const lost = await openai.chat.completions.create(ask('slow one'), key).catch((e) => e);
            expect(lost).toBeInstanceOf(OpenAI.APIError);
            expect([lost.status, lost.error.code]).toEqual([502, 'outcome_unknown']);
            expect(lost.error.message).toContain('Retry with the same Idempotency-Key');
            expect(second.worker.stats.requests).toBe(0); // not asked elsewhere
            await sleep(1200); // the first worker served it and stored its answer
            net.setBackendDelay(0);
            const charged = net.worker.stats.tokens;

            // the key's retry meets a refusal that proves only that attempt unserved: still not sent elsewhere
            const handle = net.worker.handleChat.bind(net.worker);
            net.worker.handleChat = async () => {
                throw new WorkerRefusal('not-attested', 503, 'attesting again: retry shortly');
            };
            const refused = await openai.chat.completions.create(ask('slow one'), key).catch((e) => e);
            expect([refused.status, refused.error.code]).toEqual([502, 'outcome_unknown']);
            expect(second.worker.stats.requests).toBe(0);
            net.worker.handleChat = handle;

            const again = await openai.chat.completions.create(ask('slow one'), key);
            expect(again.choices[0].message.content).toContain('slow one');
            expect(net.worker.stats.tokens).toEqual(charged); // the stored answer: not served (nor charged) again
            expect(second.worker.stats.requests).toBe(0);

            const reused = await openai.chat.completions.create(ask('another request'), key).catch((e) => e);
            expect([reused.status, reused.error.code]).toEqual([409, 'idempotency_key_reused']);

            // a new request goes to the next provider: the first was set aside after it failed
            expect((await openai.chat.completions.create(ask('next'))).choices[0].message.content).toContain('next');
            expect(second.worker.stats.requests).toBe(1);
        } finally {
            await app.close();
        }
    });

    it('without a key, the caller is told how to make such retries safe; a worker never reached is failed over', async () => {
        net = await startLocalNetwork();
        await net.worker.attest();
        const second = await addLocalProvider(net, 'second', { prices: { ...DEMO_PRICES, prompt: DEMO_PRICES.prompt * 2n } });
        const recordFile = join(tempDir('gateway-record'), 'sessions.json');
        const { app, url } = await serve(net, {
            requestTimeoutMs: 600,
            retries: 0,
            sessionRecordFile: recordFile,
            settleEveryMs: 50,
            policy: { ...DEFAULT_SESSION_POLICY, budget: toNano('20'), retireAfterMs: 0 },
        });
        // OpenAI's client as apps use it, retrying failures on its own (twice by default)
        const openai = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'x' });
        try {
            await openai.chat.completions.create(ask('warm up'));
            const [firstSession] = recorded(recordFile);
            net.setBackendDelay(1500);
            const lost = await openai.chat.completions.create({ ...ask('slow stream'), stream: true }).catch((e) => e);
            expect([lost.status, lost.error.code]).toEqual([502, 'outcome_unknown']);
            expect(lost.error.message).toContain('Send an Idempotency-Key header');
            expect(lost.headers.get('x-should-retry')).toBe('false'); // its retry would be a new request, elsewhere
            expect(second.worker.stats.requests).toBe(0);
            net.setBackendDelay(0);
            await net.stopWorker(); // refused connections prove nothing was delivered: failed over
            expect((await openai.chat.completions.create(ask('elsewhere'))).choices[0].message.content).toContain('elsewhere');
            expect(second.worker.stats.requests).toBe(1);
            // the session with the provider that failed is closed (its budget comes back after the grace period)
            await sleep(200);
            expect((await readSession(net.chain, firstSession))!.status).toBe(Number(SESSION_CLOSING));
            expect(recorded(recordFile)).toHaveLength(2); // until it is finalized
        } finally {
            await app.close();
        }
    });
});

describe('gateway: a request that may have been served, with no failover left', () => {
    let net: LocalNetwork;
    afterEach(() => net?.stop());

    it("tells OpenAI's clients not to retry it as a new request", async () => {
        net = await startLocalNetwork();
        await net.worker.attest();
        const { app, openai } = await serve(net, { requestTimeoutMs: 600, retries: 0, maxFailovers: 0 });
        try {
            await openai.chat.completions.create(ask('warm up'));
            net.setBackendDelay(1500);
            const lost = await openai.chat.completions.create(ask('slow')).catch((e) => e);
            expect([lost.status, lost.error.code]).toEqual([502, 'worker_unreachable']);
            expect(lost.headers.get('x-should-retry')).toBe('false');
            net.setBackendDelay(0);
            await sleep(1000); // (the worker finishes the answer it kept)
        } finally {
            await app.close();
        }
    });
});

describe('gateway: budgets and sessions it no longer uses', () => {
    let net: LocalNetwork;
    afterEach(() => net?.stop());

    it('tops a session up once for parallel requests that find it short (the pool itself)', async () => {
        const pool = new SessionPool({} as CocoonClient, DEFAULT_SESSION_POLICY);
        let topUps = 0;
        const session = {
            budget: toNano('5'),
            async topUp(amount: bigint) {
                topUps += 1;
                await sleep(50); // (a top-up waits for the chain)
                this.budget += amount;
                return this.budget;
            },
        };
        const seen = session.budget;
        await Promise.all([1, 2, 3, 4].map(() => pool.topUp(session as unknown as ClientSession, seen)));
        expect([topUps, session.budget]).toEqual([1, toNano('5') + DEFAULT_SESSION_POLICY.topUpAmount]);
        await pool.topUp(session as unknown as ClientSession, seen); // found short before the top-up: nothing more
        expect(topUps).toBe(1);
        await pool.topUp(session as unknown as ClientSession, session.budget); // short again after it: another
        expect(topUps).toBe(2);
        // a top-up that fails is reported to each waiting request's own attempt, not swallowed
        session.topUp = async () => {
            throw new Error('wallet empty');
        };
        await expect(pool.topUp(session as unknown as ClientSession, session.budget)).rejects.toThrow('wallet empty');
    });

    it('tops a session up once for parallel requests; a restarted gateway settles what a killed one left', async () => {
        net = await startLocalNetwork();
        await net.worker.attest();
        const recordFile = join(tempDir('gateway-record'), 'sessions.json');
        // short once the session opened (20 TON, less a request or two), not after one top-up
        const policy = { ...DEFAULT_SESSION_POLICY, budget: toNano('20'), topUpBelow: toNano('20.5'), topUpAmount: toNano('5') };
        const first = await serve(net, { policy, sessionRecordFile: recordFile });
        await first.openai.chat.completions.create(ask('opens the session'));
        const [address] = recorded(recordFile);
        const opened = (await readSession(net.chain, address))!.budget;
        await Promise.all([1, 2, 3, 4].map((i) => first.openai.chat.completions.create(ask(`parallel ${i}`))));
        const grown = (await readSession(net.chain, address))!.budget - opened;
        expect(grown > toNano('4.9') && grown <= toNano('5')).toBe(true); // one top-up (less its gas), not four

        // "killed": it is never closed (its session is not closed either) until the test ends
        const at = await net.ledger.rebase();
        await net.ledger.track('gateway session', address);
        const walletBefore = (await net.blockchain.getContract(net.client.address)).balance;

        const restarted = await serve(net, { policy, sessionRecordFile: recordFile, settleEveryMs: 50 });
        try {
            await sleep(300); // its first passes close the session it found in the record
            const closing = await readSession(net.chain, address);
            expect(closing!.status).toBe(Number(SESSION_CLOSING));
            await net.worker.tick(); // the provider's worker makes its final claim
            const claimed = (await readSession(net.chain, address))!.claimed;
            expect(claimed).toBeGreaterThan(0n);
            net.blockchain.now = closing!.closedAt + Number(closing!.terms!.closeGracePeriod) + 2;
            await sleep(300); // a pass finalizes it: the rest of the budget comes back
            const settled = await readSession(net.chain, address);
            expect(settled?.status ?? Number(SESSION_FINALIZED)).toBe(Number(SESSION_FINALIZED));
            expect(recorded(recordFile)).toEqual([]);
            const walletAfter = (await net.blockchain.getContract(net.client.address)).balance;
            expect(walletAfter - walletBefore).toBeGreaterThan(opened + grown - claimed - toNano('0.5')); // minus message fees
            expect(net.ledger.untracked(net.ledger.transactions.slice(at))).toEqual([]);
            expect(await net.ledger.imbalance(net.ledger.transactions.slice(at))).toBe(0n);
        } finally {
            await restarted.app.close();
            await first.app.close();
        }
    });
});
