// The worker's HTTP layer (worker/src/server.ts): refused chat requests and other routes are
// limited per client address, and behind a trusted proxy the address is the one it forwards.
// (Chat requests per session: tests/e2e/worker.spec.ts.)
import { Address } from '@ton/core';
import { FastifyInstance } from 'fastify';
import { buildWorkerServer } from '../../worker/src/server';
import { ApiError } from '../../protocol/http';
import type { Worker } from '../../worker/src/worker';
import { NO_USAGE } from '../../wrappers';

// Just what the routes read; chat requests are answered without looking at them.
const fakeWorker = {
    identity: () => ({ provider: 'x', globalId: -3, signingKey: '', encryptionKey: '', models: [], attestedUntil: null }),
    evidence: () => {
        throw new Error('none');
    },
    handleChat: async () => {
        throw new ApiError('unknown-session', 404, 'no Session there');
    },
    stats: { requests: 0, refused: 0, tokens: NO_USAGE, claims: 0, abandonedFinalizes: 0 },
    o: { chain: { now: () => 0 } },
} as unknown as Worker;

const session = (i: number) => new Address(0, Buffer.alloc(32, i)).toString();
const envelope = {
    requestId: 'request-id-0000001',
    clientKey: 'A'.repeat(43) + '=',
    enc: 'A'.repeat(43) + '=',
    ciphertext: 'A'.repeat(24),
};

describe('worker rate limits', () => {
    let app: FastifyInstance;
    afterEach(() => app?.close());

    let url = '';
    async function start(o: Parameters<typeof buildWorkerServer>[1]) {
        app = await buildWorkerServer(fakeWorker, o);
        url = await app.listen({ host: '127.0.0.1', port: 0 });
    }
    const forwarded = (from?: string): Record<string, string> => (from ? { 'x-forwarded-for': from } : {});
    const chat = async (s: string, from?: string) => {
        const res = await fetch(`${url}/v1/sessions/${s}/chat`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...forwarded(from) },
            body: JSON.stringify(envelope),
        });
        return { statusCode: res.status, json: () => res.json() };
    };
    const health = async (from?: string) => ({ statusCode: (await fetch(`${url}/health`, { headers: forwarded(from) })).status });

    it("limits a client address's refused chat requests (junk sessions cost chain reads), each address on its own", async () => {
        await start({ refusedPerAddressPerMinute: 3, trustProxy: ['127.0.0.1'] });
        const statuses = [];
        for (let i = 0; i < 4; i++) statuses.push((await chat(session(i + 1), '10.0.0.1')).statusCode);
        expect(statuses).toEqual([404, 404, 404, 429]);
        expect(await (await chat(session(9), '10.0.0.1')).json()).toMatchObject({ error: 'rate-limited' });
        expect((await chat(session(9), '10.0.0.2')).statusCode).toBe(404); // another client behind the proxy
    });

    it('limits other routes per client address, which a trusted proxy names in X-Forwarded-For', async () => {
        await start({ rateLimitPerMinute: 2, trustProxy: ['127.0.0.1'] });
        expect([(await health('10.0.0.1')).statusCode, (await health('10.0.0.1')).statusCode]).toEqual([503, 503]);
        expect((await health('10.0.0.1')).statusCode).toBe(429);
        expect((await health('10.0.0.2')).statusCode).toBe(503); // another client behind the same proxy
    });

    it('ignores X-Forwarded-For from a proxy it does not trust: a client cannot pick its own address', async () => {
        await start({ rateLimitPerMinute: 2 });
        await health('10.0.0.1');
        await health('10.0.0.2');
        expect((await health('10.0.0.3')).statusCode).toBe(429);
    });
});
