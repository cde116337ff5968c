// Outside review of issue 14 (request ids, parallel requests, lastRequestAt, sealed keys, rate
// limits), by a helper agent attacking commits 2ae0b79..f0d3a3b. Every test failed against them;
// each passes since the fixes that followed (see tests/review/README.md for what each found).
import { Address, toNano } from '@ton/core';
import { CocoonClient, ClientSession, CocoonError, ChatCompletion, sealRequest, generateEncryptionKeyPair } from '../../sdk';
import { sessionFor } from '../../wrappers';
import { DEMO_MODEL, LOCAL_CLIENT_POLICY, LocalNetwork, WorkerOptions, startLocalNetwork } from '../../testkit/local-network';
import { tokens } from '../../testkit';

const ask = (content: string, max_tokens = 64) => ({ messages: [{ role: 'user' as const, content }], max_tokens });
const requestId = (i: number) => `review-request-${String(i).padStart(6, '0')}`;
// The bytes the SDK seals for a request (sdk/client.ts attempt: {...request, model}).
const bodyOf = (r: ReturnType<typeof ask>) => Buffer.from(JSON.stringify({ ...r, model: DEMO_MODEL }));

async function post(url: string, body: unknown) {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as { error: string; message: string } & Record<string, string> };
}

type Db = { prepare(sql: string): { get(...a: unknown[]): any; run(...a: unknown[]): any; all(...a: unknown[]): any[] } };

describe('review of issue 14', () => {
    let net: LocalNetwork;
    let client: CocoonClient;
    let nonce = 0n;

    async function setUp(worker?: WorkerOptions, clientOptions: Partial<ConstructorParameters<typeof CocoonClient>[0]> = {}) {
        net = await startLocalNetwork();
        if (worker) {
            await net.stopWorker();
            await net.startWorker(worker);
        }
        await net.worker.attest();
        client = new CocoonClient({
            ...LOCAL_CLIENT_POLICY,
            chain: net.chain,
            wallet: net.ledger.sender(net.client),
            root: net.root.address,
            confirmTimeoutMs: 500,
            ...clientOptions,
        });
    }
    const open = (budget = toNano('5')) => {
        nonce += 1n;
        return client.openSession(net.provider, { model: DEMO_MODEL, budget, durationSeconds: 3600, nonce });
    };
    const chatUrl = (s: ClientSession | Address) =>
        `${net.workerUrl}/v1/sessions/${(s instanceof Address ? s : s.address).toString()}/chat`;
    const seal = (s: ClientSession, r: ReturnType<typeof ask>, id: string) =>
        sealRequest(net.worker.keys.encryption.publicKey, s.address, s.sessionKey, bodyOf(r), id, { boot: net.worker.boot });
    const db = () => (net.worker.o.meter as unknown as { db: Db }).db;
    // Replaces the worker's backend; `around` gets the real call.
    function wrapBackend(around: (done: () => Promise<ChatCompletion>, n: number) => Promise<ChatCompletion>) {
        const real = net.worker.o.backend;
        let n = 0;
        (net.worker.o as { backend: typeof real }).backend = {
            complete: (r) => around(() => real.complete(r) as Promise<ChatCompletion>, n++),
            stream: (r) => real.stream(r),
        };
    }

    afterEach(async () => {
        await net?.stop();
    });

    // ---------------------------------------------------------------------------------------
    // 1. Request ids and the answer store
    // ---------------------------------------------------------------------------------------

    it('F1 a stored answer opens only for the request it answers: the host cannot move a victim answer under its own request id', async () => {
        await setUp();
        const victim = await open();
        const secret = 'the victim confidential prompt 4242';
        await victim.chat(ask(secret), { requestId: requestId(1) });
        // the host (who runs the worker and can open sessions with its own provider like anyone)
        const host = await open();
        await host.chat(ask('hello'), { requestId: requestId(2) });
        const victimBlob = db()
            .prepare('SELECT answer FROM requests WHERE session = ? AND request_id = ?')
            .get(victim.address.toRawString(), requestId(1)).answer;
        db()
            .prepare('UPDATE requests SET answer = ? WHERE session = ? AND request_id = ?')
            .run(victimBlob, host.address.toRawString(), requestId(2));
        // the host retries its own request id
        const retry = await seal(host, ask('hello'), requestId(2));
        const r = await post(chatUrl(host), retry.envelope);
        const text = r.status === 200 ? retry.openResponse(r.json as never).toString('utf8') : '';
        expect(text).not.toContain(secret);
    });

    it('F2 a captured envelope is not charged twice when the host deletes the request log', async () => {
        await setUp();
        const s = await open();
        const captured = await seal(s, ask('pay me once'), requestId(3));
        expect((await post(chatUrl(s), captured.envelope)).status).toBe(200);
        const charged = net.worker.o.meter.latest(s.address)!;
        // the host (outside the TEE) owns the SQLite file: it drops the row and replays the envelope
        db().prepare('DELETE FROM requests WHERE session = ?').run(s.address.toRawString());
        await post(chatUrl(s), captured.envelope);
        expect(net.worker.o.meter.latest(s.address)!.amountDue).toBe(charged.amountDue);
    });

    it('F3 a request served (and charged) before the deadline or the close can still be fetched again after it', async () => {
        await setUp();
        const s = await open();
        const r = ask('served just before the deadline');
        const first = await seal(s, r, requestId(4));
        expect((await post(chatUrl(s), first.envelope)).status).toBe(200); // the answer is lost on the way back
        const receipt = net.worker.o.meter.latest(s.address)!;
        const deadline = (s as unknown as { state: { deadline: number } }).state.deadline;
        expect(receipt.lastRequestAt).toBeLessThanOrEqual(deadline); // the Session pays for it
        net.blockchain.now = deadline; // the retry arrives at the deadline
        const retry = await seal(s, r, requestId(4));
        const again = await post(chatUrl(s), retry.envelope);
        expect(again.json.error).toBeUndefined(); // now: 409 deadline-passed, for an answer the client pays
        expect(again.status).toBe(200);
    });

    // ---------------------------------------------------------------------------------------
    // 2. Parallel requests and reservations
    // ---------------------------------------------------------------------------------------

    it('F4 a request that re-reads the budget does not drop the reservations of the requests in flight', async () => {
        await setUp({ sessionCacheSeconds: 3600 });
        const s = await open(toNano('1'));
        await s.chat(ask('warm the cache')); // the worker now holds the session with a 1 TON budget
        await s.topUp(toNano('1')); // 2 TON now; the worker does not see it yet (its cache)
        // a chain read takes a while on a real network (an API round trip)
        const w = net.worker as unknown as { session: (a: Address, fresh?: boolean) => Promise<unknown> };
        const read = w.session.bind(net.worker);
        w.session = async (a, fresh) => {
            if (fresh) await new Promise((r) => setTimeout(r, 300));
            return read(a, fresh);
        };
        let release!: () => void;
        const gate = new Promise<void>((r) => (release = r));
        const served = { promptTokens: 0n, completionTokens: 0n };
        wrapBackend(async (done) => {
            await gate;
            const c = await done();
            served.promptTokens += BigInt(c.usage.prompt_tokens);
            served.completionTokens += BigInt(c.usage.completion_tokens);
            return c;
        });
        // A: a prompt whose worst case (a token per byte) is above the cached budget, so the worker
        // re-reads the session; B: fits the cached budget, sent while that read is on its way.
        const a = await seal(s, ask('! '.repeat(6_000), 1_000_000), requestId(5));
        const b = await seal(s, ask('! '.repeat(2_000), 1_000_000), requestId(6));
        const replies = [post(chatUrl(s), a.envelope)];
        await new Promise((r) => setTimeout(r, 100));
        replies.push(post(chatUrl(s), b.envelope));
        await new Promise((r) => setTimeout(r, 600)); // both are at the (held) backend now
        const flights = (net.worker as unknown as { flights: Map<string, { count: number; reserved: bigint }> }).flights;
        const inFlight = flights.get(s.address.toRawString())?.count;
        release();
        // A's worst case no longer fits once B holds its own: A is refused (402) or served within what is left
        const statuses = (await Promise.all(replies)).map((r) => r.status);
        expect([statuses[1], [200, 402].includes(statuses[0])]).toEqual([200, true]);
        const latest = net.worker.o.meter.latest(s.address)!;
        const first = db()
            .prepare('SELECT prompt_tokens, completion_tokens FROM receipts WHERE session = ? AND seqno = 1')
            .get(s.address.toRawString());
        // every token the backend served is in the receipts: nothing served beyond what the budget pays
        expect(latest.completionTokens - BigInt(first.completion_tokens)).toBe(served.completionTokens); // was: ~680 output tokens served unpaid
        expect(latest.promptTokens - BigInt(first.prompt_tokens)).toBe(served.promptTokens);
        expect(inFlight).toBe(statuses[0] === 200 ? 2 : 1);
        expect(latest.amountDue).toBeLessThanOrEqual((await s.refresh()).budget);
    });

    // ---------------------------------------------------------------------------------------
    // 3. The SDK's receipt checks and retries
    // ---------------------------------------------------------------------------------------

    it('F5 an honest worker behind a proxy that answers 502 is not taken for an overcharging one', async () => {
        await setUp();
        const s = await open();
        const original = (s as unknown as { post: (p: string, b: unknown) => Promise<unknown> }).post.bind(s);
        let bad = 4; // the proxy in front of the worker times out: the worker serves, the client gets 502s
        (s as unknown as { post: unknown }).post = async (p: string, b: unknown) => {
            const r = await original(p, b);
            return bad-- > 0 ? { status: 502, json: null } : r;
        };
        await expect(s.chat(ask('slow generation'))).rejects.toMatchObject({ code: 'worker-refused', detail: 'http-502' });
        // the client goes on with the next request: an honest receipt must pass
        await expect(s.chat(ask('next one'))).resolves.toBeDefined();
    });

    it('F6 a session resumed without its last receipt accepts honest receipts that arrive out of order', async () => {
        await setUp();
        const opened = await open();
        await opened.chat(ask('before the resume'));
        const s = await client.resumeSession(opened.address, opened.sessionKey, DEMO_MODEL); // no last receipt
        const original = (s as unknown as { post: (p: string, b: unknown) => Promise<unknown> }).post.bind(s);
        let n = 0;
        (s as unknown as { post: unknown }).post = async (p: string, b: unknown) => {
            const first = n++ === 0;
            const r = await original(p, b);
            if (first) await new Promise((x) => setTimeout(x, 300)); // its answer is slower on the way back
            return r;
        };
        wrapBackend(async (done, i) => {
            if (i === 1) await new Promise((x) => setTimeout(x, 100)); // the second one is served later
            return done();
        });
        const results = await Promise.allSettled([s.chat(ask('one')), s.chat(ask('two two'))]);
        expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok'))).toEqual(['ok', 'ok']);
    });

    it('F7 a request id retried by the application does not leave room for a phantom charge', async () => {
        await setUp(undefined, { retries: 0 });
        const s = await open();
        const original = (s as unknown as { post: (p: string, b: unknown) => Promise<unknown> }).post.bind(s);
        let lose = true;
        (s as unknown as { post: unknown }).post = async (p: string, b: unknown) => {
            const r = await original(p, b);
            if (lose) throw new CocoonError('worker-unreachable', 'connection reset');
            return r;
        };
        const id = requestId(7);
        await expect(s.chat(ask('lost answer', 64), { requestId: id })).rejects.toMatchObject({ code: 'worker-unreachable' });
        lose = false;
        await s.chat(ask('lost answer', 64), { requestId: id }); // the application retries: the stored answer
        // the worker now signs a receipt the client never sees (50 output tokens nobody asked for),
        // then answers the next request with an honest delta on top of it: a gap of one seqno
        const meter = net.worker.o.meter;
        const honest = meter.record.bind(meter);
        meter.record = (x, o) => {
            honest(x, { ...o, usage: tokens(0n, 50n), request: undefined, resultDigest: undefined });
            return honest(x, o);
        };
        await expect(s.chat(ask('next'))).rejects.toMatchObject({ problem: 'overcharge' });
    });

    // ---------------------------------------------------------------------------------------
    // 4. lastRequestAt
    // ---------------------------------------------------------------------------------------

    it('F8 a request accepted before the close stays payable when one accepted after the close finishes first', async () => {
        await setUp({ sessionCacheSeconds: 3600 }); // the worker sees the close late (here: never)
        const s = await open();
        let release!: () => void;
        const gate = new Promise<void>((r) => (release = r));
        wrapBackend(async (done, i) => {
            if (i === 0) await gate; // A: a long generation
            return done();
        });
        const a = post(chatUrl(s), (await seal(s, ask('a long answer accepted while open', 1000), requestId(8))).envelope);
        await new Promise((r) => setTimeout(r, 200)); // A is at the backend
        await s.close();
        const closedAt = (await s.refresh()).closedAt;
        net.blockchain.now! += 1;
        // the client sends one cheap request right after its close
        expect((await post(chatUrl(s), (await seal(s, ask('x', 1), requestId(9))).envelope)).status).toBe(200);
        release();
        expect((await a).status).toBe(200);
        const receipts = db()
            .prepare('SELECT seqno, last_request_at, amount_due FROM receipts WHERE session = ? ORDER BY seqno')
            .all(s.address.toRawString());
        const aCost = BigInt(receipts[receipts.length - 1].amount_due) - BigInt(receipts[0].amount_due);
        expect(aCost).toBeGreaterThan(0n);
        await net.worker.claimDue(true);
        // A was accepted at or before closedAt: the provider must be able to get paid for it
        expect((await s.refresh()).claimed).toBeGreaterThanOrEqual(aCost);
        expect(closedAt).toBeGreaterThan(0);
    });

    // ---------------------------------------------------------------------------------------
    // 7. Rate limiting and the session cache
    // ---------------------------------------------------------------------------------------

    it("F9 a stranger's refused requests do not use up the session's rate limit", async () => {
        await setUp({ perSessionPerMinute: 5 });
        const s = await open();
        const stranger = await generateEncryptionKeyPair();
        for (let i = 0; i < 5; i++) {
            const junk = await sealRequest(
                net.worker.keys.encryption.publicKey,
                s.address,
                stranger,
                bodyOf(ask('junk')),
                requestId(100 + i),
                { boot: net.worker.boot },
            );
            expect((await post(chatUrl(s), junk.envelope)).json.error).toBe('not-your-session');
        }
        await expect(s.chat(ask('the real client'))).resolves.toBeDefined();
    });

    it('F10 probing a session address before it exists does not lock its client out once it opens', async () => {
        await setUp();
        const next = (await sessionFor(net.root.address, net.gpuOwner.address, net.client.address, nonce + 1n)).address;
        const stranger = await generateEncryptionKeyPair();
        const probe = await sealRequest(net.worker.keys.encryption.publicKey, next, stranger, bodyOf(ask('probe')), requestId(200), {
            boot: net.worker.boot,
        });
        expect((await post(chatUrl(next), probe.envelope)).json.error).toBe('unknown-session'); // cached as "no Session" for 3 s
        const s = await open();
        expect(s.address.equals(next)).toBe(true);
        await expect(s.chat(ask('my first request'))).resolves.toBeDefined();
    });

    it('F11 one session under other spellings of its address shares one rate limit', async () => {
        await setUp({ perSessionPerMinute: 2 });
        const s = await open();
        const spellings = [
            s.address.toString(),
            s.address.toString({ urlSafe: false }),
            s.address.toRawString(),
            s.address.toRawString().toUpperCase().replace(/^0:/, '0:'),
            s.address.toString({ bounceable: false }),
        ];
        const statuses: number[] = [];
        for (const [i, a] of spellings.entries()) {
            const env = await seal(s, ask(`r${i}`), requestId(300 + i));
            const res = await fetch(`${net.workerUrl}/v1/sessions/${encodeURIComponent(a)}/chat`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify(env.envelope),
            });
            statuses.push(res.status);
        }
        expect(statuses.filter((x) => x === 200)).toHaveLength(2);
    });

    it('F12 junk session addresses from one client are rate-limited: each costs the worker a chain read', async () => {
        await setUp();
        const { buildWorkerServer } = await import('../../worker/src/server');
        const app = await buildWorkerServer(net.worker, { refusedPerAddressPerMinute: 5 });
        const url = await app.listen({ host: '127.0.0.1', port: 0 });
        try {
            const w = net.worker as unknown as { session: (a: Address, fresh?: boolean) => Promise<unknown> };
            const read = w.session.bind(net.worker);
            let reads = 0;
            w.session = (a, fresh) => {
                reads += 1;
                return read(a, fresh);
            };
            const stranger = await generateEncryptionKeyPair();
            for (let i = 0; i < 20; i++) {
                const junk = new Address(0, Buffer.alloc(32, i + 1));
                const env = await sealRequest(
                    net.worker.keys.encryption.publicKey,
                    junk,
                    stranger,
                    bodyOf(ask('junk')),
                    requestId(400 + i),
                    { boot: net.worker.boot },
                );
                await post(`${url}/v1/sessions/${junk.toString()}/chat`, env.envelope);
            }
            expect(reads).toBeLessThanOrEqual(5);
        } finally {
            await app.close();
        }
    });

    it('F13 a retry that waits for a request the model refuses gets the sealed refusal, not a bare 500', async () => {
        await setUp();
        const s = await open();
        const { BackendRejected } = await import('../../worker/src/backend');
        wrapBackend(async () => {
            await new Promise((r) => setTimeout(r, 200));
            throw new BackendRejected(400, { error: { message: 'context too long' } });
        });
        const env = await seal(s, ask('too long'), requestId(500));
        const [first, retry] = await Promise.all([
            post(chatUrl(s), env.envelope),
            new Promise((r) => setTimeout(r, 50)).then(() => post(chatUrl(s), env.envelope)),
        ]);
        expect(first.json.error).toBe('rejected-by-model');
        expect(retry.json.error).toBe('rejected-by-model'); // now: 500 internal
    });
});
