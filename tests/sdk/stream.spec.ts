// Encrypted streams (protocol/encryption.ts StreamSealer / StreamOpener): frames open only in the
// order they were sealed, for the request they answer, and the end of a stream is authenticated.
import { Address } from '@ton/core';
import { DecryptionError, StreamFrame, generateEncryptionKeyPair, openRequest, sealRequest } from '../../sdk';

const session = new Address(0, Buffer.alloc(32, 5));

async function pair(requestId = 'stream-test-request-01') {
    const enclave = await generateEncryptionKeyPair();
    const client = await generateEncryptionKeyPair();
    const sealed = await sealRequest(enclave.publicKey, session, client, Buffer.from('{}'), requestId);
    const opened = await openRequest(enclave, session, sealed.envelope);
    return { sealer: opened.sealStream(), opener: () => sealed.openStream(), opened, enclave, client };
}

function frames(sealer: { seal(b: Uint8Array, last?: boolean): StreamFrame }, n: number): StreamFrame[] {
    return Array.from({ length: n }, (_, i) => sealer.seal(Buffer.from(`frame ${i}`), i === n - 1));
}

describe('encrypted streams', () => {
    it('opens frames in order, and knows when the stream ended', async () => {
        const { sealer, opener } = await pair();
        const sent = frames(sealer, 5);
        const o = opener();
        expect(sent.map((f) => o.open(f).toString())).toEqual(['frame 0', 'frame 1', 'frame 2', 'frame 3', 'frame 4']);
        expect(o.ended).toBe(true);
        expect(() => sealer.seal(Buffer.from('more'))).toThrow('already ended');
    });

    it('refuses a frame altered, reordered, repeated, dropped, marked last when it is not, or after the last', async () => {
        const { sealer, opener } = await pair();
        const sent = frames(sealer, 4);
        const flip = (f: StreamFrame) => {
            const b = Buffer.from(f.ciphertext, 'base64');
            b[0] ^= 1;
            return { ...f, ciphertext: b.toString('base64') };
        };
        const cases: [string, (o: ReturnType<typeof opener>) => void][] = [
            ['altered', (o) => o.open(flip(sent[0]))],
            ['reordered', (o) => o.open(sent[1])],
            ['repeated', (o) => (o.open(sent[0]), o.open(sent[0]))],
            ['dropped', (o) => (o.open(sent[0]), o.open(sent[2]))],
            ['marked last', (o) => o.open({ ...sent[0], last: true })],
            ['last unmarked', (o) => (o.open(sent[0]), o.open(sent[1]), o.open(sent[2]), o.open({ ...sent[3], last: false }))],
            ['after the last', (o) => (sent.forEach((f) => o.open(f)), o.open(sent[3]))],
        ];
        for (const [what, act] of cases) {
            let thrown: unknown;
            try {
                act(opener());
            } catch (e) {
                thrown = e;
            }
            expect([what, thrown instanceof DecryptionError]).toEqual([what, true]);
        }
        // cut off: every frame opens, but the stream never ended
        const o = opener();
        sent.slice(0, 3).forEach((f) => o.open(f));
        expect(o.ended).toBe(false);
    });

    it('never reuses a key and nonce: the same envelope answered twice (a replay after a stream that broke off) streams under two salts', async () => {
        const { opened, opener } = await pair();
        const first = opened.sealStream().seal(Buffer.from('answer one'), true);
        const second = opened.sealStream().seal(Buffer.from('answer two'), true);
        expect(first.salt).not.toEqual(second.salt);
        expect(Buffer.from(first.ciphertext, 'base64').subarray(0, 10)).not.toEqual(
            Buffer.from(second.ciphertext, 'base64').subarray(0, 10),
        );
        expect([opener().open(first).toString(), opener().open(second).toString()]).toEqual(['answer one', 'answer two']);
        // the salt is bound: another one (or none) and the frame does not open
        expect(() => opener().open({ ...first, salt: second.salt })).toThrow(DecryptionError);
        expect(() => opener().open({ ...first, salt: undefined })).toThrow('no 16-byte salt');
    });

    it("refuses another request's frames, even of the same session and client key", async () => {
        const a = await pair('stream-test-request-01');
        const b = await pair('stream-test-request-02');
        expect(() => b.opener().open(a.sealer.seal(Buffer.from('x'), true))).toThrow(DecryptionError);
    });

    it('numbers thousands of frames whatever the exported base nonce (a signed XOR once broke half the streams)', async () => {
        for (let k = 0; k < 8; k++) {
            const { sealer, opener } = await pair(`stream-test-request-0${k}`);
            const o = opener();
            for (let i = 0; i < 3000; i++) expect(o.open(sealer.seal(Buffer.from([i & 0xff]), i === 2999))[0]).toBe(i & 0xff);
        }
    });
});
