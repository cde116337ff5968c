// The gateway's session pool, record file and Idempotency-Key memory on their own (a fake client,
// no chain): the races and leftovers an attack review found (sessions handed out while being
// closed, a failed top-up repeated by every waiting request, two gateways on one record file,
// overlapping settle passes, one tenant's keys pushing out another's).
import { Address } from '@ton/core';
import { spawn } from 'child_process';
import { readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { DEFAULT_SESSION_POLICY, SessionPool, SessionRecord } from '../../gateway/src/sessions';
import { IdempotencyKeys, KeyConflict } from '../../gateway/src/idempotency';
import { CocoonError } from '../../sdk';
import type { ClientSession, CocoonClient } from '../../sdk';
import { tempDir } from '../tmp';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const addr = (n: number) => new Address(0, Buffer.alloc(32, n));

const unreachable = () => new CocoonError('worker-unreachable', "the provider's worker does not answer");

function fakeClient(o: {
    providers: Record<string, Address[]>;
    settleDelayMs?: number;
    from?: number;
    unhealthy?: Address[];
    discoverMs?: number;
}) {
    let n = o.from ?? 10;
    const settled: string[] = [];
    const client = {
        o: { chain: { now: () => Math.floor(Date.now() / 1000) } },
        async discover({ model, includeUnhealthy }: { model: string; includeUnhealthy?: boolean }) {
            await sleep(o.discoverMs ?? 0);
            const healthMs = (p: Address) => (o.unhealthy?.some((u) => u.equals(p)) ? null : 5);
            return o.providers[model]
                .map((provider) => ({ provider, model, healthMs: healthMs(provider) }))
                .filter((offer) => includeUnhealthy || offer.healthMs !== null);
        },
        async openSessionWithFailover(offers: { provider: Address; model: string }[], p: { beforeOpen?: (a: Address) => void }) {
            const address = addr(n++);
            p.beforeOpen?.(address);
            return {
                address,
                provider: offers[0].provider,
                model: offers[0].model,
                usable: true,
                deadline: Math.floor(Date.now() / 1000) + 24 * 3600,
                budget: 10n ** 12n,
                latest: { amountDue: 0n },
            } as unknown as ClientSession;
        },
        async settleSession(a: Address) {
            settled.push(a.toString());
            await sleep(o.settleDelayMs ?? 0);
            return { step: 'closing' as const };
        },
    };
    return { client: client as unknown as CocoonClient, settled };
}

describe('SessionPool', () => {
    it("keeps the session of a model's only provider through failures on the way to it, asking again after a wait that doubles", async () => {
        const P = addr(1);
        const { client } = fakeClient({ providers: { A: [P] } });
        const pool = new SessionPool(client, { ...DEFAULT_SESSION_POLICY, retireAfterMs: 0 });
        const a = await pool.session('A');
        pool.providerFailed(a, unreachable());
        const refused = await pool.session('A').catch((e) => e as CocoonError);
        expect(refused).toBeInstanceOf(CocoonError);
        expect((refused as CocoonError).message).toBe('the provider of A failed a moment ago: try again in 1 s');
        expect((refused as CocoonError).retryAfterSeconds).toBe(1);
        await sleep(1050);
        expect(await pool.session('A')).toBe(a); // the same session: no new one, nothing to settle
        expect(pool.unsettled).toEqual([]);
        pool.providerFailed(a, unreachable()); // a second failure in a row: twice the wait
        expect(((await pool.session('A').catch((e) => e)) as CocoonError).retryAfterSeconds).toBe(2);
    });

    it('counts requests failing together (in flight when the worker went down) as one failure', async () => {
        const { client } = fakeClient({ providers: { A: [addr(1)] } });
        const pool = new SessionPool(client, DEFAULT_SESSION_POLICY);
        const a = await pool.session('A');
        for (let i = 0; i < 8; i++) pool.providerFailed(a, unreachable());
        expect(((await pool.session('A').catch((e) => e)) as CocoonError).retryAfterSeconds).toBe(1);
    });

    it('retires a kept session after seven failures in a row, each after the wait before it', async () => {
        const { client } = fakeClient({ providers: { A: [addr(1)] } });
        const pool = new SessionPool(client, DEFAULT_SESSION_POLICY);
        const a = await pool.session('A');
        let now = Date.now();
        const clock = jest.spyOn(Date, 'now').mockImplementation(() => now);
        try {
            for (let i = 1; i <= 6; i++) {
                pool.providerFailed(a, unreachable());
                now += 61_000; // (past the wait, capped at 60 s)
                expect(await pool.session('A')).toBe(a);
            }
            pool.providerFailed(a, unreachable());
            expect(pool.unsettled.map(String)).toEqual([a.address.toString()]);
        } finally {
            clock.mockRestore();
        }
    });

    it('retires at once a session its worker can no longer serve (keys lost, session closed), and opens another with the same provider', async () => {
        const P = addr(1);
        const { client } = fakeClient({ providers: { A: [P] } });
        const pool = new SessionPool(client, { ...DEFAULT_SESSION_POLICY, retireAfterMs: 0 });
        const a = await pool.session('A');
        pool.providerFailed(a, new CocoonError('attestation-mismatch', "the provider's attested enclave key changed"));
        const b = await pool.session('A');
        expect(b).not.toBe(a);
        expect(b.provider.equals(P)).toBe(true);
        expect(pool.unsettled.map(String)).toEqual([a.address.toString()]);
        pool.providerFailed(b, new CocoonError('worker-refused', 'the session is not open', 'session-not-open'));
        expect(await pool.session('A')).not.toBe(b);
    });

    it('never replaces a kept session with a new one with the same provider, even when its wait ends during discovery', async () => {
        const P = addr(1);
        const { client } = fakeClient({ providers: { A: [P] }, discoverMs: 1200 });
        const pool = new SessionPool(client, DEFAULT_SESSION_POLICY);
        const a = await pool.session('A');
        pool.providerFailed(a, unreachable());
        await expect(pool.session('A')).rejects.toThrow('failed a moment ago'); // (discovery outlasted the 1 s wait)
        expect(await pool.session('A')).toBe(a);
        expect(pool.unsettled).toEqual([]);
    });

    it("moves a failed provider's model to another provider and never hands out the session it retired", async () => {
        const [P, Q] = [addr(1), addr(2)];
        const { client } = fakeClient({ providers: { A: [P, Q] } });
        const pool = new SessionPool(client, { ...DEFAULT_SESSION_POLICY, avoidFailedProviderMs: 50, retireAfterMs: 0 });
        const a = await pool.session('A');
        expect(a.provider.equals(P)).toBe(true);
        pool.providerFailed(a, unreachable());
        const b = await pool.session('A');
        expect(b.provider.equals(Q)).toBe(true);
        expect(pool.unsettled.map(String)).toEqual([a.address.toString()]); // being closed
        await sleep(60); // P's wait is over, and still the retired session is not handed out
        expect(await pool.session('A')).toBe(b);
    });

    it('passes a provider that answered badly over for the whole avoidance period, retiring its session', async () => {
        const [P, Q] = [addr(1), addr(2)];
        const { client } = fakeClient({ providers: { A: [P, Q], B: [P] } });
        const pool = new SessionPool(client, DEFAULT_SESSION_POLICY);
        const a = await pool.session('B');
        pool.providerFailed(a, new CocoonError('bad-answer', 'the answer does not verify'));
        expect(pool.unsettled.map(String)).toEqual([a.address.toString()]);
        expect(((await pool.session('B').catch((e) => e)) as CocoonError).retryAfterSeconds).toBe(60);
        expect((await pool.session('A')).provider.equals(Q)).toBe(true);
    });

    it("says a model's providers do not answer, not that nobody offers it, when their workers are down", async () => {
        const P = addr(1);
        const { client } = fakeClient({ providers: { A: [P] }, unhealthy: [P] });
        const pool = new SessionPool(client, DEFAULT_SESSION_POLICY);
        const refused = (await pool.session('A').catch((e) => e)) as CocoonError;
        expect(refused.message).toBe("the provider of A listed on-chain does not answer now (their workers' /health): try again shortly");
        expect(refused.retryAfterSeconds).toBe(5);
        const { client: none } = fakeClient({ providers: { A: [] } });
        await expect(new SessionPool(none, DEFAULT_SESSION_POLICY).session('A')).rejects.toThrow('no provider offers A now');
    });

    it('a failed top-up fails every request waiting on it: one message, not one per request', async () => {
        const pool = new SessionPool({} as CocoonClient, DEFAULT_SESSION_POLICY);
        let topUps = 0;
        const session = {
            budget: 5n,
            async topUp() {
                topUps += 1;
                await sleep(50);
                throw new Error('the wallet is empty');
            },
        } as unknown as ClientSession;
        const results = await Promise.allSettled([1, 2, 3, 4].map(() => pool.topUp(session, 5n)));
        expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
        expect(results.map((r) => (r as PromiseRejectedResult).reason.message)).toEqual(Array(4).fill('the wallet is empty'));
        expect(topUps).toBe(1);
    });

    it('runs one settle pass at a time: a session is not sent two closes by overlapping passes', async () => {
        const { client, settled } = fakeClient({ providers: { A: [addr(1)] }, settleDelayMs: 50 });
        const pool = new SessionPool(client, { ...DEFAULT_SESSION_POLICY, retireAfterMs: 0 });
        const s = await pool.session('A');
        (s as { usable: boolean }).usable = false; // (stopped after a bad receipt: retired for a new one)
        await pool.session('A');
        await Promise.all([pool.settle(), pool.settle()]);
        expect(settled).toEqual([s.address.toString()]);
    });
});

describe('SessionRecord', () => {
    it('one gateway per record file: a live one holds it, a dead one is taken over; the file names every session', async () => {
        const file = join(tempDir('record'), 'sessions.json');
        // another live process holds the file
        const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)']);
        try {
            writeFileSync(`${file}.lock`, String(other.pid));
            expect(() => new SessionRecord(file)).toThrow(`another gateway (pid ${other.pid}) uses the session record ${file}`);
        } finally {
            other.kill('SIGKILL');
            await new Promise((r) => other.once('exit', r));
        }
        const record = new SessionRecord(file); // its holder is gone: taken over
        expect(readFileSync(`${file}.lock`, 'utf8')).toBe(String(process.pid));
        record.add(addr(3));
        record.add(addr(4));
        record.remove(addr(3));
        expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ sessions: [addr(4).toString()] });
        record.close();
        expect(new SessionRecord(file).list().map(String)).toEqual([addr(4).toString()]);
    });

    it('refuses a damaged record with what to do, rather than starting afresh and forgetting its sessions', () => {
        const file = join(tempDir('record'), 'sessions.json');
        writeFileSync(file, '{"sessions": [');
        expect(() => new SessionRecord(file)).toThrow('settle them');
        writeFileSync(file, '{"sessions": ["not an address"]}');
        expect(() => new SessionRecord(file)).toThrow('is not a gateway session record');
    });
});

describe('IdempotencyKeys', () => {
    it('scopes keys to the API key, refuses another body or a key in flight, and forgets keys only after their last use', async () => {
        const keys = new IdempotencyKeys({ ttlMs: 100, perTenant: 1000 });
        const body = { model: 'm', messages: [{ role: 'user', content: 'x' }] };
        const alice = keys.begin('k1', 'Bearer alice', body);
        expect(() => keys.begin('k1', 'Bearer alice', body)).toThrow(KeyConflict); // in flight
        keys.done(alice);
        expect(() => keys.begin('k1', 'Bearer alice', { ...body, model: 'other' })).toThrow('used for another request');
        const bob = keys.begin('k1', 'Bearer bob', body);
        expect(bob.requestId).not.toBe(alice.requestId); // another tenant: another request
        keys.done(bob);
        await sleep(60);
        const again = keys.begin('k1', 'Bearer alice', body); // used again: its time starts over
        keys.done(again);
        expect(again).toBe(alice);
        await sleep(60);
        expect(keys.begin('k1', 'Bearer alice', body)).toBe(alice); // 120 ms after its first use, 60 after its last
    });

    it("one tenant's many keys push out only its own oldest", () => {
        const keys = new IdempotencyKeys({ ttlMs: 60_000, perTenant: 3 });
        const body = { prompt: 'x' };
        const bobs = keys.begin('pending', 'Bearer bob', body);
        keys.done(bobs);
        for (let i = 0; i < 10; i++) keys.done(keys.begin(`k${i}`, 'Bearer mallory', body));
        expect(keys.size).toBe(4); // bob's one, mallory's last three
        expect(keys.begin('pending', 'Bearer bob', body)).toBe(bobs);
    });
});
