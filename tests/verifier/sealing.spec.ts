// Sealing shares (tee-verifier/src/sealing.ts, POST /v1/sealing-share): a verifier with a sealing
// secret releases to a TD a share bound to the TD's code, provider, network and model, sealed to a
// key the evidence binds and signed with the verifier's key; anything else is refused.
import { FastifyInstance } from 'fastify';
import { Address } from '@ton/core';
import { KeyPair, signVerify } from '@ton/crypto';
import { randomBytes } from 'crypto';
import { join } from 'path';
import { Attestor, GpuPolicy, simulatedMeasurement } from '../../tee-verifier/src/attest';
import { Sealer } from '../../tee-verifier/src/sealing';
import { buildVerifierServer } from '../../tee-verifier/src/server';
import { DEFAULT_TCB_POLICY } from '../../tee-verifier/src/quote';
import { VerifierStore } from '../../tee-verifier/src/store';
import { NO_GPU_EVIDENCE, SEALING_SHARE_DOMAIN, SealingBinding, sealingReportData, sealingShareSigned } from '../../protocol/evidence';
import { SealingRequest, encodeSealingRequest, sealingShareSchema } from '../../protocol/verifier-api';
import { X25519KeyPair, generateX25519KeyPair, openAuth } from '../../protocol/hpke';
import { seededKey } from '../../testkit';
import { TDX_TIME, tdxCollateral, tdxQuote } from './fixtures';
import { tempDir } from '../tmp';

const PROVIDER = new Address(0, Buffer.alloc(32, 7));
const MODEL = Buffer.alloc(32, 0x3a);
const SECRET = randomBytes(32);

function verifier(
    key: KeyPair,
    o: { devMode?: boolean; secret?: Buffer | null; now?: () => number; allowlist?: (m: Buffer) => Promise<boolean>; gpu?: GpuPolicy } = {},
) {
    const store = new VerifierStore(join(tempDir('sealing'), 'verifier.sqlite'));
    const attestor = new Attestor({
        store,
        key,
        root: new Address(0, Buffer.alloc(32, 1)),
        globalId: -3,
        allowlist: { isAllowed: o.allowlist ?? (async (m) => m.equals(simulatedMeasurement(NO_GPU_EVIDENCE, MODEL))) },
        collateral: { collateralFor: async () => tdxCollateral },
        policy: DEFAULT_TCB_POLICY,
        validitySeconds: 3600,
        nonceTtlSeconds: 600,
        devMode: o.devMode ?? true,
        now: o.now ?? (() => Math.floor(Date.now() / 1000)),
        peers: [],
        threshold: 1,
        gpu: o.gpu,
    });
    const sealer = o.secret === null ? undefined : new Sealer({ ...attestor.o, secret: o.secret ?? SECRET });
    return { store, attestor, sealer };
}

// A sealing request from a simulated TD, with a fresh reply key.
function request(over: Partial<SealingBinding> = {}, reply: X25519KeyPair = generateX25519KeyPair()) {
    const binding: SealingBinding = { replyKey: reply.publicKey, provider: PROVIDER, globalId: -3, modelHash: MODEL, ...over };
    const req: SealingRequest = { ...binding, evidence: { kind: 'simulated', reportData: sealingReportData(binding) } };
    return { req, reply };
}

const open = (share: Awaited<ReturnType<Sealer['share']>>, req: SealingRequest, reply: X25519KeyPair) =>
    openAuth(reply, share.senderKey, share.enc, SEALING_SHARE_DOMAIN, sealingReportData(req), share.ciphertext).plaintext;

describe('sealing shares', () => {
    const key = seededKey('verifier-a');
    let app: FastifyInstance;
    let store: VerifierStore;
    let base: string;
    const post = async (body: unknown) => {
        const res = await fetch(`${base}/v1/sealing-share`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(body),
        });
        return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };

    beforeAll(async () => {
        const v = verifier(key);
        store = v.store;
        app = await buildVerifierServer({ attestor: v.attestor, sealer: v.sealer, store, devMode: true, rateLimitPerMinute: 10_000 });
        base = await app.listen({ host: '127.0.0.1', port: 0 });
    });
    afterAll(async () => {
        await app.close();
        store.close();
    });

    it('gives the same code the same share after any restart, sealed to the reply key and signed by the verifier', async () => {
        const shares: Buffer[] = [];
        for (let i = 0; i < 2; i++) {
            const { req, reply } = request();
            const r = await post(encodeSealingRequest(req));
            expect(r.status).toBe(200);
            const share = sealingShareSchema.parse(r.json);
            expect(share.publicKey).toEqual(key.publicKey);
            expect(signVerify(sealingShareSigned(sealingReportData(req), share), share.signature, share.publicKey)).toBe(true);
            shares.push(open(share, req, reply));
            // only the reply key opens it
            expect(() => open(share, req, generateX25519KeyPair())).toThrow('does not open');
        }
        expect(shares[0]).toHaveLength(32);
        expect(shares[1]).toEqual(shares[0]);
        const metrics = await (await fetch(`${base}/metrics`)).text();
        expect(metrics).toMatch(/cocoon_verifier_sealing_shares_total 2/);
        expect(await (await fetch(`${base}/health`)).json()).toMatchObject({ sealing: true });
    });

    it.each([
        ['another provider', { provider: new Address(0, Buffer.alloc(32, 8)) }],
        ['another network', { globalId: -239 }],
        ['another model (another measurement)', { modelHash: Buffer.alloc(32, 0x3b) }],
    ])('gives %s another share', async (_name, over) => {
        const v = verifier(key, { allowlist: async () => true }).sealer!;
        const a = request();
        const b = request(over);
        expect(open(await v.share(b.req), b.req, b.reply)).not.toEqual(open(await v.share(a.req), a.req, a.reply));
    });

    it('gives a share only to code Root allowlists (the host could relay a quote from a TD of its own code)', async () => {
        const { req } = request();
        await expect(verifier(key, { allowlist: async () => false }).sealer!.share(req)).rejects.toMatchObject({
            code: 'measurement-not-allowed',
            message: expect.stringContaining(simulatedMeasurement(NO_GPU_EVIDENCE, MODEL).toString('hex')),
        });
        const down = verifier(key, {
            allowlist: async () => {
                throw new Error('endpoint down');
            },
        });
        await expect(down.sealer!.share(req)).rejects.toMatchObject({ code: 'chain-unavailable' });
        // (the allowlist names code, GPUs and model: another model is another measurement, refused)
        const other = request({ modelHash: Buffer.alloc(32, 0x3b) });
        await expect(verifier(key).sealer!.share(other.req)).rejects.toMatchObject({ code: 'measurement-not-allowed' });
        // the GPUs' evidence completes the measurement: a verifier that requires it gives nothing without it
        await expect(verifier(key, { gpu: { required: true } }).sealer!.share(req)).rejects.toMatchObject({
            code: 'gpu-evidence-required',
        });
    });

    it('gives another verifier (another secret) another share', async () => {
        const a = request();
        const mine = open(await verifier(key).sealer!.share(a.req), a.req, a.reply);
        const theirs = open(await verifier(seededKey('verifier-b'), { secret: randomBytes(32) }).sealer!.share(a.req), a.req, a.reply);
        expect(theirs).not.toEqual(mine);
    });

    it("refuses evidence that binds another reply key (someone else's quote with the attacker's key)", async () => {
        const { req } = request();
        const attacker = generateX25519KeyPair();
        const r = await post(encodeSealingRequest({ ...req, replyKey: attacker.publicKey }));
        expect([r.status, r.json.error]).toEqual([422, 'report-data-mismatch']);
        for (const over of [{ provider: new Address(0, Buffer.alloc(32, 8)) }, { globalId: -239 }, { modelHash: Buffer.alloc(32, 1) }]) {
            const s = await post(encodeSealingRequest({ ...req, ...over }));
            expect([s.status, s.json.error]).toEqual([422, 'report-data-mismatch']);
        }
    });

    it('refuses malformed requests', async () => {
        const { req } = request();
        const body = encodeSealingRequest(req);
        for (const bad of [{}, { ...body, replyKey: 'abc' }, { ...body, globalId: 2 ** 40 }, { ...body, evidence: { kind: 'sgx' } }]) {
            const r = await post(bad);
            expect(r.status).toBe(400);
        }
    });

    it('refuses simulated evidence outside development mode, and runs real TDX quotes through DCAP', async () => {
        const prod = verifier(key, { devMode: false, now: () => TDX_TIME }).sealer!;
        const { req } = request();
        await expect(prod.share(req)).rejects.toMatchObject({ code: 'simulated-evidence-refused' });
        // the fixture is genuine and UpToDate, but its report_data binds no sealing request
        const tdx = { ...req, evidence: { kind: 'tdx' as const, quote: tdxQuote } };
        await expect(prod.share(tdx)).rejects.toMatchObject({ code: 'report-data-mismatch' });
        const tampered = Buffer.from(tdxQuote);
        tampered[300] ^= 1;
        await expect(prod.share({ ...tdx, evidence: { kind: 'tdx', quote: tampered } })).rejects.toMatchObject({ code: 'invalid-quote' });
    });

    it('is offered only by a verifier holding a sealing secret of at least 32 bytes', async () => {
        const v = verifier(key, { secret: null });
        const plain = await buildVerifierServer({ attestor: v.attestor, store: v.store, devMode: true, rateLimitPerMinute: 100 });
        const url = await plain.listen({ host: '127.0.0.1', port: 0 });
        const res = await fetch(`${url}/v1/sealing-share`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(encodeSealingRequest(request().req)),
        });
        expect([res.status, ((await res.json()) as { error: string }).error]).toEqual([404, 'sealing-not-offered']);
        await plain.close();
        v.store.close();
        expect(() => verifier(key, { secret: Buffer.alloc(31) })).toThrow('at least 32 bytes');
    });
});
