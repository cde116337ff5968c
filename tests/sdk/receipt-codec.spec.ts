// The receipt codec the worker and the client use on every request (encodeUsageReceipt,
// decodeUsageReceipt in wrappers/receipt.ts) against @ton/core's cells, which the Session's
// messages are built from: the same bits, the same hash (what the enclave signs), the same fields;
// and for any BoC, altered or not, the same answer as reading it through a Cell.
import fc from 'fast-check';
import { Address, Cell } from '@ton/core';
import { keyPairFromSeed } from '@ton/crypto';
import {
    RECEIPT_TAG,
    ReceiptFields,
    buildUsageReceipt,
    clientKeyHashOf,
    decodeUsageReceipt,
    encodeUsageReceipt,
    modelKey,
    parseUsageReceipt,
    signReceiptHash,
    signUsageReceipt,
    verifyReceiptHash,
    verifyUsageReceipt,
} from '../../wrappers';

const uint = (bits: number) => fc.bigInt({ min: 0n, max: (1n << BigInt(bits)) - 1n });
const small = (bits: number) => uint(bits).map(Number);

const fieldsArb: fc.Arbitrary<ReceiptFields> = fc.record({
    globalId: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    session: fc
        .tuple(fc.integer({ min: -128, max: 127 }), fc.uint8Array({ minLength: 32, maxLength: 32 }))
        .map(([wc, hash]) => new Address(wc, Buffer.from(hash))),
    openedAt: small(32),
    seqno: small(32),
    lastRequestAt: small(32),
    promptTokens: uint(48),
    cachedTokens: uint(48),
    completionTokens: uint(48),
    reasoningTokens: uint(48),
    // coins: every byte length, zero included
    amountDue: fc.oneof(
        fc.constant(0n),
        fc.integer({ min: 1, max: 15 }).chain((bytes) => uint(bytes * 8)),
    ),
    resultsHash: uint(256),
});

// What reading a BoC through @ton/core gives, or the error it throws (from a copy: @ton/core
// rewrites an anycast address in the bytes it reads).
function throughCell(boc: Buffer) {
    const cells = Cell.fromBoc(Buffer.from(boc));
    if (cells.length !== 1) throw new Error('not one cell');
    return { fields: parseUsageReceipt(cells[0]), hash: cells[0].hash() };
}

function outcome(read: () => ReturnType<typeof decodeUsageReceipt>) {
    try {
        const { fields, hash } = read();
        return { ...fields, session: fields.session.toRawString(), hash: hash.toString('hex') };
    } catch {
        return 'refused';
    }
}

describe('the receipt codec', () => {
    it('encodes the cell buildUsageReceipt makes: the same BoC contents and hash, read back to the same fields', () => {
        fc.assert(
            fc.property(fieldsArb, (f) => {
                const cell = buildUsageReceipt(f);
                const { boc, hash } = encodeUsageReceipt(f);
                expect(hash.equals(cell.hash())).toBe(true);
                expect(Cell.fromBoc(boc)[0].equals(cell)).toBe(true);
                const fast = decodeUsageReceipt(boc);
                const slow = decodeUsageReceipt(cell.toBoc()); // @ton/core's own form (with a checksum)
                expect(outcome(() => fast)).toEqual(outcome(() => slow));
                expect(outcome(() => fast)).toEqual(outcome(() => ({ fields: { ...f, tag: RECEIPT_TAG }, hash: cell.hash() })));
            }),
            { numRuns: 300 },
        );
    });

    it('reads any BoC, altered, cut short or lengthened, exactly as through a Cell, or refuses it as a Cell does', () => {
        const altered = fc.tuple(fieldsArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }));
        fc.assert(
            fc.property(altered, fc.integer({ min: -3, max: 3 }), ([f, edits], resize) => {
                const boc = Buffer.from(encodeUsageReceipt(f).boc);
                for (const [at, byte] of edits) boc[at % boc.length] = byte;
                const sized = resize < 0 ? boc.subarray(0, boc.length + resize) : Buffer.concat([boc, Buffer.alloc(resize, 0x80)]);
                expect(outcome(() => decodeUsageReceipt(sized))).toEqual(outcome(() => throughCell(sized)));
            }),
            { numRuns: 2000 },
        );
    });

    it('reads a receipt with extra bits, another address form or more cells through a Cell, as before', () => {
        const f = fc.sample(fieldsArb, { numRuns: 1, seed: 7 })[0];
        const extraBits = new Cell({ bits: buildUsageReceipt(f).bits, refs: [Cell.EMPTY] }).toBoc({ idx: true, crc32: false });
        expect(outcome(() => decodeUsageReceipt(extraBits))).toEqual(outcome(() => throughCell(extraBits)));
        expect(() => decodeUsageReceipt(Buffer.concat([encodeUsageReceipt(f).boc.subarray(0, 12)]))).toThrow();
        const twoRoots = Buffer.from('b5ee9c72010102020004000100000000', 'hex'); // two empty cells, both roots
        expect(() => decodeUsageReceipt(twoRoots)).toThrow('a receipt is one cell, not 2');
    });

    it("leaves the caller's bytes as they are, an anycast address included (which @ton/core rewrites where it reads it)", () => {
        const f = fc.sample(fieldsArb, { numRuns: 1, seed: 11 })[0];
        for (const prefix of [0xa8, 0xb8]) {
            const boc = Buffer.from(encodeUsageReceipt(f).boc);
            boc[21] = prefix; // the address: std with an anycast of 8 or 24 bits
            const before = Buffer.from(boc);
            const first = outcome(() => decodeUsageReceipt(boc));
            expect(boc.equals(before)).toBe(true);
            expect(outcome(() => decodeUsageReceipt(boc))).toEqual(first);
        }
    });

    it('refuses to encode a field beyond its width, as a cell builder does', () => {
        const f = fc.sample(fieldsArb, { numRuns: 1, seed: 3 })[0];
        for (const bad of [
            { seqno: 2 ** 32 },
            { openedAt: -1 },
            { promptTokens: 1n << 48n },
            { amountDue: 1n << 120n },
            { resultsHash: 1n << 256n },
            { globalId: 2 ** 31 },
        ]) {
            expect(() => buildUsageReceipt({ ...f, ...bad })).toThrow();
            expect(() => encodeUsageReceipt({ ...f, ...bad })).toThrow(RangeError);
        }
    });

    it('signs and checks the hash as signUsageReceipt and verifyUsageReceipt sign and check the cell', () => {
        const key = keyPairFromSeed(Buffer.alloc(32, 9));
        const f = fc.sample(fieldsArb, { numRuns: 1, seed: 5 })[0];
        const { hash } = encodeUsageReceipt(f);
        const signature = signReceiptHash(hash, key.secretKey);
        expect(signature.equals(signUsageReceipt(buildUsageReceipt(f), key.secretKey))).toBe(true);
        expect(verifyUsageReceipt(buildUsageReceipt(f), signature, key.publicKey)).toBe(true);
        expect(verifyReceiptHash(hash, signature, key.publicKey)).toBe(true);
        expect(verifyReceiptHash(encodeUsageReceipt({ ...f, seqno: f.seqno ^ 1 }).hash, signature, key.publicKey)).toBe(false);
    });
});

describe('the hashes sessions commit to (known answers, hashed by Python hashlib)', () => {
    it("a model's key is SHA-256 of its UTF-8 name", () => {
        expect(modelKey('Qwen/Qwen3-8B')).toBe(0xa82fd547628efc95bba6ce4fbe5c4c21fdfe5b815eca823db15d1df4837b1167n);
        expect(modelKey('modèle')).toBe(0xbf5d8ba8ce62f34b740bcd824c7a40efb088c4b47f19a64100aeff7d7b05d1f2n);
    });

    it("a client key's hash is the first 160 bits of SHA-256 of the 32-byte key", () => {
        expect(clientKeyHashOf(Buffer.from(Array.from({ length: 32 }, (_, i) => i)))).toBe(0x630dcd2966c4336691125448bbb25b4ff412a49cn);
        expect(() => clientKeyHashOf(Buffer.alloc(31))).toThrow(RangeError);
    });
});
