// The verifier service over real HTTP on loopback (a second verifier as co-signing peer), against Root on the
// sandbox chain: nonces, attestation with co-signature, every refusal, malformed input, the
// durable outbox and its submission on-chain, recovery after a crash.
import { join } from 'path';
import { FastifyInstance } from 'fastify';
import { Address, toNano } from '@ton/core';
import { KeyPair } from '@ton/crypto';
import {
    GLOBAL_ID_TESTNET,
    TCB_SIMULATED,
    buildAttestationProof,
    parseAttestationProof,
    providerForOwner,
    verifyProofSignature,
} from '../../wrappers';
import { AllowlistReader, Attestor, GpuPolicy, Peer, simulatedMeasurement } from '../../tee-verifier/src/attest';
import { NO_GPU_EVIDENCE, expectedGpuNonce, expectedReportData } from '../../protocol/evidence';
import { gpuSetDigest, verifyGpuEvidence } from '../../tee-verifier/src/nvidia';
import { authHeaders, authenticate, signTicket } from '../../tee-verifier/src/peer-auth';
import { DEFAULT_TCB_POLICY } from '../../tee-verifier/src/quote';
import { buildVerifierServer } from '../../tee-verifier/src/server';
import { httpPeer } from '../../tee-verifier/src/peer';
import { CosignRequest, encodeAttestationRequest as wire, encodeCosignRequest } from '../../protocol/verifier-api';
import { AttestationRequest } from '../../protocol/evidence';
import { VerifierStore } from '../../tee-verifier/src/store';
import { Chain, submitDueProofs } from '../../tee-verifier/src/submitter';
import {
    MODEL_HASH,
    OTHER_MODEL_HASH,
    Protocol,
    RegisteredProvider,
    START_TIME,
    TEST_PARAMS,
    deployProtocol,
    key256,
    makeEnclave,
    registerProvider,
    seededKey,
    simulatedAttestation,
} from '../../testkit';

const SIMULATED_MEASUREMENT = simulatedMeasurement(NO_GPU_EVIDENCE, MODEL_HASH);
import { TDX_TIME, tdxCollateral, tdxQuote } from './fixtures';
import { GPU_TIME_SECONDS, gpuFixtureTrust } from './gpu-fixtures';
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
    o: { devMode?: boolean; peers?: Peer[]; threshold?: number; now?: () => number; allowlist?: AllowlistReader; gpu?: GpuPolicy } = {},
) {
    return new Attestor({
        store,
        key,
        root: p.root.address,
        globalId: p.globalId,
        allowlist: o.allowlist ?? sandboxAllowlist(p),
        verifierSet: { isVerifier: async (k) => p.root.getIsVerifier(key256(k)) },
        gpu: o.gpu,
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
    json(): any;
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
        p = await deployProtocol(TEST_PARAMS, START_TIME, GLOBAL_ID_TESTNET); // simulated evidence counts on testnet only
        await p.root.send(
            p.governance.getSender(),
            { value: toNano('0.05') },
            { $$type: 'AllowMeasurement', queryId: 0n, measurement: key256(SIMULATED_MEASUREMENT) },
        );
        reg = await registerProvider(p);
        peerStore = new VerifierStore(tempDb());
        peerApp = await buildVerifierServer({
            attestor: makeAttestor(p, p.verifiers[1], peerStore),
            store: peerStore,
            devMode: true,
            rateLimitPerMinute: 1000,
        });
        const peerUrl = await peerApp.listen({ host: '127.0.0.1', port: 0 });
        store = new VerifierStore(tempDb());
        attestor = makeAttestor(p, p.verifiers[0], store, { peers: [httpPeer('verifier-b', peerUrl)], threshold: 2 });
        app = await buildVerifierServer({ attestor, store, devMode: true, rateLimitPerMinute: 1000 });
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
        const binding = {
            signingKey: enclave.signing.publicKey,
            encryptionKey: enclave.encryption,
            provider: reg.provider.address,
            nonce,
            modelHash: MODEL_HASH,
        };
        return simulatedAttestation(binding, over.reportData);
    }

    it('attests an (image, model) pair: the same image serving another model is another measurement, not allowlisted', async () => {
        const nonce = await nonceFor();
        const binding = {
            signingKey: enclave.signing.publicKey,
            encryptionKey: enclave.encryption,
            provider: reg.provider.address,
            nonce,
            modelHash: OTHER_MODEL_HASH,
        };
        const r = await post('/v1/attest', wire(simulatedAttestation(binding)));
        expect([r.statusCode, r.json().error]).toEqual([422, 'measurement-not-allowed']);
        expect(r.json().message).toContain(simulatedMeasurement(NO_GPU_EVIDENCE, OTHER_MODEL_HASH).toString('hex'));
        // claiming another model than the one report_data binds is a report_data mismatch
        const lying = { ...binding, nonce: await nonceFor(), modelHash: MODEL_HASH };
        const claimed = await post(
            '/v1/attest',
            wire({ ...lying, evidence: { kind: 'simulated', reportData: expectedReportData({ ...lying, modelHash: OTHER_MODEL_HASH }) } }),
        );
        expect(claimed.json().error).toBe('report-data-mismatch');
        // the zero model hash names no model: refused before any check
        const zero = { ...binding, nonce: await nonceFor(), modelHash: Buffer.alloc(32) };
        const none = await post('/v1/attest', wire(simulatedAttestation(zero)));
        expect([none.statusCode, none.json().error]).toEqual([400, 'bad-request']);
    });

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
        expect(a!.modelHash).toBe(key256(MODEL_HASH)); // the model the worker serves, attested
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
        const a = makeAttestor(p, p.verifiers[0], store, { allowlist: { isAllowed: async () => false } });
        const r = await a.attest(simulatedRequest(a.issueNonce(reg.provider.address))).catch((e) => e);
        expect(r.code).toBe('measurement-not-allowed');
        expect(r.message).toContain(SIMULATED_MEASUREMENT.toString('hex'));
        expect(r.message).toContain('AllowMeasurement');
    });

    it('refuses simulated evidence unless started in development mode', async () => {
        const prodStore = new VerifierStore(tempDb());
        const prod = await buildVerifierServer({
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
            modelHash: MODEL_HASH,
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
        for (const size of [200_000, 5 * 1024 * 1024]) {
            const big = await http.post('/v1/attest', { junk: 'x'.repeat(size) });
            expect([big.statusCode, big.json().error]).toEqual([413, 'body-too-large']);
            expect(big.json().message).toMatch(/^the body is \d+ bytes; at most 131072 are accepted$/);
        }
        const text = await fetch(`http://127.0.0.1:${(app.server.address() as { port: number }).port}/v1/attest`, {
            method: 'POST',
            headers: { 'content-type': 'text/plain' },
            body: JSON.stringify(wire(simulatedRequest(1n))),
        });
        expect([text.status, ((await text.json()) as { error: string }).error]).toEqual([415, 'unsupported-media-type']);
        expect((await http.get('/nope')).json()).toEqual({ error: 'not-found', message: 'no route GET /nope' });
        expect((await http.get('/health')).json()).toMatchObject({
            status: 'ok',
            devMode: true,
            publicKey: p.verifiers[0].publicKey.toString('hex'),
        });
    });

    it('rate-limits a client', async () => {
        const limitedStore = new VerifierStore(tempDb());
        const limited = await buildVerifierServer({
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

    describe('co-signing', () => {
        const peerUrl = () => `http://127.0.0.1:${(peerApp.server.address() as { port: number }).port}`;
        // A co-signing request as verifier `asker` would send it for a nonce issued by `issuer`.
        function cosignRequest(nonce: bigint, issuer: KeyPair, o: { issuedAt?: number; ttl?: number; request?: AttestationRequest } = {}) {
            const request = o.request ?? simulatedRequest(nonce);
            const now = p.blockchain.now!;
            const proof = buildAttestationProof({
                globalId: p.globalId,
                root: p.root.address,
                provider: reg.provider.address,
                signingKey: enclave.signing.publicKey,
                encryptionKey: enclave.encryption,
                measurement: SIMULATED_MEASUREMENT,
                modelHash: MODEL_HASH,
                tcbStatus: Number(TCB_SIMULATED),
                issuedAt: now,
                validUntil: now + 3600,
                nonce,
            });
            const issuedAt = o.issuedAt ?? now;
            const ticket = signTicket(
                {
                    globalId: p.globalId,
                    root: p.root.address,
                    provider: reg.provider.address,
                    nonce,
                    issuedAt,
                    expiresAt: issuedAt + (o.ttl ?? 600),
                },
                issuer,
            );
            return { request, proof, ticket } as CosignRequest;
        }
        const ask = (c: CosignRequest, asker: KeyPair) =>
            httpPeer('b', peerUrl()).cosign(c, (body) => authenticate(body, asker, p.blockchain.now!));

        it('a current verifier with a fresh nonce ticket gets one signature per nonce, never two', async () => {
            const c = cosignRequest(77n, p.verifiers[0]);
            const s = await ask(c, p.verifiers[0]);
            expect(verifyProofSignature(c.proof, s)).toBe(true);
            expect(s.publicKey).toEqual(p.verifiers[1].publicKey);
            // the same request again, or the same nonce from a third verifier's ticket: spent
            await expect(ask(c, p.verifiers[0])).rejects.toThrow(/HTTP 409 bad-nonce: this verifier already co-signed for this nonce/);
        });

        it('refuses askers that are not current verifiers, and requests not signed by the asker', async () => {
            const outsider = seededKey('not-a-verifier');
            await expect(ask(cosignRequest(78n, outsider), outsider)).rejects.toThrow(
                /HTTP 403 peer-not-authorized: .* is not in Root's current verifier set/,
            );
            const c = cosignRequest(79n, p.verifiers[0]);
            const res = await fetch(`${peerUrl()}/v1/cosign`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify(encodeCosignRequest(c)),
            });
            expect([res.status, ((await res.json()) as { error: string }).error]).toEqual([403, 'peer-not-authorized']);
            // signed, then altered on the way: the signature covers the exact body
            const tampered = await fetch(`${peerUrl()}/v1/cosign`, {
                method: 'POST',
                headers: {
                    'content-type': 'application/json',
                    ...authHeaders(authenticate(Buffer.from('{}'), p.verifiers[0], p.blockchain.now!)),
                },
                body: JSON.stringify(encodeCosignRequest(c)),
            });
            expect(tampered.status).toBe(403);
        });

        it('refuses a nonce ticket that is forged, issued by another verifier, expired or too long', async () => {
            const forged = cosignRequest(80n, p.verifiers[0]);
            forged.ticket.signature = Buffer.alloc(64, 1);
            await expect(ask(forged, p.verifiers[0])).rejects.toThrow(/HTTP 409 bad-nonce: the nonce ticket's signature does not verify/);
            await expect(ask(cosignRequest(81n, p.verifiers[2]), p.verifiers[0])).rejects.toThrow(/issued by another verifier/);
            const expired = cosignRequest(82n, p.verifiers[0], { issuedAt: p.blockchain.now! - 700 });
            await expect(ask(expired, p.verifiers[0])).rejects.toThrow(/HTTP 409 bad-nonce: nonce expired/);
            const long = cosignRequest(83n, p.verifiers[0], { ttl: 86_400 });
            await expect(ask(long, p.verifiers[0])).rejects.toThrow(/HTTP 409 bad-nonce: the nonce ticket's window/);
        });

        it('refuses a proof that does not state what the evidence shows, and the nonce stays usable', async () => {
            const honest = cosignRequest(84n, p.verifiers[0]);
            const liar = { ...honest, request: { ...honest.request, encryptionKey: Buffer.alloc(32, 7) } };
            await expect(ask(liar, p.verifiers[0])).rejects.toThrow(/HTTP 422/);
            await expect(ask(honest, p.verifiers[0])).resolves.toHaveProperty('signature');
        });
    });

    it('ten parallel attestations on one nonce: one proof, nine 409s, and the losers ask no peer', async () => {
        let asked = 0;
        const b = httpPeer('verifier-b', `http://127.0.0.1:${(peerApp.server.address() as { port: number }).port}`);
        const counting: Peer = { name: 'counting', cosign: (c, auth) => ((asked += 1), b.cosign(c, auth)) };
        const a = makeAttestor(p, p.verifiers[0], store, { peers: [counting], threshold: 2 });
        const raceApp = await buildVerifierServer({ attestor: a, store, devMode: true, rateLimitPerMinute: 1000 });
        const race = await serve(raceApp);
        const nonce = BigInt((await race.post('/v1/nonce', { provider: reg.provider.address.toString() })).json().nonce);
        const replies = await Promise.all(Array.from({ length: 10 }, () => race.post('/v1/attest', wire(simulatedRequest(nonce)))));
        const codes = replies.map((r) => r.statusCode).sort();
        expect(codes).toEqual([200, ...Array(9).fill(409)]);
        for (const r of replies.filter((r) => r.statusCode === 409)) expect(r.json().error).toBe('bad-nonce');
        expect(asked).toBe(1);
        await raceApp.close();
    });

    it('GPU evidence is bound to the attestation nonce and its digest goes into the measurement', async () => {
        const gpuTrust = await gpuFixtureTrust();
        const binding0 = {
            signingKey: enclave.signing.publicKey,
            encryptionKey: enclave.encryption,
            provider: reg.provider.address,
            modelHash: MODEL_HASH,
        };
        const allowed = new Set<string>();
        const a = makeAttestor(p, p.verifiers[0], store, {
            now: () => GPU_TIME_SECONDS,
            allowlist: { isAllowed: async (m) => allowed.has(m.toString('hex')) },
            gpu: { required: true, trust: gpuTrust.trust },
        });
        const nonce = a.issueNonce(reg.provider.address);
        const binding = { ...binding0, nonce };
        const gpu = [gpuTrust.evidenceFor(expectedGpuNonce(binding))];
        const request: AttestationRequest = { ...binding, evidence: { kind: 'simulated', reportData: expectedReportData(binding), gpu } };
        const digest = gpuSetDigest([
            (await verifyGpuEvidence(gpu[0], expectedGpuNonce(binding), gpuTrust.trust, new Date(GPU_TIME_SECONDS * 1000))).digest,
        ]);
        const measurement = simulatedMeasurement(digest, MODEL_HASH);
        await expect(a.attest(request)).rejects.toMatchObject({
            code: 'measurement-not-allowed',
            message: expect.stringContaining(measurement.toString('hex')),
        });
        allowed.add(measurement.toString('hex'));
        const r = await a.attest(request);
        expect(parseAttestationProof(r.proof).measurement).toEqual(measurement);
        // the same GPU report presented for another nonce is refused; without GPU evidence the policy refuses
        const other = a.issueNonce(reg.provider.address);
        const bindingOther = { ...binding, nonce: other };
        await expect(
            a.attest({ ...bindingOther, evidence: { kind: 'simulated', reportData: expectedReportData(bindingOther), gpu } }),
        ).rejects.toMatchObject({
            code: 'gpu-nonce-mismatch',
        });
        await expect(a.attest(simulatedAttestation(bindingOther))).rejects.toMatchObject({
            code: 'gpu-evidence-required',
        });
    });

    it('one GPU listed twice is refused, not attested as a machine of two GPUs', async () => {
        const gpuTrust = await gpuFixtureTrust();
        const a = makeAttestor(p, p.verifiers[0], store, {
            now: () => GPU_TIME_SECONDS,
            allowlist: { isAllowed: async () => true },
            gpu: { required: true, trust: gpuTrust.trust },
        });
        const binding = {
            signingKey: enclave.signing.publicKey,
            encryptionKey: enclave.encryption,
            provider: reg.provider.address,
            nonce: a.issueNonce(reg.provider.address),
            modelHash: MODEL_HASH,
        };
        const one = gpuTrust.evidenceFor(expectedGpuNonce(binding));
        const twice = { ...binding, evidence: { kind: 'simulated' as const, reportData: expectedReportData(binding), gpu: [one, one] } };
        await expect(a.attest(twice)).rejects.toMatchObject({ code: 'gpu-repeated' });
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
        const b = httpPeer('verifier-b', `http://127.0.0.1:${(peerApp.server.address() as { port: number }).port}`);
        const a = makeAttestor(p, p.verifiers[0], before, { peers: [b], threshold: 2 });
        const nonce = a.issueNonce(reg.provider.address);
        await a.attest(simulatedRequest(nonce));
        before.close(); // the process dies here: answered, not submitted

        const after = new VerifierStore(path);
        expect(after.dueProofs(p.blockchain.now!)).toHaveLength(1);
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

    it('prunes nonces past their lifetime and the audit log beyond its bounds', async () => {
        for (let i = 0; i < 3; i++) attestor.issueNonce(reg.provider.address);
        const stale = store.rowCount('nonces');
        expect(stale).toBeGreaterThanOrEqual(3);
        p.blockchain.now! += 3600;
        attestor.issueNonce(reg.provider.address); // issuing prunes, at most once a minute
        expect(store.rowCount('nonces')).toBe(1);
        for (let i = 0; i < 5; i++) {
            store.audit({
                at: p.blockchain.now!,
                provider: 'x',
                nonce: String(i),
                accepted: false,
                reason: 'test',
                measurement: null,
                tcbStatus: null,
            });
        }
        store.prune(p.blockchain.now!, { nonceTtl: 600, auditDays: 30, auditRows: 2 });
        expect(store.rowCount('audit')).toBe(2);
        store.prune(p.blockchain.now! + 31 * 86_400, { nonceTtl: 600, auditDays: 30, auditRows: 2 });
        expect(store.rowCount('audit')).toBe(0);
    });

    it('exposes Prometheus metrics', async () => {
        await post('/v1/attest', wire(simulatedRequest(await nonceFor())));
        const text = (await http.get('/metrics')).body;
        expect(text).toContain('cocoon_verifier_attestations_total{result="accepted"} 1');
        expect(text).toContain('cocoon_verifier_outbox_proofs{status="pending"} 1');
    });
});
