// The verifier service over real HTTP on loopback (a second verifier as co-signing peer), against Root on the
// sandbox chain: nonces, attestation with co-signature, every refusal, malformed input, the
// durable outbox and its submission on-chain, recovery after a crash.
import { join } from 'path';
import { FastifyInstance } from 'fastify';
import { Address, toNano } from '@ton/core';
import { KeyPair } from '@ton/crypto';
import { providerForOwner } from '../../wrappers';
import { AllowlistReader, Attestor, AttestationRequest, Peer, SIMULATED_MEASUREMENT } from '../../tee-verifier/src/attest';
import { expectedReportData } from '../../tee-verifier/src/measurement';
import { DEFAULT_TCB_POLICY } from '../../tee-verifier/src/quote';
import { buildServer } from '../../tee-verifier/src/server';
import { httpPeer, wireRequest as wire } from '../../tee-verifier/src/peer';
import { VerifierStore } from '../../tee-verifier/src/store';
import { Chain, submitDueProofs } from '../../tee-verifier/src/submitter';
import { Protocol, RegisteredProvider, deployProtocol, key256, makeEnclave, registerProvider } from '../helpers';
import { TDX_TIME, tdxCollateral, tdxQuote } from './fixtures';
import { tempDir } from '../tmp';

const tempDb = () => join(tempDir('verifier'), 'verifier.sqlite');

function sandboxAllowlist(p: Protocol): AllowlistReader {
    return { isAllowed: async (m) => p.root.getIsMeasurementAllowed(key256(m)) };
}

function sandboxChain(p: Protocol, reg: RegisteredProvider): Chain {
    return {
        attestedIssuedAt: async (provider) => {
            const opened = p.blockchain.openContract(await providerForOwner(p.root.address, reg.owner.address));
            if (!opened.address.equals(provider)) throw new Error('unknown provider');
            return Number((await opened.getAttestation())?.issuedAt ?? 0n);
        },
        submit: async (_provider, proof, signatures) => {
            await reg.provider.send(
                reg.owner.getSender(),
                { value: toNano('0.1') },
                { $$type: 'SubmitAttestation', queryId: 0n, proof, signatures },
            );
        },
    };
}

function makeAttestor(
    p: Protocol,
    key: KeyPair,
    store: VerifierStore,
    o: { devMode?: boolean; peers?: Peer[]; threshold?: number; now?: () => number } = {},
) {
    return new Attestor({
        store,
        key,
        root: p.root.address,
        globalId: p.globalId,
        allowlist: sandboxAllowlist(p),
        collateral: { collateralFor: async () => tdxCollateral },
        policy: DEFAULT_TCB_POLICY,
        validitySeconds: 6 * 3600,
        nonceTtlSeconds: 600,
        devMode: o.devMode ?? true,
        now: o.now ?? (() => p.blockchain.now!),
        peers: o.peers ?? [],
        threshold: o.threshold ?? 1,
    });
}

// A response, read once.
interface Reply {
    statusCode: number;
    body: string;
    json(): any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function request(base: string, method: string, url: string, payload?: unknown, raw = false): Promise<Reply> {
    const res = await fetch(base + url, {
        method,
        headers: payload === undefined ? {} : { 'content-type': 'application/json' },
        body: payload === undefined ? undefined : raw ? (payload as string) : JSON.stringify(payload),
    });
    const body = await res.text();
    return { statusCode: res.status, body, json: () => JSON.parse(body) };
}

// A server listening on a loopback port, and how to call it.
async function serve(app: FastifyInstance) {
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    return {
        post: (url: string, payload?: unknown, raw = false) => request(base, 'POST', url, payload, raw),
        get: (url: string) => request(base, 'GET', url),
    };
}

describe('tee-verifier service', () => {
    let p: Protocol;
    let reg: RegisteredProvider;
    let store: VerifierStore;
    let peerStore: VerifierStore;
    let app: FastifyInstance;
    let peerApp: FastifyInstance;
    let attestor: Attestor;
    let http: Awaited<ReturnType<typeof serve>>;
    const enclave = makeEnclave('worker');

    beforeEach(async () => {
        p = await deployProtocol();
        await p.root.send(
            p.governance.getSender(),
            { value: toNano('0.05') },
            { $$type: 'AllowMeasurement', queryId: 0n, measurement: key256(SIMULATED_MEASUREMENT) },
        );
        reg = await registerProvider(p);
        peerStore = new VerifierStore(tempDb());
        peerApp = await buildServer({
            attestor: makeAttestor(p, p.verifiers[1], peerStore),
            store: peerStore,
            devMode: true,
            rateLimitPerMinute: 1000,
        });
        const peerUrl = await peerApp.listen({ host: '127.0.0.1', port: 0 });
        store = new VerifierStore(tempDb());
        attestor = makeAttestor(p, p.verifiers[0], store, { peers: [httpPeer('verifier-b', peerUrl)], threshold: 2 });
        app = await buildServer({ attestor, store, devMode: true, rateLimitPerMinute: 1000 });
        http = await serve(app);
    });

    afterEach(async () => {
        await app.close();
        await peerApp.close();
        store.close();
        peerStore.close();
    });

    const post = (url: string, payload: unknown) => http.post(url, payload);

    async function nonceFor(provider: Address = reg.provider.address): Promise<bigint> {
        const r = await post('/v1/nonce', { provider: provider.toString() });
        expect(r.statusCode).toBe(200);
        return BigInt(r.json().nonce);
    }

    function simulatedRequest(nonce: bigint, over: Partial<{ reportData: Buffer }> = {}): AttestationRequest {
        const binding = { signingKey: enclave.signing.publicKey, encryptionKey: enclave.encryption, provider: reg.provider.address, nonce };
        return { ...binding, evidence: { kind: 'simulated', reportData: over.reportData ?? expectedReportData(binding) } };
    }

    it('nonce, attestation with a co-signature, queued, submitted on-chain', async () => {
        const nonce = await nonceFor();
        const r = await post('/v1/attest', wire(simulatedRequest(nonce)));
        expect(r.statusCode).toBe(200);
        const body = r.json();
        expect(body.signatures).toHaveLength(2);
        expect(store.proofsFor(reg.provider.address.toRawString())[0].status).toBe('pending');

        const done = await submitDueProofs({
            store,
            chain: sandboxChain(p, reg),
            now: () => p.blockchain.now!,
            maxAttempts: 5,
            baseDelaySeconds: 10,
        });
        expect(done).toEqual({ submitted: 1, retried: 0, failed: 0 });
        const a = await reg.provider.getAttestation();
        expect(a!.signingKey).toBe(key256(enclave.signing.publicKey));
        expect(a!.measurement).toBe(key256(SIMULATED_MEASUREMENT));
        expect(store.proofsFor(reg.provider.address.toRawString())[0].status).toBe('submitted');
        const listed = await http.get(`/v1/proofs/${reg.provider.address.toString()}`);
        expect(listed.json().proofs[0]).toMatchObject({ status: 'submitted', nonce: nonce.toString() });
        expect(store.auditLog()[0]).toMatchObject({ accepted: true, reason: 'accepted' });
    });

    it('refuses a nonce used twice, unknown, issued for another provider, or expired', async () => {
        const nonce = await nonceFor();
        expect((await post('/v1/attest', wire(simulatedRequest(nonce)))).statusCode).toBe(200);
        let r = await post('/v1/attest', wire(simulatedRequest(nonce)));
        expect([r.statusCode, r.json().error, r.json().message]).toEqual([409, 'bad-nonce', 'nonce was already used']);
        r = await post('/v1/attest', wire(simulatedRequest(12345n)));
        expect(r.json().message).toBe('nonce was not issued by this verifier');
        const other = await nonceFor(p.root.address);
        r = await post('/v1/attest', wire(simulatedRequest(other)));
        expect(r.json().message).toBe('nonce was issued for another provider');
        const late = await nonceFor();
        p.blockchain.now! += 601;
        r = await post('/v1/attest', wire(simulatedRequest(late)));
        expect(r.json().message).toMatch(/nonce expired/);
        expect(store.auditLog().filter((e) => !e.accepted)).toHaveLength(4);
    });

    it('refuses report_data that does not bind the keys, provider and nonce', async () => {
        const nonce = await nonceFor();
        const r = await post('/v1/attest', wire(simulatedRequest(nonce, { reportData: Buffer.alloc(64, 1) })));
        expect([r.statusCode, r.json().error]).toEqual([422, 'report-data-mismatch']);
        // the nonce was not spent: the worker may retry with correct evidence
        expect((await post('/v1/attest', wire(simulatedRequest(nonce)))).statusCode).toBe(200);
    });

    it("refuses a measurement not on Root's allowlist, naming it and the fix", async () => {
        await p.root.send(
            p.governance.getSender(),
            { value: toNano('0.05') },
            { $$type: 'WithdrawMeasurement', queryId: 0n, measurement: key256(SIMULATED_MEASUREMENT) },
        );
        const r = await post('/v1/attest', wire(simulatedRequest(await nonceFor())));
        expect([r.statusCode, r.json().error]).toEqual([422, 'measurement-not-allowed']);
        expect(r.json().message).toContain(SIMULATED_MEASUREMENT.toString('hex'));
        expect(r.json().message).toContain('AllowMeasurement');
    });

    it('refuses simulated evidence unless started in development mode', async () => {
        const prodStore = new VerifierStore(tempDb());
        const prod = await buildServer({
            attestor: makeAttestor(p, p.verifiers[0], prodStore, { devMode: false }),
            store: prodStore,
            devMode: false,
            rateLimitPerMinute: 100,
        });
        const prodHttp = await serve(prod);
        const n = await prodHttp.post('/v1/nonce', { provider: reg.provider.address.toString() });
        const r = await prodHttp.post('/v1/attest', wire(simulatedRequest(BigInt(n.json().nonce))));
        expect([r.statusCode, r.json().error]).toEqual([422, 'simulated-evidence-refused']);
        await prod.close();
        prodStore.close();
    });

    it('runs real TDX quotes through DCAP verification', async () => {
        const tdxStore = new VerifierStore(tempDb());
        const tdx = makeAttestor(p, p.verifiers[0], tdxStore, { devMode: false, now: () => TDX_TIME });
        const nonce = tdx.issueNonce(reg.provider.address);
        const req: AttestationRequest = {
            signingKey: enclave.signing.publicKey,
            encryptionKey: enclave.encryption,
            provider: reg.provider.address,
            nonce,
            evidence: { kind: 'tdx', quote: tdxQuote },
        };
        // the fixture is genuine and UpToDate, but its report_data binds someone else's keys
        await expect(tdx.attest(req)).rejects.toMatchObject({ code: 'report-data-mismatch' });
        const tampered = Buffer.from(tdxQuote);
        tampered[300] ^= 1;
        await expect(tdx.attest({ ...req, evidence: { kind: 'tdx', quote: tampered } })).rejects.toMatchObject({ code: 'invalid-quote' });
        expect(tdxStore.auditLog().map((e) => e.reason.split(':')[0])).toEqual(['invalid-quote', 'report-data-mismatch']);
        tdxStore.close();
    });

    it('answers malformed input with a 4xx JSON error and keeps serving', async () => {
        const cases: [unknown, number][] = [
            ['not json at all', 400],
            [{}, 400],
            [{ ...wire(simulatedRequest(1n)), signingKey: 'abc' }, 400],
            [{ ...wire(simulatedRequest(1n)), provider: 'nowhere' }, 400],
            [{ ...wire(simulatedRequest(1n)), nonce: '-1' }, 400],
            [{ ...wire(simulatedRequest(1n)), evidence: { kind: 'sev-snp' } }, 400],
            [{ ...wire(simulatedRequest(1n)), evidence: { kind: 'tdx', quote: 'zz' } }, 400],
        ];
        for (const [payload, status] of cases) {
            const r = typeof payload === 'string' ? await http.post('/v1/attest', payload, true) : await http.post('/v1/attest', payload);
            expect(r.statusCode).toBe(status);
            expect(r.json()).toHaveProperty('error');
            expect(r.json()).toHaveProperty('message');
        }
        const big = await http.post('/v1/attest', { junk: 'x'.repeat(70_000) });
        expect(big.statusCode).toBe(413);
        expect((await http.get('/nope')).json()).toEqual({ error: 'not-found', message: 'no route GET /nope' });
        expect((await http.get('/health')).json()).toMatchObject({
            status: 'ok',
            devMode: true,
            publicKey: p.verifiers[0].publicKey.toString('hex'),
        });
    });

    it('rate-limits a client', async () => {
        const limitedStore = new VerifierStore(tempDb());
        const limited = await buildServer({
            attestor: makeAttestor(p, p.verifiers[0], limitedStore),
            store: limitedStore,
            devMode: true,
            rateLimitPerMinute: 3,
        });
        const codes = [];
        const limitedHttp = await serve(limited);
        for (let i = 0; i < 5; i++) codes.push((await limitedHttp.get('/health')).statusCode);
        expect(codes).toEqual([200, 200, 200, 429, 429]);
        await limited.close();
        limitedStore.close();
    });

    it('a co-signer refuses a proof that does not state what the evidence shows', async () => {
        const nonce = await nonceFor();
        const req = simulatedRequest(nonce);
        const honest = await attestor.attest(req);
        const peerUrl = peerApp.server.address() as { port: number };
        const peer = httpPeer('b', `http://127.0.0.1:${peerUrl.port}`);
        await expect(peer.cosign(req, honest.proof)).resolves.toHaveProperty('signature');
        const liar = { ...req, encryptionKey: Buffer.alloc(32, 7) };
        await expect(peer.cosign(liar, honest.proof)).rejects.toThrow(/HTTP 422/);
    });

    it('without enough co-signers the request fails with 503 and the nonce stays unspent', async () => {
        await peerApp.close();
        const nonce = await nonceFor();
        const r = await post('/v1/attest', wire(simulatedRequest(nonce)));
        expect([r.statusCode, r.json().error]).toEqual([503, 'peers-unavailable']);
        expect(store.proofsFor(reg.provider.address.toRawString())).toHaveLength(0);
    });

    it('a proof accepted before a crash is submitted after restart', async () => {
        const path = tempDb();
        const before = new VerifierStore(path);
        const a = makeAttestor(p, p.verifiers[0], before);
        const nonce = a.issueNonce(reg.provider.address);
        await a.attest(simulatedRequest(nonce));
        before.close(); // the process dies here: answered, not submitted

        const after = new VerifierStore(path);
        expect(after.dueProofs(p.blockchain.now!)).toHaveLength(1);
        // a single signature meets threshold 1 only if the Root says so: use threshold 1 here
        await p.root.send(p.governance.getSender(), { value: toNano('0.05') }, { $$type: 'SetThreshold', queryId: 0n, threshold: 1n });
        const r = await submitDueProofs({
            store: after,
            chain: sandboxChain(p, reg),
            now: () => p.blockchain.now!,
            maxAttempts: 5,
            baseDelaySeconds: 10,
        });
        expect(r.submitted).toBe(1);
        expect((await reg.provider.getAttestation())!.signingKey).toBe(key256(enclave.signing.publicKey));
        // submitting again changes nothing: it is idempotent
        expect(
            await submitDueProofs({
                store: after,
                chain: sandboxChain(p, reg),
                now: () => p.blockchain.now!,
                maxAttempts: 5,
                baseDelaySeconds: 10,
            }),
        ).toEqual({ submitted: 0, retried: 0, failed: 0 });
        after.close();
    });

    it('retries with growing backoff while the chain fails, then gives up', async () => {
        const a = makeAttestor(p, p.verifiers[0], store);
        await a.attest(simulatedRequest(a.issueNonce(reg.provider.address)));
        let t = p.blockchain.now!;
        const down: Chain = { attestedIssuedAt: async () => 0, submit: async () => Promise.reject(new Error('endpoint unreachable')) };
        const delays: number[] = [];
        for (let i = 0; i < 4; i++) {
            const r = await submitDueProofs({ store, chain: down, now: () => t, maxAttempts: 4, baseDelaySeconds: 10 });
            const proof = store.proofsFor(reg.provider.address.toRawString())[0];
            delays.push(proof.nextAttemptAt - t);
            expect(proof.lastError).toBe('endpoint unreachable');
            t = proof.nextAttemptAt;
            if (i === 3) expect(r.failed).toBe(1);
        }
        expect(delays.slice(0, 3)).toEqual([10, 20, 40]);
        expect(store.proofsFor(reg.provider.address.toRawString())[0].status).toBe('failed');
    });

    it('exposes Prometheus metrics', async () => {
        await post('/v1/attest', wire(simulatedRequest(await nonceFor())));
        const text = (await http.get('/metrics')).body;
        expect(text).toContain('cocoon_verifier_attestations_total{result="accepted"} 1');
        expect(text).toContain('cocoon_verifier_outbox_proofs{status="pending"} 1');
    });
});
