// The jest setup (tests/setup/): what it changes for the tests is only how fast they run.
import { beginCell } from '@ton/core';
import { sha256_sync } from '@ton/crypto';

describe('jest setup: SHA-256 through node:crypto', () => {
    it('is what @ton/crypto hashes with in tests, and gives the standard digests (FIPS 180-2 vectors, UTF-8 strings)', () => {
        expect(sha256_sync.toString()).toContain('createHash');
        expect(sha256_sync('abc').toString('hex')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
        expect(sha256_sync(Buffer.alloc(0)).toString('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
        expect(sha256_sync(Buffer.from('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')).toString('hex')).toBe(
            '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
        );
        expect(sha256_sync('тон')).toEqual(sha256_sync(Buffer.from('тон', 'utf-8')));
    });

    it("gives a cell the hash TON's reference gives it", () => {
        // the empty cell's representation hash, as every TON implementation computes it
        expect(beginCell().endCell().hash().toString('hex')).toBe('96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7');
    });
});
