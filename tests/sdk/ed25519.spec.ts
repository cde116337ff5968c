// wrappers/ed25519.ts (node:crypto) against @ton/crypto's tweetnacl, which TON wallets and the
// earlier releases used: the same keys and signature bytes; stricter about what verifies.
import fc from 'fast-check';
import { keyPairFromSeed, sign, signVerify } from '@ton/crypto';
import { ed25519FromSecretKey, ed25519FromSeed, ed25519Sign, ed25519Verify } from '../../wrappers';

// The order of Ed25519's base point: a signature's S must be below it.
const L = (1n << 252n) + 27742317777372353535851937790883648493n;
const littleEndian = (b: Buffer) => BigInt('0x' + Buffer.from(b).reverse().toString('hex'));
const toLittleEndian = (n: bigint) => Buffer.from(n.toString(16).padStart(64, '0'), 'hex').reverse();

describe('Ed25519 on node:crypto', () => {
    it('makes the keys and signatures @ton/crypto makes, and each verifies the other', () => {
        fc.assert(
            fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 200 }), (seed, bytes) => {
                const message = Buffer.from(bytes);
                const ours = ed25519FromSeed(Buffer.from(seed));
                const theirs = keyPairFromSeed(Buffer.from(seed));
                expect(ours.publicKey.equals(theirs.publicKey) && ours.secretKey.equals(theirs.secretKey)).toBe(true);
                const signature = ed25519Sign(message, ours.secretKey);
                expect(signature.equals(sign(message, theirs.secretKey))).toBe(true);
                expect(ed25519Verify(message, signature, ours.publicKey)).toBe(true);
                expect(signVerify(message, signature, theirs.publicKey)).toBe(true);
            }),
            { numRuns: 8 }, // (tweetnacl takes a tenth of a second a run under jest)
        );
    });

    it('refuses another message, another key, a changed bit, and keys or signatures of the wrong length', () => {
        const key = ed25519FromSeed(Buffer.alloc(32, 1));
        const other = ed25519FromSeed(Buffer.alloc(32, 2));
        const message = Buffer.from('receipt hash');
        const signature = ed25519Sign(message, key.secretKey);
        expect(ed25519Verify(message, signature, key.publicKey)).toBe(true);
        expect(ed25519Verify(Buffer.from('receipt hasH'), signature, key.publicKey)).toBe(false);
        expect(ed25519Verify(message, signature, other.publicKey)).toBe(false);
        for (const i of [0, 31, 32, 63]) {
            const flipped = Buffer.from(signature);
            flipped[i] ^= 1;
            expect(ed25519Verify(message, flipped, key.publicKey)).toBe(false);
        }
        expect(ed25519Verify(message, signature.subarray(0, 63), key.publicKey)).toBe(false);
        expect(ed25519Verify(message, Buffer.concat([signature, Buffer.alloc(1)]), key.publicKey)).toBe(false);
        expect(ed25519Verify(message, signature, key.publicKey.subarray(0, 31))).toBe(false);
        expect(ed25519Verify(message, signature, key.secretKey)).toBe(false); // (64 bytes: not a public key)
        expect(ed25519Verify(message, signature, Buffer.alloc(32, 0xff))).toBe(false); // (not a point of the curve)
        expect(() => ed25519Sign(message, key.secretKey.subarray(0, 32))).toThrow('an Ed25519 secret key is 64 bytes, not 32');
        expect(() => ed25519FromSeed(Buffer.alloc(31))).toThrow('an Ed25519 seed is 32 bytes, not 31');
    });

    it('refuses a non-canonical signature (S + L), which tweetnacl accepts: nobody can make a second signature of a message', () => {
        const key = ed25519FromSeed(Buffer.alloc(32, 3));
        const message = Buffer.from('proof hash');
        const signature = ed25519Sign(message, key.secretKey);
        const s = littleEndian(signature.subarray(32));
        const malleated = Buffer.concat([signature.subarray(0, 32), toLittleEndian(s + L)]);
        expect(s + L < 1n << 256n).toBe(true);
        expect(signVerify(message, malleated, key.publicKey)).toBe(true);
        expect(ed25519Verify(message, malleated, key.publicKey)).toBe(false);
    });

    it('signs with the key a buffer holds now, also when it was written over with another key since it last signed', () => {
        const message = Buffer.from('order');
        const [first, second] = [6, 7].map((b) => ed25519FromSeed(Buffer.alloc(32, b)));
        const reused = Buffer.from(first.secretKey);
        expect(ed25519Verify(message, ed25519Sign(message, reused), first.publicKey)).toBe(true);
        second.secretKey.copy(reused);
        expect(ed25519Verify(message, ed25519Sign(message, reused), second.publicKey)).toBe(true);
    });

    it('takes a 64-byte secret key only when its second half is the public key of its first', () => {
        const key = ed25519FromSeed(Buffer.alloc(32, 4));
        expect(ed25519FromSecretKey(key.secretKey)).toEqual(key);
        const mixed = Buffer.concat([key.secretKey.subarray(0, 32), ed25519FromSeed(Buffer.alloc(32, 5)).publicKey]);
        expect(() => ed25519FromSecretKey(mixed)).toThrow('the secret key does not hold the public key of its seed');
        expect(() => ed25519FromSecretKey(key.secretKey.subarray(0, 63))).toThrow('an Ed25519 secret key is 64 bytes, not 63');
    });
});
