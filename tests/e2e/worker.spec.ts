// The worker and the SDK against each other on the local network: what each refuses, and why.
import { BackendRejected, BackendUnavailable } from '../../worker/src/backend';
import { Address, beginCell, toNano } from '@ton/core';
import { internal } from '@ton/sandbox';
import {
    CocoonClient,
    CocoonError,
    ClientSession,
    ReceiptRejected,
    generateEncryptionKeyPair,
    registeredProviders,
    sealRequest as sealForRun,
    readSession,
    ChatCompletion,
    ChatCompletionChunk,
} from '../../sdk';
import {
    EXAMPLE_PARAMS,
    FINALIZE_ABANDONED_VALUE,
    ProtocolParams,
    NO_USAGE,
    Provider,
    SESSION_CLOSING,
    SESSION_FINALIZED,
    SESSION_OPEN,
    SESSION_OPENING,
    SESSION_OPEN_OVERHEAD,
    OPENING_TIMEOUT,
    SESSION_RELEASE_FAILED,
    SESSION_STORAGE_RESERVE,
    Session,
    TCB_SIMULATED,
    amountDue,
    clientKeyHashOf,
    modelKey,
    sessionFor,
    storeOpenSession,
    storeAddVerifier,
    storeExecuteChange,
} from '../../wrappers';
import {
    DEMO_MODEL,
    DEMO_MODEL_HASH,
    DEMO_PRICES,
    LOCAL_CLIENT_POLICY,
    LocalNetwork,
    startLocalNetwork,
} from '../../testkit/local-network';
import { countTokens, ECHO_CONTEXT_TOKENS, ECHO_PREFIX } from '../../worker/src/echo-backend';
import { judgeEvidence, simulatedMeasurement } from '../../tee-verifier/src/attest';
import { DEFAULT_TCB_POLICY } from '../../tee-verifier/src/quote';
import { AttestationRequest, NO_GPU_EVIDENCE } from '../../protocol/evidence';
import { ChainAccess, mnemonicWallet } from '../../protocol/chain';
import { mnemonicNew } from '@ton/crypto';
import { copyAccount, installStandIn } from '../../testkit/transactions';
import type { SessionState } from '../../protocol/state';

const ask = (content: string, max_tokens = 64) => ({ messages: [{ role: 'user' as const, content }], max_tokens });
const requestId = (i: number) => `test-request-${String(i).padStart(6, '0')}`;

async function post(url: string, body: unknown) {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as { error: string; message: string } };
}

describe('worker and client SDK', () => {
    let net: LocalNetwork;
    let client: CocoonClient;
    let session: ClientSession;
    // requests sealed here, as the SDK seals them, for the worker's current run
    const sealRequest = (...a: Parameters<typeof sealForRun>) =>
        sealForRun(a[0], a[1], a[2], a[3], a[4], { ...a[5], boot: net.worker.boot });
    // A worker that trusts what it read of a session for `seconds`, attested, and a session with it.
    async function withSessionCache(seconds: number) {
        await net.stopWorker();
        await net.startWorker({ sessionCacheSeconds: seconds });
        net.blockchain.now! += 1; // (a proof newer than the one the Provider holds)
        await net.worker.attest();
        session = await openTracked();
    }

    // A chat request of the session sealed as the SDK seals it, sent past the SDK's own checks.
    async function postAsk(question: ReturnType<typeof ask>, id: number) {
        const body = Buffer.from(JSON.stringify({ model: DEMO_MODEL, ...question }));
        const sealed = await sealRequest(net.worker.keys.encryption.publicKey, session.address, session.sessionKey, body, requestId(id));
        return post(`${net.workerUrl}/v1/sessions/${session.address.toString()}/chat`, sealed.envelope);
    }

    async function setUp(o: { budget?: bigint; attest?: boolean; durationSeconds?: number; params?: ProtocolParams } = {}) {
        net = await startLocalNetwork({ params: o.params });
        real = undefined;
        if (o.attest !== false) await net.worker.attest();
        client = new CocoonClient({
            ...LOCAL_CLIENT_POLICY,
            chain: net.chain,
            wallet: net.ledger.sender(net.client),
            root: net.root.address,
            confirmTimeoutMs: 500,
        });
        if (o.attest !== false) session = await openTracked({ budget: o.budget, durationSeconds: o.durationSeconds });
    }

    // Wraps the worker's backend: `around` gets a function that runs the real call.
    function slowDown(around: (done: () => Promise<ChatCompletion>) => Promise<ChatCompletion>) {
        const backend = real ?? net.worker.o.backend;
        real = backend;
        (net.worker.o as { backend: typeof backend }).backend = {
            complete: (r) => around(() => backend.complete(r) as Promise<ChatCompletion>),
            stream: (r) => backend.stream(r),
        };
    }
    let real: LocalNetwork['worker']['o']['backend'] | undefined;

    // Opens a session whose account the ledger tracks from before it exists.
    let nonce = 0n;
    async function openTracked(o: { budget?: bigint; durationSeconds?: number } = {}) {
        nonce += 1n;
        await net.ledger.track(
            `session ${nonce}`,
            (await sessionFor(net.root.address, net.gpuOwner.address, net.client.address, nonce)).address,
        );
        return client.openSession(net.provider, {
            model: DEMO_MODEL,
            budget: o.budget ?? toNano('5'),
            durationSeconds: o.durationSeconds ?? 3600,
            nonce,
        });
    }

    // Whatever a test did on-chain, every nanoton is accounted for.
    afterEach(async () => {
        if (!net) return;
        try {
            expect(net.ledger.untracked()).toEqual([]);
            expect(await net.ledger.imbalance()).toBe(0n);
        } finally {
            await net.stop();
        }
    });

    describe("judging the provider's evidence with the verifier's code", () => {
        const judgeAs = (devMode: boolean) => (request: AttestationRequest) =>
            judgeEvidence(request, {
                devMode,
                collateral: { collateralFor: () => Promise.reject(new Error('no collateral needed for simulated evidence')) },
                policy: DEFAULT_TCB_POLICY,
                now: () => net.chain.now(),
            });

        it('accepts the evidence of the attestation the Provider holds, naming its measurement', async () => {
            await setUp();
            const checked = await client.verifyProviderEvidence(net.provider, judgeAs(true));
            expect(checked.measurement).toEqual(simulatedMeasurement(NO_GPU_EVIDENCE, DEMO_MODEL_HASH));
            expect(checked.tcbStatus).toBe(Number(TCB_SIMULATED));
            const onChain = (await net.blockchain.openContract(Provider.fromAddress(net.provider)).getAttestation())!;
            expect(checked.evidence.signingKey.toString('hex')).toBe(onChain.signingKey.toString(16).padStart(64, '0'));
        });

        it("refuses evidence the client's own policy rejects (simulated, for a production judge)", async () => {
            await setUp();
            await expect(client.verifyProviderEvidence(net.provider, judgeAs(false))).rejects.toMatchObject({
                code: 'evidence-rejected',
                detail: 'simulated-evidence-refused',
            });
        });

        it('refuses evidence of other keys, or evidence that does not bind the attested keys', async () => {
            await setUp();
            const real = net.worker.evidence();
            net.worker.evidence = () => ({ ...real, signingKey: Buffer.alloc(32, 7) });
            await expect(client.verifyProviderEvidence(net.provider, judgeAs(true))).rejects.toMatchObject({ code: 'evidence-mismatch' });
            // the attested keys with another verifier nonce: report_data no longer matches
            net.worker.evidence = () => ({ ...real, nonce: real.nonce + 1n });
            await expect(client.verifyProviderEvidence(net.provider, judgeAs(true))).rejects.toMatchObject({
                code: 'evidence-rejected',
                detail: 'report-data-mismatch',
            });
        });

        it('says so when there is no attestation, or the worker has none since it restarted', async () => {
            await setUp({ attest: false });
            await expect(client.verifyProviderEvidence(net.provider, judgeAs(true))).rejects.toMatchObject({ code: 'not-attested' });
            await net.worker.attest();
            await net.stopWorker();
            await net.startWorker(); // new enclave keys, not attested yet: the worker answers 503 not-attested
            await expect(client.verifyProviderEvidence(net.provider, judgeAs(true))).rejects.toMatchObject({
                code: 'evidence-unavailable',
                message: expect.stringContaining('HTTP 503'),
            });
        });
    });

    describe('finding and opening', () => {
        it('waits out a read that fails right after the budget left (an endpoint behind): the session opened is the one returned, and no second escrow is sent', async () => {
            await setUp({ attest: true });
            let failing = 1;
            const chain: ChainAccess = {
                ...net.chain,
                open: ((c: Parameters<ChainAccess['open']>[0]) => {
                    const opened = net.chain.open(c);
                    if (!(c instanceof Session)) return opened;
                    const read = (opened as unknown as { getStateIfSession: () => Promise<unknown> }).getStateIfSession;
                    return new Proxy(opened as object, {
                        get: (target, name) =>
                            name !== 'getStateIfSession'
                                ? Reflect.get(target, name)
                                : async () => {
                                      if (failing-- > 0) throw new Error('Unable to execute get method. Got exit_code: -13');
                                      return read();
                                  },
                    });
                }) as ChainAccess['open'],
            };
            const lagging = new CocoonClient({
                ...LOCAL_CLIENT_POLICY,
                chain,
                wallet: net.ledger.sender(net.client),
                root: net.root.address,
            });
            const offers = await lagging.discover({ model: DEMO_MODEL, budget: toNano('5'), includeUnhealthy: true });
            const sent: Address[] = [];
            nonce += 1n;
            await net.ledger.track(
                'session',
                (await sessionFor(net.root.address, net.gpuOwner.address, net.client.address, nonce)).address,
            );
            const opened = await lagging.openSessionWithFailover(offers, {
                budget: toNano('5'),
                durationSeconds: 3600,
                nonce,
                beforeOpen: (a) => void sent.push(a),
            });
            expect(failing).toBe(-1); // (the failing read happened)
            expect(sent.map((a) => a.toString())).toEqual([opened.address.toString()]);
            expect((await readSession(net.chain, opened.address))!.status).toBe(Number(SESSION_OPEN));
            // a top-up waits out such a read the same way
            const budget = opened.budget;
            failing = 1;
            expect(await opened.topUp(toNano('1'))).toBeGreaterThan(budget);
            expect(failing).toBe(-1);
            // reads that never succeed end the wait as not confirmed, naming the failure (not as refused)
            nonce += 1n;
            await net.ledger.track('unread', (await sessionFor(net.root.address, net.gpuOwner.address, net.client.address, nonce)).address);
            const blind = new CocoonClient({ ...lagging.o, confirmTimeoutMs: 300 });
            failing = Number.MAX_SAFE_INTEGER;
            await expect(
                blind.openSession(net.provider, { model: DEMO_MODEL, budget: toNano('5'), durationSeconds: 3600, nonce }),
            ).rejects.toMatchObject({
                code: 'not-confirmed',
                message: expect.stringMatching(/was sent but could not be read \(.*exit_code: -13/),
            });
        });

        it('finds the provider from Root registrations and filters by model, price, stake and attestation', async () => {
            await setUp({ attest: false });
            const candidates = registeredProviders(net.ledger.transactions, net.root.address);
            expect(candidates.map((a) => a.toRawString())).toEqual([net.provider.toRawString()]);
            expect(await client.findProviders(candidates, { model: DEMO_MODEL })).toEqual([]); // not attested yet
            await net.worker.attest();
            const [offer] = await client.findProviders(candidates, { model: DEMO_MODEL });
            expect(offer).toMatchObject({ endpoint: net.workerUrl, prices: DEMO_PRICES, model: DEMO_MODEL });
            expect(await client.findProviders(candidates, { model: 'other' })).toEqual([]);
            expect(
                await client.findProviders(candidates, { model: DEMO_MODEL, maxPrices: { completion: DEMO_PRICES.completion - 1n } }),
            ).toEqual([]);
            expect(
                await client.findProviders(candidates, {
                    model: DEMO_MODEL,
                    maxPrices: { prompt: DEMO_PRICES.prompt, reasoning: DEMO_PRICES.reasoning },
                }),
            ).toHaveLength(1);
            // 20% collateral of a 2,000 TON budget is more than the 200 TON staked
            expect(await client.findProviders(candidates, { model: DEMO_MODEL, budget: toNano('2000') })).toEqual([]);
            expect(await client.findProviders(candidates, { model: DEMO_MODEL, attestedForSeconds: 7 * 3600 })).toEqual([]);
        });

        it("discovers the provider through Root's index, weighs its health and record, and fails over to the next offer", async () => {
            await setUp();
            const [offer] = await client.discover({ model: DEMO_MODEL });
            expect(offer.provider.equals(net.provider)).toBe(true);
            expect(offer).toMatchObject({ endpoint: net.workerUrl, record: { slashCount: 0, timeoutCount: 0 } });
            expect(offer.healthMs).toBeGreaterThan(0);
            // an offer whose provider is gone comes first: the session opens with the next one
            const gone = { ...offer, provider: new Address(0, Buffer.alloc(32, 7)) };
            nonce += 1n;
            await net.ledger.track(
                `session ${nonce}`,
                (await sessionFor(net.root.address, net.gpuOwner.address, net.client.address, nonce)).address,
            );
            const failedOver = await client.openSessionWithFailover([gone, offer], { budget: toNano('5'), durationSeconds: 3600, nonce });
            expect(failedOver.provider.equals(net.provider)).toBe(true);
            await expect(client.openSessionWithFailover([gone], { budget: toNano('5'), durationSeconds: 3600 })).rejects.toMatchObject({
                code: 'provider-unavailable',
                message: expect.stringContaining(gone.provider.toString()),
            });
            // a worker that does not answer /health is left out (unless asked for)
            await net.stopWorker();
            expect(await client.discover({ model: DEMO_MODEL, healthTimeoutMs: 500 })).toEqual([]);
            const unhealthy = await client.discover({ model: DEMO_MODEL, includeUnhealthy: true });
            expect(unhealthy.map((o) => [o.provider.toRawString(), o.healthMs])).toEqual([[net.provider.toRawString(), null]]);
        });

        it('refuses to open a session the Provider would refuse, naming the rule, before sending anything', async () => {
            await setUp({ attest: false });
            const open = (o: Partial<Parameters<CocoonClient['openSession']>[1]>, provider: Address = net.provider) =>
                client.openSession(provider, { model: DEMO_MODEL, budget: toNano('5'), durationSeconds: 3600, ...o });
            const code = (p: Promise<unknown>) =>
                p.then(
                    () => 'opened',
                    (e: CocoonError) => e.code,
                );
            expect(await code(open({}))).toBe('not-attested');
            await net.worker.attest();
            const sent = net.ledger.transactions.length;
            expect(await code(open({}, new Address(0, Buffer.alloc(32, 7))))).toBe('provider-not-found');
            expect(await code(open({ model: 'gpt-9' }))).toBe('model-not-listed');
            expect(await code(open({ budget: toNano('0.5') }))).toBe('budget-too-small');
            expect(await code(open({ budget: toNano('2000') }))).toBe('insufficient-collateral');
            expect(await code(open({ durationSeconds: Number(EXAMPLE_PARAMS.maxSessionDuration) + 1 }))).toBe('invalid-duration');
            net.blockchain.now = net.chain.now() + 6 * 3600; // past the 6-hour attestation
            expect(await code(open({}))).toBe('attestation-expired');
            expect(net.ledger.transactions.length).toBe(sent); // nothing was sent
        });
    });

    describe('serving', () => {
        it('answers encrypted requests with receipts the SDK accepts; a top-up raises the budget', async () => {
            await setUp();
            const first = await session.chat(ask('hello there'));
            expect(first.completion.choices[0].message.content).toBe(`${ECHO_PREFIX} hello there`);
            expect(first.receipt).toMatchObject({ seqno: 1, promptTokens: BigInt(countTokens('hello there') + 4) });
            const second = await session.chat(ask('and again'));
            expect(second.receipt.seqno).toBe(2);
            expect(second.receipt.completionTokens).toBe(first.receipt.completionTokens + BigInt(countTokens(`${ECHO_PREFIX} and again`)));
            expect(net.worker.stats).toMatchObject({ requests: 2, refused: 0 });
            const budget = session.budget;
            expect(await session.topUp(toNano('2'))).toBeGreaterThan(budget + toNano('1.99'));
        });

        it('resumes a session with its key (and the last receipt), refuses another key, and finalizes only after the claim window', async () => {
            await setUp();
            await session.chat(ask('one'));
            const last = session.lastReceipt!;
            const again = new CocoonClient({
                ...LOCAL_CLIENT_POLICY,
                chain: net.chain,
                wallet: net.ledger.sender(net.client),
                root: net.root.address,
            });
            const resumed = await again.resumeSession(session.address, session.sessionKey, DEMO_MODEL, last);
            expect(resumed.latest.seqno).toBe(1);
            expect((await resumed.chat(ask('two'))).receipt.seqno).toBe(2);
            const blind = await again.resumeSession(session.address, session.sessionKey, DEMO_MODEL); // no receipt kept
            expect((await blind.chat(ask('three'))).receipt.seqno).toBe(3);
            const stranger = await generateEncryptionKeyPair();
            await expect(again.resumeSession(session.address, stranger, DEMO_MODEL)).rejects.toMatchObject({ code: 'session-not-open' });

            await resumed.close();
            await net.worker.tick(); // a closing session's latest receipt is claimed
            await expect(resumed.finalize()).rejects.toMatchObject({ code: 'too-early' });
            net.blockchain.now = resumed.finalizableAt().at;
            await expect(resumed.finalize()).resolves.toMatchObject({ timedOut: false });
        });

        it('serves calls of one session in parallel; receipts stay a total order the SDK checks out of order', async () => {
            await setUp();
            // a backend slow enough for the requests to overlap, which counts how many it holds at once
            let running = 0;
            let most = 0;
            slowDown(async (done) => {
                running += 1;
                most = Math.max(most, running);
                await new Promise((r) => setTimeout(r, 150));
                running -= 1;
                return done();
            });
            // (the session's first request learns the worker's run: requests sent before that are
            // refused unopened and sealed again, so they would not all overlap)
            const first = await session.chat(ask('first'));
            most = 0;
            const words = ['a', 'b b', 'c c c', 'd', 'e e', 'f'];
            const results = await Promise.all(words.map((w) => session.chat(ask(w))));
            expect(most).toBe(words.length);
            expect(results.map((r) => r.receipt.seqno).sort()).toEqual([2, 3, 4, 5, 6, 7]);
            const tokensOut = results.reduce((n, r) => n + BigInt(r.completion.usage.completion_tokens), first.receipt.completionTokens);
            expect(session.latest.completionTokens).toBe(tokensOut);
            expect(session.latest.seqno).toBe(7);
        });

        it('holds back the worst case of every request in flight, so parallel requests never pass the budget', async () => {
            await setUp({ budget: toNano('1') });
            slowDown(async (done) => {
                await new Promise((r) => setTimeout(r, 100));
                return done();
            });
            const url = `${net.workerUrl}/v1/sessions/${session.address.toString()}/chat`;
            const key = net.worker.keys.encryption.publicKey;
            // each alone affordable (about 0.6 TON), together not
            const body = Buffer.from(JSON.stringify({ model: DEMO_MODEL, ...ask('w '.repeat(1500), 1_000_000) }));
            const sealed = await Promise.all([0, 1].map((i) => sealRequest(key, session.address, session.sessionKey, body, requestId(i))));
            const replies = await Promise.all(sealed.map((r) => post(url, r.envelope)));
            expect(replies.map((r) => r.status).sort()).toEqual([200, 402]);
            expect(replies.find((r) => r.status === 402)!.json.message).toContain('held for the requests in flight');
            const latest = net.worker.o.meter.latest(session.address)!;
            expect(latest.seqno).toBe(1);
            expect(latest.amountDue).toBeLessThanOrEqual(session.budget);
            // once the first is answered, the second fits in what is left
            expect(
                (await post(url, (await sealRequest(key, session.address, session.sessionKey, body, requestId(2))).envelope)).status,
            ).toBe(200);
            expect(net.worker.o.meter.latest(session.address)!.amountDue).toBeLessThanOrEqual(session.budget);
        });

        it('refuses more requests of one session in flight than its limit, uncharged', async () => {
            await setUp();
            await net.stopWorker();
            await net.startWorker({ maxConcurrentPerSession: 2 });
            net.blockchain.now! += 1;
            await net.worker.attest();
            session = await openTracked();
            slowDown(async (done) => {
                await new Promise((r) => setTimeout(r, 150));
                return done();
            });
            const url = `${net.workerUrl}/v1/sessions/${session.address.toString()}/chat`;
            const body = Buffer.from(JSON.stringify({ model: DEMO_MODEL, ...ask('hi') }));
            const key = net.worker.keys.encryption.publicKey;
            const sealed = await Promise.all(
                [0, 1, 2].map((i) => sealRequest(key, session.address, session.sessionKey, body, requestId(i))),
            );
            const replies = await Promise.all(sealed.map((r) => post(url, r.envelope)));
            expect(replies.map((r) => r.status).sort()).toEqual([200, 200, 429]);
            expect(replies.find((r) => r.status === 429)!.json.error).toBe('session-busy');
            expect(net.worker.o.meter.latest(session.address)!.seqno).toBe(2);
        });

        it('answers a retried request id with the answer already served, charged once, even after the client gave up waiting', async () => {
            await setUp();
            const impatient = new CocoonClient({
                ...LOCAL_CLIENT_POLICY,
                chain: net.chain,
                wallet: net.ledger.sender(net.client),
                root: net.root.address,
                requestTimeoutMs: 200, // gives up on each attempt after 200 ms...
            });
            const mine = await impatient.resumeSession(session.address, session.sessionKey, DEMO_MODEL);
            let calls = 0;
            slowDown(async (done) => {
                calls += 1;
                await new Promise((r) => setTimeout(r, 400)); // ...while the model takes 400 ms
                return done();
            });
            const { receipt, completion } = await mine.chat(ask('slow one'));
            expect(calls).toBe(1); // the retries found the request in flight, then its stored answer
            expect(completion.choices[0].message.content).toBe(`${ECHO_PREFIX} slow one`);
            expect(receipt.seqno).toBe(1);
            expect(net.worker.o.meter.latest(session.address)!.seqno).toBe(1);
            // nothing was lost: the next request's receipt follows on
            slowDown((done) => done());
            expect((await mine.chat(ask('fast one'))).receipt.seqno).toBe(2);
        });

        it('replays nothing: a repeated envelope gets the stored answer sealed to its sender, a reused id for another request is refused', async () => {
            await setUp();
            const url = `${net.workerUrl}/v1/sessions/${session.address.toString()}/chat`;
            const key = net.worker.keys.encryption.publicKey;
            const body = (text: string) => Buffer.from(JSON.stringify({ model: DEMO_MODEL, ...ask(text) }));
            const first = await sealRequest(key, session.address, session.sessionKey, body('once'), requestId(1));
            const a = await post(url, first.envelope);
            const b = await post(url, first.envelope); // a captured envelope, replayed
            expect([a.status, b.status]).toEqual([200, 200]);
            const read = (r: { json: unknown }) => JSON.parse(first.openResponse(r.json as never).toString('utf8'));
            expect(read(b).receipt).toBe(read(a).receipt); // the same receipt: charged once
            expect(net.worker.o.meter.latest(session.address)!.seqno).toBe(1);
            // the same id sealed anew for the same request: the same answer again
            const again = await sealRequest(key, session.address, session.sessionKey, body('once'), requestId(1));
            expect(JSON.parse(again.openResponse((await post(url, again.envelope)).json as never).toString('utf8')).receipt).toBe(
                read(a).receipt,
            );
            const other = await sealRequest(key, session.address, session.sessionKey, body('something else'), requestId(1));
            expect(await post(url, other.envelope)).toMatchObject({ status: 409, json: { error: 'request-id-reused' } });
            // the id is bound to the ciphertext: it cannot be swapped
            expect(await post(url, { ...first.envelope, requestId: requestId(2) })).toMatchObject({
                status: 400,
                json: { error: 'undecryptable' },
            });
            // an answer no longer kept is not served again
            net.worker.o.meter.expireAnswers(Math.floor(Date.now() / 1000) + 1);
            expect(await post(url, first.envelope)).toMatchObject({ status: 410, json: { error: 'answer-expired' } });
            expect(net.worker.o.meter.latest(session.address)!.seqno).toBe(1);
        });

        it('caps an answer at what the budget can pay, and refuses once it is spent', async () => {
            await setUp({ budget: toNano('1') });
            // 4,000 one-letter words: the echo answer is longer than what is left after the prompt
            const long = 'w '.repeat(4000);
            const { completion, receipt } = await session.chat(ask(long, 1_000_000));
            expect(completion.choices[0].finish_reason).toBe('length');
            expect(receipt.amountDue).toBeLessThanOrEqual(session.budget);
            let refused: unknown;
            for (let i = 0; i < 10 && !refused; i++) {
                refused = await session.chat(ask(long, 1_000_000)).then(
                    (r) => expect(r.receipt.amountDue).toBeLessThanOrEqual(session.budget),
                    (e) => e,
                );
            }
            expect(refused).toBeInstanceOf(CocoonError);
            expect(refused).toMatchObject({ code: 'worker-refused', detail: 'budget-exhausted' });
            expect(session.latest.amountDue).toBeLessThanOrEqual(session.budget);
        });

        it('rejects a tampered ciphertext and a stranger speaking for the session', async () => {
            await setUp();
            const url = `${net.workerUrl}/v1/sessions/${session.address.toString()}/chat`;
            const enclaveKey = net.worker.keys.encryption.publicKey;
            const plaintext = Buffer.from(JSON.stringify({ model: DEMO_MODEL, ...ask('hi') }));

            const { envelope } = await sealRequest(enclaveKey, session.address, session.sessionKey, plaintext, requestId(1));
            const bytes = Buffer.from(envelope.ciphertext, 'base64');
            bytes[5] ^= 0x01;
            let r = await post(url, { ...envelope, ciphertext: bytes.toString('base64') });
            expect(r).toMatchObject({ status: 400, json: { error: 'undecryptable' } });

            const fresh = await sealRequest(enclaveKey, session.address, session.sessionKey, plaintext, requestId(2));
            expect((await post(url, fresh.envelope)).status).toBe(200);

            const stranger = await generateEncryptionKeyPair();
            const theirs = await sealRequest(enclaveKey, session.address, stranger, plaintext, requestId(3));
            r = await post(url, theirs.envelope);
            expect(r).toMatchObject({ status: 403, json: { error: 'not-your-session' } });
            expect(clientKeyHashOf(stranger.publicKey)).not.toBe((await readSession(net.chain, session.address))!.clientKeyHash);

            r = await post(url, { enc: 'x' });
            expect(r).toMatchObject({ status: 400, json: { error: 'bad-request' } });
            r = await post(url, { ...fresh.envelope, requestId: 'short' });
            expect(r).toMatchObject({ status: 400, json: { error: 'bad-request' } });
            r = await post(`${net.workerUrl}/v1/sessions/not-an-address/chat`, fresh.envelope);
            expect(r).toMatchObject({ status: 400, json: { error: 'bad-request' } });
            // one request served and metered; two refused by the session checks (the three
            // malformed ones never got that far)
            expect(net.worker.stats.requests).toBe(1);
            expect(net.worker.stats.refused).toBe(2);
            expect(net.worker.o.meter.latest(session.address)!.seqno).toBe(1);
        });

        // A contract anyone can deploy that answers the `state` getter as a real Session of this
        // Provider does (here: a copy of a real one's code and data at another address): with the
        // provider, terms, enclave key and client key of a real session, it would take requests
        // it never pays for, and the worker's claims and finalizes would spend its TON for nothing.
        async function counterfeitOf(real: Address): Promise<Address> {
            const fake = new Address(0, Buffer.alloc(32, 0x3c));
            await copyAccount(net.blockchain, real, fake);
            const [copied, original] = [(await readSession(net.chain, fake))!, (await readSession(net.chain, real))!];
            expect([copied.provider.toString(), copied.terms!.signingKey, copied.clientKeyHash, copied.status]).toEqual([
                original.provider.toString(),
                original.terms!.signingKey,
                original.clientKeyHash,
                original.status,
            ]);
            return fake;
        }

        it('serves, claims and finalizes nothing for a contract that only answers like a Session of this Provider', async () => {
            await setUp();
            await session.chat(ask('the real one'));
            const fake = await counterfeitOf(session.address);
            let calls = 0;
            slowDown((done) => ((calls += 1), done()));
            const sealed = await sealRequest(
                net.worker.keys.encryption.publicKey,
                fake,
                session.sessionKey,
                Buffer.from(JSON.stringify({ model: DEMO_MODEL, ...ask('free compute?') })),
                requestId(1),
            );
            const refusal = await post(`${net.workerUrl}/v1/sessions/${fake.toString()}/chat`, sealed.envelope);
            expect(refusal).toMatchObject({ status: 404, json: { error: 'not-a-session' } });
            expect(calls).toBe(0);
            expect(net.worker.o.meter.latest(fake)).toBeNull();
            // an account whose getter answers as no Session does (Root's) is no Session: refused as
            // unknown (and counted against the asker's address), not as a chain outage
            expect(await readSession(net.chain, net.root.address)).toBeNull();
            const notOne = await post(`${net.workerUrl}/v1/sessions/${net.root.address.toString()}/chat`, sealed.envelope);
            expect(notOne).toMatchObject({ status: 404, json: { error: 'unknown-session' } });

            // One an earlier release served is dropped from the claim pass, with nothing sent to it
            // (a finalize too: it is left long past its window, with something claimed).
            net.worker.o.meter.acknowledge(fake, (await readSession(net.chain, fake))!.openedAt, net.worker.keys.signing, DEMO_PRICES);
            const before = await net.blockchain.getContract(fake);
            const claimed = await net.worker.claimDue(true);
            expect(claimed.map((c) => c.session.toString())).toEqual([session.address.toString()]);
            expect(net.worker.o.meter.unsettled().map((a) => a.toString())).not.toContain(fake.toString());
            const after = await net.blockchain.getContract(fake);
            expect([after.balance, after.lastTransactionLt]).toEqual([before.balance, before.lastTransactionLt]);

            // and the SDK neither resumes it nor sends it a close
            await expect(client.resumeSession(fake, session.sessionKey, DEMO_MODEL)).rejects.toMatchObject({ code: 'not-a-session' });
            await expect(client.settleSession(fake)).rejects.toMatchObject({ code: 'not-a-session' });
            await expect(client.settleSession(net.root.address)).rejects.toMatchObject({ code: 'not-a-session' }); // not 'absent'
            expect(await client.settleSession(new Address(0, Buffer.alloc(32, 0x3d)))).toEqual({ step: 'absent' });
            expect((await net.blockchain.getContract(fake)).balance).toBe(before.balance);
            // (a session whose Provider cannot be found is not taken on trust either)
            const blind = new CocoonClient({
                ...client.o,
                chain: { ...net.chain, accountState: async (a) => (a.equals(net.provider) ? 'uninit' : net.chain.accountState(a)) },
            });
            await expect(blind.settleSession(session.address)).rejects.toMatchObject({ code: 'provider-not-found' });
            expect(await client.settleSession(session.address)).toEqual({ step: 'closing' }); // the real one is closed
        });

        it("believes no Root and owner of its Provider that do not give the Provider's address (an endpoint answering wrongly)", async () => {
            await setUp();
            await net.stopWorker();
            await net.startWorker(); // (new keys: nothing is known of the Provider yet)
            const chain = net.worker.o.chain;
            let lying = true;
            const liar: ChainAccess = {
                ...chain,
                open: (c) => {
                    const opened = chain.open(c);
                    if (!(c instanceof Provider) || !lying) return opened;
                    const summary = (opened as unknown as { getSummary: () => Promise<{ owner: Address }> }).getSummary;
                    return { ...opened, getSummary: async () => ({ ...(await summary()), owner: net.client }) } as typeof opened;
                },
            };
            (net.worker.o as { chain: ChainAccess }).chain = liar;
            const attempt = async (id: number) => {
                const sealed = await sealRequest(
                    net.worker.keys.encryption.publicKey,
                    session.address,
                    session.sessionKey,
                    Buffer.from(JSON.stringify({ model: DEMO_MODEL, ...ask('hello') })),
                    requestId(id),
                );
                return post(`${net.workerUrl}/v1/sessions/${session.address.toString()}/chat`, sealed.envelope);
            };
            expect(await attempt(1)).toMatchObject({ status: 500, json: { error: 'internal' } });
            lying = false;
            // the honest answer is kept: the session is the real one (opened under the earlier keys)
            expect(await attempt(2)).toMatchObject({ status: 409, json: { error: 'previous-enclave-key' } });
        });

        it('refuses a request for a model other than the session was opened for, or a session it does not serve', async () => {
            await setUp();
            const url = (s: Address) => `${net.workerUrl}/v1/sessions/${s.toString()}/chat`;
            const key = net.worker.keys.encryption.publicKey;
            const secret = Buffer.from(JSON.stringify({ model: DEMO_MODEL, messages: [{ role: 'user', content: { confidential: 'x' } }] }));
            const bad = await sealRequest(key, session.address, session.sessionKey, secret, requestId(1));
            const refusal = await post(url(session.address), bad.envelope);
            expect(refusal).toMatchObject({ status: 400, json: { error: 'bad-request' } });
            expect(refusal.json.message).toContain('messages.0.content');
            expect(refusal.json.message).not.toContain('confidential'); // refusals travel unencrypted
            const other = await sealRequest(
                key,
                session.address,
                session.sessionKey,
                Buffer.from(JSON.stringify({ model: 'gpt-9', ...ask('hi') })),
                requestId(2),
            );
            const wrongModel = await post(url(session.address), other.envelope);
            expect(wrongModel).toMatchObject({ status: 400, json: { error: 'model-not-served' } });
            expect(wrongModel.json.message).not.toContain('gpt-9');
            const notJson = await sealRequest(key, session.address, session.sessionKey, Buffer.from('not json'), requestId(3));
            expect(await post(url(session.address), notJson.envelope)).toMatchObject({ status: 400, json: { error: 'bad-request' } });
            const nowhere = new Address(0, Buffer.alloc(32, 9));
            const lost = await sealRequest(key, nowhere, session.sessionKey, Buffer.from('{}'), requestId(4));
            expect(await post(url(nowhere), lost.envelope)).toMatchObject({ status: 404, json: { error: 'unknown-session' } });
        });

        it('stops serving a closed session', async () => {
            await setUp();
            await withSessionCache(0); // sees the close at once
            await session.chat(ask('one'));
            await session.close();
            await expect(session.chat(ask('two'))).rejects.toMatchObject({ code: 'session-not-open' });
            // a client that ignores its own close: the worker refuses too
            expect(await postAsk(ask('x'), 9)).toMatchObject({ status: 409, json: { error: 'session-not-open' } });
        });

        it('never gets paid for a request it accepted after the close: it claims the receipt before it instead', async () => {
            await setUp();
            await withSessionCache(3600); // will not see the close in time
            const before = await session.chat(ask('one'));
            const raw = (await session.refresh(), session);
            await raw.close();
            net.blockchain.now! += 1;
            expect((await postAsk(ask('after the close'), 9)).status).toBe(200);
            const latest = net.worker.o.meter.latest(session.address)!;
            expect(latest.seqno).toBe(before.receipt.seqno + 1);
            expect(latest.lastRequestAt).toBeGreaterThan((await session.refresh()).closedAt);
            const claims = await net.worker.claimDue(true);
            expect(claims.map((c) => c.seqno)).toEqual([before.receipt.seqno]);
            expect((await session.refresh()).claimed).toBe(before.receipt.amountDue);
            net.blockchain.now = session.finalizableAt().at;
            await expect(session.finalize()).resolves.toMatchObject({ claimed: before.receipt.amountDue, timedOut: false });
        });

        it("reads a session's state and the listing again only when their account has had a transaction since (one cheap check of its last lt otherwise)", async () => {
            await setUp();
            await withSessionCache(0); // every request checks the chain
            const chain = net.worker.o.chain;
            let sessionReads = 0;
            let providerReads = 0;
            (net.worker.o as { chain: ChainAccess }).chain = {
                ...chain,
                open: (c) => {
                    if (c instanceof Session) sessionReads += 1;
                    if (c instanceof Provider) providerReads += 1;
                    return chain.open(c);
                },
            };
            await session.chat(ask('one'));
            await session.chat(ask('two'));
            await session.chat(ask('three'));
            expect(sessionReads).toBe(1); // the first request's read; receipts are no transaction of the Session
            expect(providerReads).toBe(1); // its listing, the same way
            const budget = await session.topUp(toNano('1'));
            expect((await session.chat(ask('after the top-up'))).receipt.seqno).toBe(4);
            expect(sessionReads).toBe(2);
            expect((await readSession(net.chain, session.address))!.budget).toBe(budget);
            await session.close();
            expect(await postAsk(ask('after the close'), 9)).toMatchObject({ status: 409, json: { error: 'session-not-open' } });
            expect(sessionReads).toBe(4); // the close moved the lt: read, and read afresh once more before refusing
        });

        it('requests that need the same state read at once share one read of the chain, and a failed read fails them all', async () => {
            await setUp();
            await withSessionCache(0);
            await session.chat(ask('first')); // (learns the worker's run, so the next ones overlap)
            const chain = net.worker.o.chain;
            const ltReads = new Map<string, number>();
            let failing = false;
            (net.worker.o as { chain: ChainAccess }).chain = {
                ...chain,
                // a slow endpoint: the requests below all arrive while the first read is on its way
                lastTransactionLt: async (a) => {
                    ltReads.set(a.toRawString(), (ltReads.get(a.toRawString()) ?? 0) + 1);
                    await new Promise((r) => setTimeout(r, 200));
                    if (failing) throw new Error('endpoint down');
                    return chain.lastTransactionLt!(a);
                },
            };
            const results = await Promise.all(['a', 'b', 'c', 'd'].map((w) => session.chat(ask(w))));
            expect(results.map((r) => r.receipt.seqno).sort()).toEqual([2, 3, 4, 5]);
            expect(ltReads.get(session.address.toRawString())).toBe(1);
            expect(ltReads.get(net.worker.o.provider.toRawString())).toBe(1);
            // a shared read that fails is not kept: every request waiting on it is told, and the next one reads again
            failing = true;
            const refused = await Promise.all([5, 6].map((n) => postAsk(ask(`down ${n}`), n)));
            expect(refused.map((r) => [r.status, (r.json as { error: string }).error])).toEqual([
                [503, 'chain-unavailable'],
                [503, 'chain-unavailable'],
            ]);
            expect(ltReads.get(session.address.toRawString())).toBe(2);
            failing = false;
            expect((await postAsk(ask('up again'), 7)).status).toBe(200);
            expect(ltReads.get(session.address.toRawString())).toBe(3);
            // requests of a closed session each want it read afresh before refusing: one read for all
            await session.close();
            let sessionReads = 0;
            const open = net.worker.o.chain.open;
            (net.worker.o as { chain: ChainAccess }).chain = {
                ...net.worker.o.chain,
                open: (c) => {
                    if (c instanceof Session) sessionReads += 1;
                    return open(c);
                },
            };
            const closed = await Promise.all([8, 9, 10, 11].map((n) => postAsk(ask(`closed ${n}`), n)));
            expect(closed.map((r) => [r.status, (r.json as { error: string }).error])).toEqual(Array(4).fill([409, 'session-not-open']));
            expect(sessionReads).toBe(2); // the close moved the lt: read once, then once more afresh
            expect(ltReads.get(session.address.toRawString())).toBe(5);
        });

        it('keeps a state read behind its lt (failover to an endpoint a block behind) for at most 30 s, and never when it would refuse', async () => {
            await setUp();
            await withSessionCache(0);
            await session.chat(ask('one'));
            const cache = (net.worker as unknown as { sessions: Map<string, { value: SessionState; lt?: bigint; gotAt: number }> })
                .sessions;
            const entry = cache.get(session.address.toRawString())!;
            const open = entry.value;
            // a read that lagged its lt: the session before it was accepted (no terms yet)
            entry.value = { ...open, terms: null, status: Number(SESSION_OPEN) - 1 }; // (opening)
            expect((await postAsk(ask('two'), 2)).status).toBe(200); // read afresh: it would have refused
            // closed, and a read that lagged the close's lt says open: kept, but not past 30 s
            await session.close();
            const lt = (await net.blockchain.getContract(session.address)).lastTransactionLt;
            cache.set(session.address.toRawString(), { value: open, readAt: 0, lt, gotAt: Date.now() } as never);
            expect((await postAsk(ask('three'), 3)).status).toBe(200); // (served, never paid: after the close)
            const now = Date.now;
            jest.spyOn(Date, 'now').mockImplementation(() => now() + 31_000);
            try {
                expect(await postAsk(ask('four'), 4)).toMatchObject({ status: 409, json: { error: 'session-not-open' } });
            } finally {
                jest.restoreAllMocks();
            }
        });

        // The sessions the worker still reads on its passes (not settled in its meter).
        const tracked = () => net.worker.o.meter.unsettled().map((a) => a.toRawString());

        // Closes the session and lets its claim window pass with its latest receipt unclaimed: the
        // newest block an endpoint reported, 5 s before the window's end, leaves a claim too little
        // time to land. Returns what puts the worker's chain back.
        async function missTheClaimWindow() {
            await session.close();
            net.blockchain.now = session.finalizableAt().at + 1;
            const chain = net.worker.o.chain;
            (net.worker.o as { chain: ChainAccess }).chain = { ...chain, latestBlockTime: () => session.finalizableAt().at - 6 };
            return () => ((net.worker.o as { chain: ChainAccess }).chain = chain);
        }

        it("gives up a receipt once the claim window is over by the chain's clock (the Session refuses it then)", async () => {
            await setUp();
            // (forgotten at once when the worker does not finalize abandoned sessions; else see below)
            (net.worker.o.claim as { finalizeAbandonedAfterSeconds: number | null }).finalizeAbandonedAfterSeconds = null;
            await session.chat(ask('one'));
            await missTheClaimWindow();
            const sent = net.ledger.transactions.length;
            expect(await net.worker.claimDue()).toEqual([]);
            expect(tracked()).not.toContain(session.address.toRawString());
            expect(net.ledger.transactions.length).toBe(sent); // nothing sent
        });

        describe('sessions their clients left open', () => {
            const provider = () => net.blockchain.openContract(Provider.fromAddress(net.provider));
            const balance = async (a: Address) => (await net.blockchain.getContract(a)).balance;
            const status = async (s: ClientSession) => (await s.refresh()).status;
            const after = () => net.worker.o.claim.finalizeAbandonedAfterSeconds!;
            const slashes = async () => (await provider().getStats()).slashCount;
            // the worker's per-session memory of its finalizes
            const attempts = () => (net.worker as unknown as { finalizeAttempts: Map<string, unknown> }).finalizeAttempts;
            // A pass sends nothing: the session stays open, and the worker is done with it (no
            // longer read on every pass).
            async function expectLeftToItsClient(s: ClientSession) {
                const sent = net.ledger.transactions.length;
                await net.worker.claimDue();
                expect(net.ledger.transactions.length).toBe(sent);
                expect(await status(s)).toBe(Number(SESSION_OPEN));
                expect(tracked()).not.toContain(s.address.toRawString());
            }

            it('are finalized by the worker a week after their claim window, not sooner: collateral released, client refunded, the worker paying only the fees of the finalize', async () => {
                await setUp();
                const served = await session.chat(ask('one'));
                await net.worker.claimDue(true);
                expect(await provider().getLocked()).toBeGreaterThan(0n);
                // the client vanishes: no close, no finalize
                net.blockchain.now = session.finalizableAt().at + after() - 5;
                const sent = net.ledger.transactions.length;
                expect(await net.worker.claimDue()).toEqual([]);
                expect(net.ledger.transactions.length).toBe(sent);
                net.blockchain.now = session.finalizableAt().at + after() + 1;
                // a wallet that fails to send: logged, the pass goes on (and the finalize is tried again later)
                const wallet = net.worker.o.sender;
                (net.worker.o as { sender: unknown }).sender = { ...wallet, send: () => Promise.reject(new Error('wallet down')) };
                const warnings = jest.spyOn(net.worker.o.log, 'warn');
                await expect(net.worker.claimDue()).resolves.toEqual([]);
                expect(warnings.mock.calls.map((c) => c[1])).toContain('finalizing an abandoned session failed; retried later');
                (net.worker.o as { sender: unknown }).sender = wallet;
                net.blockchain.now += 601;
                const [worker, clientBefore, held] = [
                    await balance(net.workerWallet.address),
                    await balance(net.client.address),
                    await balance(session.address),
                ];
                await net.worker.claimDue();
                expect(await status(session)).toBe(Number(SESSION_FINALIZED));
                expect(await provider().getLocked()).toBe(0n);
                expect(await slashes()).toBe(0n);
                // the worker pays the finalize's fees (its change comes back), the client gets its
                // unused budget and nothing of the worker's value
                const spent = worker - (await balance(net.workerWallet.address));
                expect(spent).toBeGreaterThan(0n);
                expect(spent).toBeLessThan(toNano('0.03'));
                const refund = (await balance(net.client.address)) - clientBefore;
                expect(refund).toBeGreaterThan(toNano('5') - served.receipt.amountDue);
                expect(refund).toBeLessThanOrEqual(held - SESSION_STORAGE_RESERVE);
                // counted for the operator
                expect(await (await fetch(`${net.workerUrl}/metrics`)).text()).toContain('cocoon_worker_abandoned_finalizes_total 1\n');
                expect(((await (await fetch(`${net.workerUrl}/health`)).json()) as { stats: object }).stats).toMatchObject({
                    abandonedFinalizes: 1,
                });
                // the next pass sees it over and forgets it, sending nothing and keeping nothing
                const finalized = net.ledger.transactions.length;
                await net.worker.claimDue();
                expect(tracked()).not.toContain(session.address.toRawString());
                expect(attempts().size).toBe(0);
                expect(net.ledger.transactions.length).toBe(finalized);
            });

            it("go by the chain's clock too (a machine clock ahead never finalizes early), and a finalize that fails is sent again only after 10 minutes", async () => {
                await setUp();
                await session.chat(ask('one'));
                await net.worker.claimDue(true);
                const chain = net.worker.o.chain;
                const month = 30 * 86_400;
                const ahead = (seconds: number) => ({ ...chain, now: () => chain.now() + seconds });
                // the newest block says the window is not over: nothing is sent
                (net.worker.o as { chain: ChainAccess }).chain = ahead(month);
                const sent = net.ledger.transactions.length;
                await net.worker.claimDue();
                expect(net.ledger.transactions.length).toBe(sent);
                // an endpoint whose newest block is ahead too: sent, and refused by the Session (too early)
                const blockAhead = { latestBlockTime: () => chain.now() + month };
                (net.worker.o as { chain: ChainAccess }).chain = { ...ahead(month), ...blockAhead };
                await net.worker.claimDue();
                const refused = net.ledger.transactions.length;
                expect(refused).toBeGreaterThan(sent);
                expect(await status(session)).toBe(Number(SESSION_OPEN));
                await net.worker.claimDue(); // not again at once
                expect(net.ledger.transactions.length).toBe(refused);
                (net.worker.o as { chain: ChainAccess }).chain = { ...ahead(month + 601), ...blockAhead };
                await net.worker.claimDue();
                expect(net.ledger.transactions.length).toBeGreaterThan(refused);
                (net.worker.o as { chain: ChainAccess }).chain = chain;
            });

            it('with nothing claimed are never finalized by the worker (that finalize is a timeout: it would slash the Provider)', async () => {
                await setUp();
                await session.chat(ask('one')); // (its receipt never claimed)
                await session.close();
                net.blockchain.now = session.finalizableAt().at + after() + 1;
                const sent = net.ledger.transactions.length;
                await net.worker.claimDue(); // the receipt given up (a read may lag: kept)
                expect(tracked()).toContain(session.address.toRawString());
                await net.worker.claimDue(); // still nothing claimed a week after the window: dropped
                expect(tracked()).not.toContain(session.address.toRawString());
                expect(net.ledger.transactions.length).toBe(sent);
                expect(await status(session)).toBe(Number(SESSION_CLOSING));
                expect(await slashes()).toBe(0n);
                await session.finalize();
            });

            it('whose release bounced with nothing claimed are settled: dropped at once, no claim or finalize sent', async () => {
                await setUp();
                await session.chat(ask('one')); // (its receipt never claimed)
                await session.close();
                net.blockchain.now = session.finalizableAt().at + 1;
                // the client's finalize (a timeout) while the Provider refuses the release
                const restore = await installStandIn(net.blockchain, net.provider, 'throw');
                await session.finalize().catch(() => undefined); // (the SDK waits for a finalized Session)
                expect(await status(session)).toBe(Number(SESSION_RELEASE_FAILED));
                await restore();
                const sends = jest.spyOn(net.worker.o.sender, 'send');
                for (let pass = 0; pass < 3; pass++) {
                    await net.worker.claimDue();
                    net.blockchain.now += 3600;
                }
                expect(sends).not.toHaveBeenCalled();
                expect(tracked()).not.toContain(session.address.toRawString());
                sends.mockRestore();
                await session.finalize(); // (the client retries the release)
            });

            it('are left alone when their collateral is worth less than twice the value a finalize attaches', async () => {
                // 1% collateral: a 5 TON session locks 0.05 TON of stake, less than 2 x FINALIZE_ABANDONED_VALUE
                await setUp({ params: { ...EXAMPLE_PARAMS, collateralBps: 100n } });
                await session.chat(ask('one'));
                await net.worker.claimDue(true);
                expect(await provider().getLocked()).toBeLessThan(2n * FINALIZE_ABANDONED_VALUE);
                net.blockchain.now = session.finalizableAt().at - 1; // (claims may still come)
                await net.worker.claimDue();
                expect(tracked()).toContain(session.address.toRawString());
                // nor by a machine clock a month ahead while the newest block is inside the window
                const chain = net.worker.o.chain;
                (net.worker.o as { chain: ChainAccess }).chain = { ...chain, now: () => chain.now() + 30 * 86_400 };
                await net.worker.claimDue();
                expect(tracked()).toContain(session.address.toRawString());
                (net.worker.o as { chain: ChainAccess }).chain = chain;
                net.blockchain.now = session.finalizableAt().at + after() + 1;
                await expectLeftToItsClient(session); // (all claimed, the window over)
                await session.finalize();
            });

            it('whose collateral release bounced are finalized again at once, five times at most (10, 20, 40, 80 minutes apart)', async () => {
                await setUp();
                await session.chat(ask('one'));
                await net.worker.claimDue(true);
                await session.close();
                net.blockchain.now = session.finalizableAt().at + 1;
                const restore = await installStandIn(net.blockchain, net.provider, 'throw');
                await session.finalize().catch(() => undefined); // (the SDK waits for a finalized Session)
                expect(await status(session)).toBe(Number(SESSION_RELEASE_FAILED));
                // while the Provider keeps refusing, each attempt costs a finalize: five, spaced out
                const sends = jest.spyOn(net.worker.o.sender, 'send');
                const sentBy: number[] = [];
                for (const wait of [0, 599, 1, 700, 500, 2399, 1, 4799, 1, 100_000]) {
                    net.blockchain.now += wait;
                    await net.worker.claimDue();
                    sentBy.push(sends.mock.calls.length);
                }
                // at 0, 600, 1800, 4200 and 9000 s; never again
                expect(sentBy).toEqual([1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
                expect(await status(session)).toBe(Number(SESSION_RELEASE_FAILED));
                sends.mockRestore();
                await restore();
                // once the Provider takes it (here: a restarted worker, which tries again)
                await net.stopWorker();
                await net.startWorker();
                await net.worker.claimDue();
                expect(await status(session)).toBe(Number(SESSION_FINALIZED));
                expect(await provider().getLocked()).toBe(0n);
                expect(await slashes()).toBe(0n);
            });

            it('are kept through reads from an endpoint behind: absent, or with an older seqno', async () => {
                await setUp();
                await session.chat(ask('one'));
                await net.worker.claimDue(true);
                const state = require('../../protocol/state') as typeof import('../../protocol/state');
                const read = jest.spyOn(state, 'readSession').mockResolvedValueOnce(null); // (no account yet)
                await net.worker.claimDue();
                expect(tracked()).toContain(session.address.toRawString());
                const second = await session.chat(ask('two'));
                expect((await net.worker.claimDue(true)).map((c) => c.seqno)).toEqual([second.receipt.seqno]);
                // its last receipt missed the window, read once with no claim at all: kept, and finalized later
                await session.chat(ask('three'));
                const restoreChain = await missTheClaimWindow();
                const real = (await state.readSession(net.chain, session.address))!;
                read.mockResolvedValueOnce({ ...real, seqno: 0 });
                await net.worker.claimDue();
                expect(tracked()).toContain(session.address.toRawString());
                read.mockRestore();
                restoreChain();
                net.blockchain.now = session.finalizableAt().at + after() + 1;
                await net.worker.claimDue();
                expect(await status(session)).toBe(Number(SESSION_FINALIZED));
                expect(await slashes()).toBe(0n);
            });

            it('whose latest receipt missed the claim window are finalized too, and none is with the policy off', async () => {
                await setUp();
                await session.chat(ask('one'));
                await net.worker.claimDue(true);
                await session.chat(ask('two'));
                const restoreChain = await missTheClaimWindow();
                const sent = net.ledger.transactions.length;
                const errors = jest.spyOn(net.worker.o.log, 'error');
                expect(await net.worker.claimDue()).toEqual([]);
                expect(await net.worker.claimDue()).toEqual([]);
                expect(net.ledger.transactions.length).toBe(sent);
                expect(errors).toHaveBeenCalledTimes(1); // 'claim window over before the latest receipt was claimed', once
                expect(tracked()).toContain(session.address.toRawString()); // kept to be finalized
                errors.mockRestore();
                restoreChain();
                net.blockchain.now = session.finalizableAt().at + after() + 1;
                await net.worker.claimDue();
                expect(await status(session)).toBe(Number(SESSION_FINALIZED));
                expect(await provider().getLocked()).toBe(0n);
                expect(await slashes()).toBe(0n);
                // with the policy off, a session left open stays as it is
                await net.worker.attest(); // (a week later: attested again)
                const next = await openTracked();
                await next.chat(ask('three'));
                await net.worker.claimDue(true);
                (net.worker.o.claim as { finalizeAbandonedAfterSeconds: number | null }).finalizeAbandonedAfterSeconds = null;
                net.blockchain.now = next.finalizableAt().at + 30 * 86_400;
                await expectLeftToItsClient(next);
                await next.finalize();
                session = next;
            });
        });

        it("claims once when this machine's clock runs past the claim window and the chain's newest block does not", async () => {
            await setUp();
            const served = await session.chat(ask('one'));
            await session.close();
            const chain = net.worker.o.chain;
            const ahead = 30 * 86_400; // a machine clock a month ahead
            (net.worker.o as { chain: ChainAccess }).chain = { ...chain, now: () => chain.now() + ahead };
            const claims = await net.worker.claimDue();
            expect(claims.map((c) => c.seqno)).toEqual([served.receipt.seqno]);
            expect((await session.refresh()).claimed).toBe(served.receipt.amountDue);
            // without the chain's word (an endpoint that reports no block time) the receipt is given up as before
            (net.worker.o as { chain: ChainAccess }).chain = chain;
            const next = await openTracked();
            const second = await next.chat(ask('two'));
            await next.close();
            (net.worker.o as { chain: ChainAccess }).chain = { ...chain, now: () => chain.now() + ahead, latestBlockTime: undefined };
            expect(await net.worker.claimDue()).toEqual([]);
            expect((await next.refresh()).claimed).toBe(0n);
            expect(second.receipt.seqno).toBeGreaterThan(0);
            net.blockchain.now = next.finalizableAt().at;
            await next.finalize();
            session = next;
        });

        it("returns the model's own refusal (a prompt beyond its context) to the client, sealed and uncharged", async () => {
            await setUp({ budget: toNano('10') }); // the worker holds back the prompt's worst case (a token per byte)
            const secret = 'confidential ' + 'x '.repeat(ECHO_CONTEXT_TOKENS);
            const e = await session.chat(ask(secret, 16)).catch((x) => x);
            expect(e).toMatchObject({ code: 'rejected-by-model' });
            expect(e.message).toContain('maximum context length');
            expect(net.worker.o.meter.latest(session.address)).toBeNull();
            // what travelled in the clear names the refusal, never the backend's words
            const r = await postAsk(ask(secret, 16), 5);
            expect(r).toMatchObject({ status: 400, json: { error: 'rejected-by-model' } });
            expect(JSON.stringify(r.json)).not.toContain('context length');
            expect(JSON.stringify(r.json)).not.toContain('confidential');
            // the client still has its whole budget: the next request is the first receipt
            expect((await session.chat(ask('short'))).receipt.seqno).toBe(1);
        });

        it('reports a backend that is down as backend-unavailable and meters nothing', async () => {
            await setUp();
            (net.worker.o as { backend: unknown }).backend = {
                complete: () =>
                    Promise.reject(
                        new (require('../../worker/src/backend').BackendUnavailable)(
                            'the model backend at http://127.0.0.1:1 did not answer',
                        ),
                    ),
            };
            await expect(session.chat(ask('hi'))).rejects.toMatchObject({ code: 'worker-refused', detail: 'backend-unavailable' });
            expect(net.worker.o.meter.latest(session.address)).toBeNull();
        });
    });

    describe('every OpenAI request field, four token classes', () => {
        // What the backend received, by the worker's call.
        function recordRequests() {
            const seen: Record<string, unknown>[] = [];
            slowDown((done) => done());
            const wrapped = net.worker.o.backend;
            (net.worker.o as { backend: typeof wrapped }).backend = {
                stream: (r) => {
                    seen.push(JSON.parse(JSON.stringify(r)));
                    return wrapped.stream(r);
                },
                complete: (r) => {
                    seen.push(JSON.parse(JSON.stringify(r)));
                    return wrapped.complete(r);
                },
            };
            return seen;
        }

        it('passes the whole request to the backend unchanged, tools and all, and a tool call round trip works', async () => {
            await setUp();
            const seen = recordRequests();
            const tools = [
                {
                    type: 'function',
                    function: {
                        name: 'lookup',
                        description: 'Looks a word up',
                        parameters: { type: 'object', properties: { text: { type: 'string' } } },
                    },
                },
            ];
            const request = {
                messages: [
                    { role: 'developer', content: 'Answer briefly.' },
                    {
                        role: 'user',
                        content: [
                            { type: 'text', text: 'what is ' },
                            { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } },
                            { type: 'text', text: 'this' },
                        ],
                    },
                ],
                tools,
                tool_choice: 'auto',
                response_format: { type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' } } },
                top_p: 0.9,
                stop: ['\n\n'],
                seed: 42,
                logprobs: false,
                presence_penalty: 0.1,
                frequency_penalty: 0.2,
                reasoning_effort: 'low',
                user: 'user-123',
                max_completion_tokens: 100,
                future_field: { anything: [1, 2, 3] }, // fields OpenAI adds later pass too
            };
            const first = await session.chat(request as never);
            expect(seen[0]).toEqual({ ...request, model: DEMO_MODEL }); // nothing stripped, nothing added (the cap fits)
            const call = first.completion.choices[0].message as {
                tool_calls?: { id: string; function: { name: string; arguments: string } }[];
            };
            expect(first.completion.choices[0].finish_reason).toBe('tool_calls');
            expect(call.tool_calls![0].function).toEqual({ name: 'lookup', arguments: JSON.stringify({ text: 'what is this' }) });

            // the tool's result goes back in a tool message; the assistant turn keeps content: null
            const second = await session.chat({
                messages: [
                    ...request.messages,
                    { role: 'assistant', content: null, tool_calls: call.tool_calls },
                    { role: 'tool', tool_call_id: call.tool_calls![0].id, content: 'a picture of a cat' },
                ],
                tools,
                max_tokens: 64,
            } as never);
            expect(seen[1].messages).toEqual([
                ...request.messages,
                { role: 'assistant', content: null, tool_calls: call.tool_calls },
                { role: 'tool', tool_call_id: call.tool_calls![0].id, content: 'a picture of a cat' },
            ]);
            expect(second.completion.choices[0].message.content).toBe(`${ECHO_PREFIX} the tool returned: a picture of a cat`);
            expect(second.receipt.seqno).toBe(2);
        });

        it('caps the answer in the field the client used, by what the budget pays', async () => {
            await setUp({ budget: toNano('1') }); // about 3,300 completion tokens at 300 TON per million
            const seen = recordRequests();
            await session.chat({ messages: [{ role: 'user', content: 'hi' }], max_completion_tokens: 1_000_000 });
            expect(seen[0].max_completion_tokens).toBeGreaterThan(2000); // (the budget is the value less the opening fees)
            expect(seen[0].max_completion_tokens).toBeLessThan(3334);
            expect(seen[0]).not.toHaveProperty('max_tokens');
            await session.chat({ messages: [{ role: 'user', content: 'hi' }] });
            expect(seen[1].max_tokens).toBe(1024); // DEFAULT_MAX_TOKENS: it fits
        });

        it('charges cached prompt and reasoning tokens at their own prices; receipts and answers carry the details', async () => {
            await setUp();
            const system = { role: 'system', content: 'You are a careful assistant who answers in one line.' };
            const first = await session.chat({ messages: [system, { role: 'user', content: 'one' }], max_tokens: 64 });
            expect(first.completion.usage.prompt_tokens_details?.cached_tokens).toBe(0);
            const second = await session.chat({
                messages: [system, { role: 'user', content: 'two' }],
                max_tokens: 64,
                reasoning_effort: 'medium',
            } as never);
            const usage = second.completion.usage;
            const cached = countTokens(system.content) + 4;
            expect(usage.prompt_tokens_details?.cached_tokens).toBe(cached);
            expect(usage.completion_tokens_details?.reasoning_tokens).toBe(16);
            expect(second.receipt).toMatchObject({
                cachedTokens: BigInt(cached),
                reasoningTokens: 16n,
                promptTokens: BigInt(first.completion.usage.prompt_tokens + usage.prompt_tokens),
            });
            // the cumulative amount prices each class apart (the Session's formula), and the
            // classes add up to what both answers reported
            expect(second.receipt.amountDue).toBe(amountDue(second.receipt, DEMO_PRICES));
            const r = second.receipt;
            expect(r.amountDue).toBe(
                ((r.promptTokens - r.cachedTokens) * toNano('100') +
                    r.cachedTokens * toNano('50') +
                    (r.completionTokens - r.reasoningTokens) * toNano('300') +
                    r.reasoningTokens * toNano('400')) /
                    1_000_000n,
            );
            expect(second.receipt.completionTokens).toBe(BigInt(first.completion.usage.completion_tokens + usage.completion_tokens));
        });

        it('never charges more of a part than of its whole, whatever the backend reports', async () => {
            await setUp();
            slowDown(async (done) => {
                const c = await done();
                c.usage.prompt_tokens_details = { cached_tokens: c.usage.prompt_tokens + 1000 };
                c.usage.completion_tokens_details = { reasoning_tokens: c.usage.completion_tokens + 1000 };
                return c;
            });
            const r = await session.chat(ask('inflated details'));
            expect(r.receipt.cachedTokens).toBe(r.receipt.promptTokens);
            expect(r.receipt.reasoningTokens).toBe(r.receipt.completionTokens);
            expect(r.completion.usage.prompt_tokens_details?.cached_tokens).toBe(Number(r.receipt.promptTokens));
        });

        it('refuses what it cannot serve, naming the field: too many choices, a bad max_completion_tokens, stream on the whole-answer route', async () => {
            await setUp();
            for (const [bad, field] of [
                [{ n: 17 }, 'n'],
                [{ max_completion_tokens: 0 }, 'max_completion_tokens'],
                [{ messages: [] }, 'messages'],
            ] as const) {
                const e = await session.chat({ ...ask('x'), ...bad } as never).catch((x) => x);
                expect(e).toMatchObject({ code: 'bad-request' });
                expect(e.message).toContain(field);
            }
            expect(net.worker.stats.requests).toBe(0); // the SDK refused them before sending
        });

        it("refuses fields that make a backend generate more than the answer's bound (beams, best_of, other length names): the provider would work unpaid", async () => {
            await setUp();
            const amplifiers = [
                [{ best_of: 5 }, 'best_of'],
                [{ n: 2, best_of: 3 }, 'best_of'],
                [{ use_beam_search: true }, 'use_beam_search'],
                [{ num_beams: 4 }, 'use_beam_search'],
                [{ n_predict: 100_000 }, 'n_predict'],
                [{ max_new_tokens: 100_000 }, 'max_new_tokens'],
                [{ max_length: 100_000 }, 'max_length'],
                [{ num_return_sequences: 8 }, 'num_return_sequences'],
                [{ n_cmpl: 4 }, 'n_cmpl'],
                // other types, which backends such as vLLM coerce
                [{ best_of: '5' }, 'best_of'],
                [{ use_beam_search: 'true' }, 'use_beam_search'],
                [{ use_beam_search: 1 }, 'use_beam_search'],
                [{ num_beams: '4' }, 'use_beam_search'],
            ] as const;
            const url = `${net.workerUrl}/v1/sessions/${session.address.toString()}/chat`;
            const key = net.worker.keys.encryption.publicKey;
            for (const [i, [extra, field]] of amplifiers.entries()) {
                const e = await session.chat({ ...ask('x'), ...extra } as never).catch((x) => x);
                expect(e).toMatchObject({ code: 'bad-request' });
                expect(e.message).toContain(field);
                // and the worker itself, for a client that does not check
                const plaintext = Buffer.from(JSON.stringify({ model: DEMO_MODEL, ...ask('secret words'), ...extra }));
                const { envelope } = await sealRequest(key, session.address, session.sessionKey, plaintext, requestId(100 + i));
                const refusal = await post(url, envelope);
                expect(refusal).toMatchObject({ status: 400, json: { error: 'bad-request' } });
                expect(refusal.json.message).toContain(`${field}: ${field === 'use_beam_search' ? 'beam search' : field}`);
                expect(refusal.json.message).not.toContain('secret');
            }
            // what stays within the bound passes: best_of equal to n, one beam
            const fine = await session.chat({ ...ask('fine'), n: 2, best_of: 2, num_beams: 1 } as never);
            expect(fine.completion.choices[0].message.content).toContain('fine');
            expect(net.worker.stats.requests).toBe(1);
        });
    });

    describe('text completions (the legacy API)', () => {
        it('serves a prompt whole and streamed, metered and receipted as chat is', async () => {
            await setUp();
            const whole = await session.complete({ prompt: 'finish this sentence', max_tokens: 40 });
            expect(whole.completion.object).toBe('text_completion');
            expect(whole.completion.choices[0].text).toBe(`${ECHO_PREFIX} finish this sentence`);
            expect(whole.receipt.promptTokens).toBe(BigInt(whole.completion.usage.prompt_tokens));
            expect(whole.receipt.amountDue).toBe(amountDue(whole.receipt, session.prices));
            const stream = session.completeStream({ prompt: 'and this one', max_tokens: 40 });
            let text = '';
            for await (const c of stream) text += c.choices[0]?.text ?? '';
            const { receipt } = await stream.result;
            expect(text).toBe(`${ECHO_PREFIX} and this one`);
            expect(receipt.seqno).toBe(whole.receipt.seqno + 1);
        });

        it('sends the length as max_tokens whichever field the client used, and refuses lengths that are not positive integers', async () => {
            await setUp();
            const words = 'one two three four five six seven eight nine ten eleven twelve';
            // (the built-in backend reads only max_tokens on /v1/completions, as vLLM and llama.cpp do)
            const short = await session.complete({ prompt: words, max_completion_tokens: 3 } as never);
            expect(short.completion.choices[0].finish_reason).toBe('length');
            expect(short.receipt.completionTokens).toBeLessThanOrEqual(3n);
            expect(short.completion.usage.completion_tokens).toBeLessThanOrEqual(3);
            const url = `${net.workerUrl}/v1/sessions/${session.address.toString()}/chat`;
            const key = net.worker.keys.encryption.publicKey;
            for (const [i, bad] of [
                { max_tokens: -5 },
                { max_completion_tokens: -1_000_000 },
                { max_completion_tokens: '1e9' },
                { max_tokens: 2.5 },
            ].entries()) {
                await expect(session.complete({ prompt: 'x', ...bad } as never)).rejects.toMatchObject({ code: 'bad-request' });
                const plaintext = Buffer.from(JSON.stringify({ model: DEMO_MODEL, prompt: 'x', ...bad }));
                const refusal = await post(
                    url,
                    (await sealRequest(key, session.address, session.sessionKey, plaintext, requestId(200 + i))).envelope,
                );
                expect(refusal).toMatchObject({ status: 400, json: { error: 'bad-request' } });
                expect(refusal.json.message).not.toContain('1e9');
            }
            // one kind of request never passes for the other
            await expect(session.complete({ prompt: 'x', messages: [{ role: 'user', content: 'y' }] } as never)).rejects.toMatchObject({
                code: 'bad-request',
            });
            await expect(session.chat({ prompt: 'x' } as never)).rejects.toMatchObject({ code: 'bad-request' });
            expect(net.worker.o.meter.latest(session.address)!.seqno).toBe(short.receipt.seqno);
        });

        it("passes a backend's refusal of /v1/completions uncharged, and refuses an answer of the other kind", async () => {
            await setUp();
            const backend = net.worker.o.backend;
            const seqno = session.latest.seqno;
            (net.worker.o as { backend: typeof backend }).backend = {
                ...backend,
                complete: async (r) => {
                    if ('prompt' in r) throw new BackendRejected(404, { error: { message: 'Not Found: /v1/completions' } });
                    return backend.complete(r);
                },
            };
            const refused = await session.complete({ prompt: 'anyone there?' }).catch((e) => e);
            expect(refused).toMatchObject({ code: 'rejected-by-model' });
            expect(refused.message).toContain('Not Found');
            expect(net.worker.o.meter.latest(session.address)?.seqno ?? 0).toBe(seqno);
            // a worker that answers a text completion request with a chat completion
            (net.worker.o as { backend: typeof backend }).backend = {
                ...backend,
                complete: (r) => backend.complete('prompt' in r ? { model: r.model, messages: [{ role: 'user', content: 'other' }] } : r),
            };
            const mixed = await session.complete({ prompt: 'a prompt' }).catch((e) => e);
            expect(mixed).toMatchObject({ code: 'bad-answer' });
            expect(mixed.message).toContain('chat.completion to another kind of request');
        });
    });

    it('refuses a stream answering a whole request, and lets go of it at once (it is never read)', async () => {
        await setUp();
        const worker = net.worker as unknown as { handleChat: (...a: unknown[]) => Promise<unknown> };
        const stopped: boolean[] = [];
        worker.handleChat = async () => ({
            kind: 'stream',
            frames: (async function* () {
                const attempt = stopped.push(false) - 1;
                try {
                    for (;;) {
                        yield { last: false, ciphertext: Buffer.alloc(4096).toString('base64') };
                        await new Promise((r) => setTimeout(r, 10));
                    }
                } finally {
                    stopped[attempt] = true; // (the worker stops writing when the client hangs up)
                }
            })(),
        });
        const refused = await session.chat(ask('whole, please')).catch((e) => e);
        expect(refused).toMatchObject({ code: 'bad-answer' });
        expect(refused.message).toContain('streamed an answer to a request that asked for a whole one');
        await new Promise((r) => setTimeout(r, 500)); // (the SDK's request timeout is 120 s: only the abort ends these streams this soon)
        expect(stopped.length).toBeGreaterThan(0);
        expect(stopped.every(Boolean)).toBe(true);
    });

    describe('streaming, encrypted', () => {
        const text = (chunks: ChatCompletionChunk[]) =>
            chunks.map((c) => (c.choices[0] as { delta?: { content?: string } }).delta?.content ?? '').join('');
        async function collect(stream: ReturnType<ClientSession['chatStream']>) {
            const chunks: ChatCompletionChunk[] = [];
            for await (const c of stream) chunks.push(c);
            return { chunks, ...(await stream.result) };
        }

        // The connection of the first streamed attempt breaks after `frames` frames.
        function cutFirstStream(frames: number) {
            const handle = net.worker.handleChat.bind(net.worker);
            const cut = { attempts: 0, restore: () => (net.worker.handleChat = handle) };
            net.worker.handleChat = async (address, envelope) => {
                const reply = await handle(address, envelope);
                if (reply.kind !== 'stream' || cut.attempts++ > 0) return reply;
                return {
                    kind: 'stream',
                    frames: (async function* () {
                        let n = 0;
                        for await (const frame of reply.frames) {
                            if (n++ === frames) throw new Error('connection reset');
                            yield frame;
                        }
                    })(),
                };
            };
            return cut;
        }

        it('streams the answer chunk by chunk, then the usage and a receipt the SDK checked; charged as the whole answer is', async () => {
            await setUp();
            const whole = await session.chat(ask('stream me these words please'));
            const streamed = await collect(session.chatStream(ask('stream me these words please')));
            expect(streamed.chunks.length).toBeGreaterThan(5); // one per word
            expect(streamed.chunks.every((c) => c.object === 'chat.completion.chunk' && !c.usage)).toBe(true);
            expect(text(streamed.chunks)).toBe(whole.completion.choices[0].message.content);
            expect(streamed.usage).toMatchObject({
                prompt_tokens: whole.completion.usage.prompt_tokens,
                completion_tokens: whole.completion.usage.completion_tokens,
            });
            expect(streamed.receipt.seqno).toBe(whole.receipt.seqno + 1);
            expect(streamed.receipt.completionTokens - whole.receipt.completionTokens).toBe(
                BigInt(whole.completion.usage.completion_tokens),
            );
            expect(net.worker.stats.requests).toBe(2);
        });

        it('a stream cut off mid-way is asked for again under the same id and goes on where it stopped, charged once', async () => {
            await setUp();
            net.setBackendDelay(0, { perChunkMs: 50 });
            // the connection drops after the fifth frame of the first attempt (the worker goes on
            // reading its backend and stores the whole answer)
            const cut = cutFirstStream(5);
            const before = session.latest.seqno;
            const r = await collect(session.chatStream(ask('one two three four five six seven eight nine ten')));
            expect(cut.attempts).toBe(2);
            expect(text(r.chunks)).toBe(`${ECHO_PREFIX} one two three four five six seven eight nine ten`); // nothing twice, nothing missing
            expect(r.receipt.seqno).toBe(before + 1); // served once
            expect(net.worker.o.meter.latest(session.address)!.seqno).toBe(before + 1);
        });

        it('a stream cut off while its backend also broke is not served anew on the retry (a second answer would be charged and could not be joined)', async () => {
            await setUp();
            net.setBackendDelay(0, { perChunkMs: 30 });
            const backend = net.worker.o.backend;
            let generations = 0;
            (net.worker.o as { backend: typeof backend }).backend = {
                ...backend,
                stream: async (r) => {
                    const chunks = await backend.stream(r);
                    const generation = ++generations;
                    return (async function* () {
                        let n = 0;
                        for await (const c of chunks) {
                            if (generation === 1 && n === 6) throw new Error('the GPU fell over');
                            n++;
                            yield c;
                        }
                    })();
                },
            };
            const cut = cutFirstStream(4); // the client's connection drops too
            const seqno = session.latest.seqno;
            const tokens = net.worker.stats.tokens;
            const delivered: ChatCompletionChunk[] = [];
            const stream = session.chatStream(ask('one two three four five six seven eight nine ten'));
            const broken = await (async () => {
                for await (const c of stream) delivered.push(c);
            })().catch((e) => e);
            expect(broken).toMatchObject({ code: 'answer-broken' });
            expect(broken.message).toContain('kept none of it: not charged');
            expect(generations).toBe(1); // the retry asked only to go on: nothing generated (or charged) anew
            expect(delivered.length).toBeGreaterThan(0);
            expect(net.worker.stats.tokens).toEqual(tokens);
            expect(net.worker.o.meter.latest(session.address)?.seqno ?? 0).toBe(seqno);
            cut.restore();
            // the session goes on, its receipts still checked from where they were
            const next = await session.chat(ask('and on'));
            expect(next.receipt.seqno).toBe(seqno + 1);
        });

        it('refuses an envelope sent again after it was refused: only a request sealed anew is a retry (a replay would be charged)', async () => {
            await setUp();
            const url = `${net.workerUrl}/v1/sessions/${session.address.toString()}/chat`;
            const key = net.worker.keys.encryption.publicKey;
            const backend = net.worker.o.backend;
            let calls = 0;
            (net.worker.o as { backend: typeof backend }).backend = {
                ...backend,
                complete: async (r) => {
                    if (++calls === 1) throw new BackendUnavailable('the GPU is busy');
                    return backend.complete(r);
                },
            };
            const seqno = net.worker.o.meter.latest(session.address)?.seqno ?? 0;
            const plaintext = Buffer.from(JSON.stringify({ model: DEMO_MODEL, ...ask('replay me') }));
            const first = await sealRequest(key, session.address, session.sessionKey, plaintext, requestId(300));
            expect(await post(url, first.envelope)).toMatchObject({ status: 502, json: { error: 'backend-unavailable' } });
            expect(await post(url, first.envelope)).toMatchObject({ status: 409, json: { error: 'replayed' } });
            expect(calls).toBe(1);
            // the client's own retry, sealed anew under the same id, is served once; sent again, it gets the answer kept
            const retry = await sealRequest(key, session.address, session.sessionKey, plaintext, requestId(300));
            expect((await post(url, retry.envelope)).status).toBe(200);
            expect((await post(url, retry.envelope)).status).toBe(200);
            expect(calls).toBe(2);
            expect(net.worker.o.meter.latest(session.address)!.seqno).toBe(seqno + 1);
        });

        it('the resume flag is authenticated: stripped from a resumed request, or added to a fresh one, it does not decrypt', async () => {
            await setUp();
            const url = `${net.workerUrl}/v1/sessions/${session.address.toString()}/chat`;
            const key = net.worker.keys.encryption.publicKey;
            const plaintext = Buffer.from(JSON.stringify({ model: DEMO_MODEL, ...ask('hi'), stream: true }));
            const resumed = await sealRequest(key, session.address, session.sessionKey, plaintext, requestId(1), { resume: true });
            expect(await post(url, resumed.envelope)).toMatchObject({ status: 410, json: { error: 'nothing-to-resume' } });
            const { resume: _, ...stripped } = resumed.envelope;
            expect(await post(url, stripped)).toMatchObject({ status: 400, json: { error: 'undecryptable' } });
            const fresh = await sealRequest(key, session.address, session.sessionKey, plaintext, requestId(2));
            expect(await post(url, { ...fresh.envelope, resume: true })).toMatchObject({ status: 400, json: { error: 'undecryptable' } });
            expect(net.worker.stats.tokens).toEqual(NO_USAGE);
        });

        it('a retry of a stream still being produced gets its frames as they come, not once the whole answer is done', async () => {
            await setUp();
            net.setBackendDelay(0, { perChunkMs: 150 });
            const backend = net.worker.o.backend;
            let backendDoneAt = 0;
            (net.worker.o as { backend: typeof backend }).backend = {
                ...backend,
                stream: async (r) => {
                    const chunks = await backend.stream(r);
                    return (async function* () {
                        for await (const c of chunks) yield c;
                        backendDoneAt = Date.now();
                    })();
                },
            };
            const cut = cutFirstStream(3);
            const deliveredAt: number[] = [];
            const stream = session.chatStream(ask('one two three four five six seven eight nine ten'));
            for await (const _ of stream) deliveredAt.push(Date.now());
            await stream.result;
            expect(cut.attempts).toBe(2);
            expect(deliveredAt.length).toBeGreaterThan(8);
            expect(deliveredAt[4]).toBeLessThan(backendDoneAt); // (a long answer would otherwise outlast the SDK's silence limit)
        });

        it('a retried stream id gets the same stream, not charged again', async () => {
            await setUp();
            const first = await collect(session.chatStream(ask('same stream'), { requestId: requestId(77) }));
            const again = await collect(session.chatStream(ask('same stream'), { requestId: requestId(77) }));
            expect(again.chunks).toEqual(first.chunks);
            expect(again.receipt.seqno).toBe(first.receipt.seqno);
            expect(again.receipt.amountDue).toBe(first.receipt.amountDue);
            expect(net.worker.o.meter.latest(session.address)!.seqno).toBe(first.receipt.seqno);
        });

        it("passes the model's refusal before the stream starts; a stream that breaks off is not charged", async () => {
            await setUp({ budget: toNano('10') }); // the worker holds back the prompt's worst case (a token per byte)
            const long = 'x '.repeat(ECHO_CONTEXT_TOKENS);
            const refused = await collect(session.chatStream({ messages: [{ role: 'user', content: long }], max_tokens: 8 })).catch(
                (e) => e,
            );
            expect(refused).toMatchObject({ code: 'rejected-by-model' });
            const seqno = net.worker.o.meter.latest(session.address)?.seqno ?? 0;
            // the backend breaks off after its first chunks
            slowDown((done) => done());
            const backend = net.worker.o.backend;
            (net.worker.o as { backend: typeof backend }).backend = {
                ...backend,
                stream: async (r) => {
                    const chunks = await backend.stream(r);
                    return (async function* () {
                        let n = 0;
                        for await (const c of chunks) {
                            if (n++ === 3) throw new Error('the GPU fell over');
                            yield c;
                        }
                    })();
                },
            };
            const broken = await collect(session.chatStream(ask('this answer will break off'))).catch((e) => e);
            expect(broken).toMatchObject({ code: 'answer-broken' });
            expect(broken.message).toContain('not charged');
            expect(net.worker.o.meter.latest(session.address)?.seqno ?? 0).toBe(seqno);
            expect(session.latest.seqno).toBe(seqno);
        });
    });

    describe('the SDK protects the client', () => {
        it('refuses to send anything to a worker whose attestation expired', async () => {
            await setUp();
            await session.chat(ask('while attested'));
            const served = net.worker.stats.requests + net.worker.stats.refused;
            net.blockchain.now = (await session.checkAttestation(), net.worker.identity().attestedUntil!) - 30; // inside the 60 s margin
            await expect(session.chat(ask('too late'))).rejects.toMatchObject({ code: 'attestation-expired' });
            net.blockchain.now = net.worker.identity().attestedUntil! + 1;
            await expect(session.chat(ask('too late'))).rejects.toMatchObject({ code: 'attestation-expired' });
            expect(net.worker.stats.requests + net.worker.stats.refused).toBe(served); // nothing reached the worker
        });

        it('catches a receipt priced above the session terms and stops the session', async () => {
            await setUp();
            await session.chat(ask('fair'));
            const meter = net.worker.o.meter;
            const honest = meter.record.bind(meter);
            meter.record = (s, o) =>
                honest(s, {
                    ...o,
                    prices: { ...o.prices, prompt: o.prices.prompt * 2n, completion: o.prices.completion * 2n },
                });
            const e = await session.chat(ask('overpriced')).catch((x) => x);
            expect(e).toBeInstanceOf(ReceiptRejected);
            expect(e.problem).toBe('amount-mismatch');
            expect(session.latest.seqno).toBe(1); // the bad receipt was not kept
            await expect(session.chat(ask('again'))).rejects.toMatchObject({ code: 'stopped' });
        });

        it('catches a worker that counts more tokens than it reported', async () => {
            await setUp();
            const meter = net.worker.o.meter;
            const honest = meter.record.bind(meter);
            // it signs 100 output tokens more than the answer reports
            meter.record = (s, o) =>
                honest(s, {
                    ...o,
                    usage: { ...o.usage, completionTokens: o.usage.completionTokens + 100n },
                    request: o.request && {
                        ...o.request,
                        answer: (r, u) => o.request!.answer(r, { ...u, completionTokens: u.completionTokens - 100n }),
                    },
                });
            await expect(session.chat(ask('count me'))).rejects.toMatchObject({ problem: 'overcharge' });
        });
    });

    describe('restarts and refreshes', () => {
        it('a restarted worker keeps the latest receipt and claims it; the old session is refused, then the client sees the new key', async () => {
            await setUp();
            await session.chat(ask('one'));
            const { receipt } = await session.chat(ask('two'));
            await net.stopWorker(); // the enclave keys are gone with the process
            const restarted = await net.startWorker();
            const claims = await restarted.claimDue(true);
            expect(claims.map((c) => [c.session.toRawString(), c.seqno, c.amountDue])).toEqual([
                [session.address.toRawString(), 2, receipt.amountDue],
            ]);
            const onChain = (await readSession(net.chain, session.address))!;
            expect(onChain).toMatchObject({ seqno: 2, claimed: receipt.amountDue, status: Number(SESSION_OPEN) });
            // not attested under its new keys yet: the client still trusts the old key, the worker
            // says why it cannot serve the session any more
            await expect(session.chat(ask('three'))).rejects.toMatchObject({ code: 'worker-refused', detail: 'previous-enclave-key' });
            net.blockchain.now! += 1; // a proof must be newer than the one held
            await restarted.attest();
            await expect(session.chat(ask('three'))).rejects.toMatchObject({ code: 'attestation-mismatch' });
        });

        // A worker that seals its keys (with the verifiers' shares), attested, and a session with it.
        async function withSealedKeys() {
            await setUp();
            await net.stopWorker();
            await net.startWorker({ sealedKeys: true });
            net.blockchain.now! += 1;
            await net.worker.attest();
            session = await openTracked();
        }

        it('with sealed keys, a restarted worker goes on serving its sessions: no new attestation, no message on-chain, answers kept', async () => {
            await withSealedKeys();
            const before = await session.chat(ask('before the restart'));
            const url = `${net.workerUrl}/v1/sessions/${session.address.toString()}/chat`;
            const body = Buffer.from(JSON.stringify({ ...ask('asked again after the restart'), model: DEMO_MODEL }));
            await session.chat(ask('asked again after the restart'), { requestId: requestId(7) });
            const keys = net.worker.keys;
            const sent = net.ledger.transactions.length;

            await net.stopWorker();
            const restarted = await net.startWorker({ sealedKeys: true });
            expect(restarted.keys.signing.publicKey).toEqual(keys.signing.publicKey);
            expect(await restarted.attestationDue()).toBe(false); // the Provider's attestation still names these keys
            expect(restarted.evidence().signingKey).toEqual(keys.signing.publicKey); // and its evidence is served again
            // the answer is still there, sealed anew for a retry of its request id; the session goes on
            const retry = await sealRequest(keys.encryption.publicKey, session.address, session.sessionKey, body, requestId(7));
            const again = JSON.parse(retry.openResponse((await post(url, retry.envelope)).json as never).toString('utf8'));
            expect(again.receipt).toBe(restarted.o.meter.latest(session.address)!.encoded.receipt);
            const after = await session.chat(ask('after the restart'));
            expect(after.receipt.seqno).toBe(before.receipt.seqno + 2);
            expect(net.ledger.transactions.length).toBe(sent); // nothing on-chain
        });

        it("serves no envelope of an earlier run after a restart with sealed keys, even with its request's row removed from the log", async () => {
            await withSealedKeys();
            const url = `${net.workerUrl}/v1/sessions/${session.address.toString()}/chat`;
            const body = Buffer.from(JSON.stringify({ ...ask('captured on the way'), model: DEMO_MODEL }));
            const keys = net.worker.keys;
            // a request without the run it is for is refused unopened, naming the run (the SDK's first request learns it so)
            const unbound = await sealForRun(keys.encryption.publicKey, session.address, session.sessionKey, body, requestId(20));
            expect(await post(url, unbound.envelope)).toMatchObject({ status: 409, json: { error: 'stale-boot', boot: net.worker.boot } });
            const captured = await sealRequest(keys.encryption.publicKey, session.address, session.sessionKey, body, requestId(21));
            expect((await post(url, captured.envelope)).status).toBe(200);
            const charged = net.worker.o.meter.latest(session.address)!;

            // the host restarts the worker and removes the request from the log on its disk
            await net.stopWorker();
            const restarted = await net.startWorker({ sealedKeys: true });
            (restarted.o.meter as unknown as { db: { prepare(sql: string): { run(...a: unknown[]): unknown } } }).db
                .prepare('DELETE FROM requests WHERE request_id = ?')
                .run(requestId(21));
            const replayed = await post(url, captured.envelope);
            expect(replayed).toMatchObject({ status: 409, json: { error: 'stale-boot', boot: restarted.boot } });
            // (the bound run is authenticated: relabelling the envelope for this run does not open it)
            expect(await post(url, { ...captured.envelope, boot: restarted.boot })).toMatchObject({
                status: 400,
                json: { error: 'undecryptable' },
            });
            expect(restarted.o.meter.latest(session.address)!.seqno).toBe(charged.seqno); // nothing charged again
            // a request sealed for this run is served, the next receipt in order
            const fresh = await sealRequest(keys.encryption.publicKey, session.address, session.sessionKey, body, requestId(22));
            expect((await post(url, fresh.envelope)).status).toBe(200);
            expect(restarted.o.meter.latest(session.address)!.seqno).toBe(charged.seqno + 1);
        });

        it("re-attests when Root's verifier set changes, so that clients keep trusting it", async () => {
            await setUp({ durationSeconds: 8 * 3600 });
            expect(await net.worker.attestationDue()).toBe(false);
            const governance = net.ledger.sender(net.governance);
            const add = storeAddVerifier({ $$type: 'AddVerifier', queryId: 0n, publicKey: 77n });
            await governance.send({ to: net.root.address, value: toNano('0.05'), body: beginCell().store(add).endCell() });
            const [[id, pending]] = [...(await net.root.getPendingChanges())];
            // the change waits out the governance delay; the worker attested again meanwhile
            net.blockchain.now = Number(pending.executeAt) - 3600;
            await net.worker.attest();
            net.blockchain.now = Number(pending.executeAt);
            const execute = storeExecuteChange({ $$type: 'ExecuteChange', queryId: 0n, id: BigInt(id) });
            await governance.send({ to: net.root.address, value: toNano('0.05'), body: beginCell().store(execute).endCell() });
            expect((await net.root.getVerifierSet()).count).toBe(3n);
            // still valid for an hour, but signed under the earlier set: due, and a client that reads
            // Root afresh (attestationCheckMs 0) refuses it until the worker's next pass
            const fresh = new CocoonClient({
                ...LOCAL_CLIENT_POLICY,
                chain: net.chain,
                wallet: governance,
                root: net.root.address,
                attestationCheckMs: 0,
            });
            expect(await net.worker.attestationDue()).toBe(true);
            await expect(fresh.findProviders([net.provider], { model: DEMO_MODEL })).resolves.toEqual([]);
            await net.worker.tick();
            expect(await net.worker.attestationDue()).toBe(false);
            await expect(fresh.findProviders([net.provider], { model: DEMO_MODEL })).resolves.toHaveLength(1);
        });

        it('refreshes its attestation before it expires, on its own background pass', async () => {
            await setUp({ durationSeconds: 8 * 3600 });
            const health = async () => {
                const r = await fetch(`${net.workerUrl}/health`);
                return { status: r.status, body: (await r.json()) as { status: string } };
            };
            expect(await health()).toMatchObject({ status: 200, body: { status: 'ok' } });
            const first = net.worker.identity().attestedUntil!;
            expect(await net.worker.attestationDue()).toBe(false);
            net.blockchain.now = first - 1800; // within the 1-hour refresh margin
            expect(await net.worker.attestationDue()).toBe(true);
            await net.worker.tick();
            expect(net.worker.identity().attestedUntil!).toBeGreaterThan(first);
            await expect(session.chat(ask('still served'))).resolves.toBeDefined(); // same keys: the session goes on
            net.blockchain.now = net.worker.identity().attestedUntil! + 1; // lapsed: no refresh ran
            expect(await health()).toMatchObject({ status: 503, body: { status: 'not-attested' } });
        });

        it("claims on its own: a session's first receipt at once, later ones before the deadline", async () => {
            await setUp();
            const first = await session.chat(ask('served'));
            await net.worker.tick(); // a session with nothing claimed yet is always due
            expect((await readSession(net.chain, session.address))!.seqno).toBe(first.receipt.seqno);
            const { receipt } = await session.chat(ask('served again'));
            await net.worker.tick(); // nothing due now: a small amount, far from the deadline
            expect((await readSession(net.chain, session.address))!.seqno).toBe(first.receipt.seqno);
            net.blockchain.now = (await session.refresh()).deadline - 300; // inside the 600 s margin
            await net.worker.tick();
            expect((await readSession(net.chain, session.address))!.seqno).toBe(receipt.seqno);
        });

        // The worker's wallet as its CLI makes it, funded with `value`: a v4 wallet of a mnemonic (4
        // messages a transfer), whose transfers' transactions are recorded for the ledger (as the
        // ledger's own senders record theirs); and its transfers so far.
        async function batchingWallet(value: bigint) {
            const recording: ChainAccess = {
                ...net.chain,
                open: (c) =>
                    new Proxy(net.chain.open(c), {
                        get: (target, name) =>
                            name !== 'send'
                                ? Reflect.get(target, name)
                                : async (...args: unknown[]) => {
                                      const send = Reflect.get(target, name) as (...a: unknown[]) => Promise<{ transactions: [] }>;
                                      const sent = await send(...args);
                                      net.ledger.transactions.push(...sent.transactions);
                                      return sent;
                                  },
                    }),
            };
            const wallet = await mnemonicWallet(recording, await mnemonicNew(24), { pollMs: 1, landTimeoutMs: 2000 });
            await net.ledger.track('a v4 worker wallet', wallet.address);
            await net.ledger.sender(net.workerWallet).send({ to: wallet.address, value, bounce: false });
            (net.worker.o as { sender: unknown }).sender = wallet.sender;
            const transfers = async () =>
                (await net.chain.transactions(wallet.address, 0n)).filter((t) => t.inMessage?.info.type === 'external-in');
            return { wallet, transfers };
        }

        it('claims many sessions in one pass in a few wallet transfers, and a session it cannot read holds up none of the others', async () => {
            await setUp();
            const { transfers } = await batchingWallet(toNano('5'));
            // new sessions are acknowledged together: six zero receipts in two transfers
            const sessions = [session];
            for (let i = 0; i < 5; i++) sessions.push(await openTracked());
            expect(await net.worker.acknowledgeNewSessions()).toHaveLength(6);
            expect((await transfers()).map((t) => t.outMessagesCount)).toEqual([4, 2]);
            for (const s of sessions) expect((await readSession(net.chain, s.address))!.seqno).toBe(1);
            const served = [];
            for (const s of sessions) served.push(await s.chat(ask('served')));
            // one session cannot be read: the other five are claimed, in two transfers, then the pass fails naming the read
            const chain = net.worker.o.chain;
            const unreadable = sessions[2].address;
            (net.worker.o as { chain: ChainAccess }).chain = {
                ...chain,
                accountState: (a) => (a.equals(unreadable) ? Promise.reject(new Error('the endpoint is down')) : chain.accountState(a)),
            };
            await expect(net.worker.claimDue(true)).rejects.toThrow('the endpoint is down');
            expect((await transfers()).slice(2).map((t) => t.outMessagesCount)).toEqual([4, 1]);
            for (const [i, s] of sessions.entries()) {
                expect((await readSession(net.chain, s.address))!.seqno).toBe(i === 2 ? 1 : served[i].receipt.seqno);
            }
            // read again on the next pass, and claimed
            (net.worker.o as { chain: ChainAccess }).chain = chain;
            expect((await net.worker.claimDue(true)).map((c) => c.session.toString())).toEqual([unreadable.toString()]);
            expect((await readSession(net.chain, unreadable))!.seqno).toBe(served[2].receipt.seqno);
        });

        it('spends what an underfunded wallet has on the most urgent claims, says so in one line, and claims the rest once funded', async () => {
            await setUp(); // (its session lasts an hour)
            const { wallet, transfers } = await batchingWallet(toNano('1'));
            const sessions = [session];
            for (const durationSeconds of [2400, 600, 1200]) sessions.push(await openTracked({ durationSeconds }));
            await net.worker.acknowledgeNewSessions();
            const served = [];
            for (const s of sessions) served.push(await s.chat(ask('served')));
            // the wallet keeps about two claims' worth
            const left = (await net.blockchain.getContract(wallet.address)).balance;
            await wallet.sender.send({ to: net.workerWallet.address, value: left - toNano('0.04'), bounce: false });
            const errors = jest.spyOn(net.worker.o.log, 'error');
            const claimed = (await net.worker.claimDue(true)).map((c) => c.session.toString());
            // one transfer, landed, carrying the claims the wallet could pay for: the earliest windows first
            const urgency = [2, 3, 1, 0].map((i) => sessions[i].address.toString());
            expect(claimed.length).toBeGreaterThan(0);
            expect(claimed.length).toBeLessThan(4);
            expect(claimed).toEqual(urgency.slice(0, claimed.length));
            expect((await transfers()).at(-1)!.outMessagesCount).toBe(claimed.length);
            const unseen = () => errors.mock.calls.filter((c) => String(c[1]).startsWith('messages sent but not seen on-chain'));
            expect(unseen().map((c) => c[0])).toEqual([expect.objectContaining({ count: 4 - claimed.length })]);
            // funded again: the next pass claims the others
            await net.ledger.sender(net.workerWallet).send({ to: wallet.address, value: toNano('1'), bounce: false });
            expect((await net.worker.claimDue(true)).map((c) => c.session.toString()).sort()).toEqual(urgency.slice(claimed.length).sort());
            for (const [i, s] of sessions.entries()) expect((await readSession(net.chain, s.address))!.seqno).toBe(served[i].receipt.seqno);
            // a single claim the wallet cannot pay for: its transfer lands all the same (it cannot be
            // replayed, and the pass does not wait for it to land), and it is reported
            const drained = (await net.blockchain.getContract(wallet.address)).balance;
            await wallet.sender.send({ to: net.workerWallet.address, value: drained - toNano('0.01'), bounce: false });
            const more = await session.chat(ask('served again'));
            const landed = (await transfers()).length;
            await expect(net.worker.claimDue(true)).resolves.toEqual([]);
            expect(await transfers()).toHaveLength(landed + 1);
            expect(unseen()).toHaveLength(2);
            expect(unseen()[1][0]).toMatchObject({
                count: 1,
                messages: [`claim receipt #${more.receipt.seqno} of ${session.address.toString()}`],
            });
        });

        it('reads last the sessions it could not read on the last pass: accounts that keep failing never starve the others', async () => {
            await setUp();
            const sessions = [session];
            for (let i = 0; i < 3; i++) sessions.push(await openTracked());
            await net.worker.acknowledgeNewSessions();
            const served = [];
            for (const s of sessions) served.push(await s.chat(ask('served')));
            // eight accounts first in the worker's list, whose reads always fail
            const broken = Array.from({ length: 8 }, (_, i) => new Address(0, Buffer.alloc(32, 200 + i)));
            const unsettled = net.worker.o.meter.unsettled.bind(net.worker.o.meter);
            jest.spyOn(net.worker.o.meter, 'unsettled').mockImplementation(() => [...broken, ...unsettled()]);
            const chain = net.worker.o.chain;
            (net.worker.o as { chain: ChainAccess }).chain = {
                ...chain,
                accountState: (a) =>
                    broken.some((b) => b.equals(a)) ? Promise.reject(new Error('no such account here')) : chain.accountState(a),
            };
            // the first pass may stop after them (the chain looks down); the next reads them last
            await expect(net.worker.claimDue(true)).rejects.toThrow('no such account here');
            await expect(net.worker.claimDue(true)).rejects.toThrow('no such account here');
            for (const [i, s] of sessions.entries()) expect((await readSession(net.chain, s.address))!.seqno).toBe(served[i].receipt.seqno);
        });

        it('stops reading sessions when the chain keeps failing, and a session whose records fail holds up none of the others', async () => {
            await setUp();
            // thirty sessions to read and a chain that is down: eight failed reads in a row, then no more
            const chain = net.worker.o.chain;
            let reads = 0;
            (net.worker.o as { chain: ChainAccess }).chain = {
                ...chain,
                accountState: () => {
                    reads += 1;
                    return Promise.reject(new Error('the endpoint is down'));
                },
            };
            const unsettled = jest.spyOn(net.worker.o.meter, 'unsettled');
            unsettled.mockReturnValueOnce(Array.from({ length: 30 }, (_, i) => new Address(0, Buffer.alloc(32, i + 1))));
            await expect(net.worker.claimDue()).rejects.toThrow('the endpoint is down');
            expect(reads).toBeGreaterThanOrEqual(8);
            expect(reads).toBeLessThan(16); // (the eight lanes each stop after their read under way)
            (net.worker.o as { chain: ChainAccess }).chain = chain;
            // a session whose receipts cannot be read from the worker's database: the other is claimed, then the pass fails
            const other = await openTracked();
            await net.worker.acknowledgeNewSessions();
            const [a, b] = [await session.chat(ask('one')), await other.chat(ask('two'))];
            const claimable = net.worker.o.meter.claimable.bind(net.worker.o.meter);
            jest.spyOn(net.worker.o.meter, 'claimable').mockImplementation((s, end) => {
                if (s.equals(session.address)) throw new Error('database disk image is malformed');
                return claimable(s, end);
            });
            await expect(net.worker.claimDue(true)).rejects.toThrow('database disk image is malformed');
            expect((await readSession(net.chain, other.address))!.seqno).toBe(b.receipt.seqno);
            expect((await readSession(net.chain, session.address))!.seqno).toBeLessThan(a.receipt.seqno);
        });
    });
});

describe('sessions a client never uses', () => {
    let net: LocalNetwork;
    afterEach(async () => net?.stop());

    it('the worker acknowledges every session it accepted, so a silent client cannot make it time out', async () => {
        net = await startLocalNetwork();
        await net.worker.attest();
        const client = new CocoonClient({
            ...LOCAL_CLIENT_POLICY,
            chain: net.chain,
            wallet: net.ledger.sender(net.client),
            root: net.root.address,
        });
        await net.ledger.track('session', (await sessionFor(net.root.address, net.gpuOwner.address, net.client.address, 7n)).address);
        const session = await client.openSession(net.provider, { model: DEMO_MODEL, budget: toNano('5'), durationSeconds: 60, nonce: 7n });
        const provider = net.blockchain.openContract(Provider.fromAddress(net.provider));
        const stake = await provider.getStake();
        expect((await net.worker.acknowledgeNewSessions()).map((a) => a.toString())).toEqual([session.address.toString()]);
        const acked = (await readSession(net.chain, session.address))!;
        expect([acked.seqno, acked.claimed]).toEqual([1, 0n]); // a zero receipt, claimed
        expect(await net.worker.acknowledgeNewSessions()).toEqual([]); // once
        await session.refresh();
        net.blockchain.now = session.finalizableAt().at;
        await expect(session.finalize()).resolves.toMatchObject({ timedOut: false, claimed: 0n });
        expect(await provider.getStake()).toBe(stake);
        expect((await provider.getStats()).timeoutCount).toBe(0n);
        expect(await net.ledger.imbalance()).toBe(0n);
    });

    it('acknowledges a session whose Provider accepted it before the Session took the acceptance (a scan in between waits for it), and waits no longer than an opening can last', async () => {
        net = await startLocalNetwork();
        await net.worker.attest();
        // Opens a session, scanning (`during`) right after the Provider's transaction: it accepted,
        // and SessionAccepted is still on its way to the Session.
        const openRacing = async (nonce: bigint, during: () => Promise<void>) => {
            const session = await sessionFor(net.root.address, net.gpuOwner.address, net.client.address, nonce);
            await net.ledger.track(`session ${nonce}`, session.address);
            const key = await generateEncryptionKeyPair();
            const body = beginCell()
                .store(
                    storeOpenSession({
                        $$type: 'OpenSession',
                        queryId: nonce,
                        modelKey: modelKey(DEMO_MODEL),
                        deadline: BigInt(net.chain.now() + 60),
                        clientKeyHash: clientKeyHashOf(key.publicKey),
                    }),
                )
                .endCell();
            const value = toNano('5') + SESSION_OPEN_OVERHEAD;
            let scanned = false;
            for await (const tx of await net.blockchain.sendMessageIter(
                internal({ from: net.client.address, to: session.address, value, body, stateInit: session.init! }),
            )) {
                net.ledger.transactions.push(tx);
                const to = tx.inMessage?.info.dest;
                if (!scanned && to instanceof Address && to.equals(net.provider)) {
                    expect((await readSession(net.chain, session.address))!.status).toBe(Number(SESSION_OPENING));
                    await during();
                    scanned = true;
                }
            }
            return { address: session.address, value };
        };
        const first = await openRacing(11n, async () => expect(await net.worker.acknowledgeNewSessions()).toEqual([]));
        expect((await net.worker.acknowledgeNewSessions()).map((a) => a.toString())).toEqual([first.address.toString()]);
        expect((await readSession(net.chain, first.address))!.seqno).toBe(1);
        expect(await net.worker.acknowledgeNewSessions()).toEqual([]); // once
        expect(await net.ledger.imbalance()).toBe(first.value); // (the opening message was made, not sent by a wallet)

        // One that still does not read as open (an endpoint that never shows it) once an opening
        // could have been cancelled is passed over, so that the scan goes on to later sessions.
        const chain = net.worker.o.chain;
        let hidden: Address | undefined;
        (net.worker.o as { chain: ChainAccess }).chain = {
            ...chain,
            accountState: async (a) => (hidden && a.equals(hidden) ? 'nonexist' : chain.accountState(a)),
        };
        const second = await openRacing(12n, async () => undefined);
        hidden = second.address;
        expect(await net.worker.acknowledgeNewSessions()).toEqual([]);
        net.blockchain.now = net.chain.now() + Number(OPENING_TIMEOUT) + 601;
        expect(await net.worker.acknowledgeNewSessions()).toEqual([]); // passed over (an error line)
        hidden = undefined;
        expect(await net.worker.acknowledgeNewSessions()).toEqual([]); // and not looked at again
    });
});

describe('built-in backend token counting', () => {
    it('counts words and punctuation', () => {
        expect(countTokens('Hello, world!')).toBe(4);
        expect(countTokens('')).toBe(0);
    });
});
