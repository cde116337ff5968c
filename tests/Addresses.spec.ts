// Providers and Sessions find each other by hashing StateInit from code hashes fixed at build time
// (contracts/addresses.tact). Every derivation the contracts make must give the address the
// TypeScript wrappers compute with the compiled code, or nothing would work; these tests pin it.
import { Address, Cell, toNano } from '@ton/core';
import '@ton/test-utils';
import { readFileSync } from 'fs';
import { join } from 'path';
import {
    PROVIDER_CODE_DEPTH,
    PROVIDER_CODE_HASH,
    SESSION_CODE_DEPTH,
    SESSION_CODE_HASH,
    bufferToBigInt,
    providerForOwner,
    sessionFor,
} from '../wrappers';
import { attestedProvider, deployProtocol, sendOpenSession } from '../testkit';
import { isSessionOf } from '../protocol/state';
import { Session as GeneratedSession } from '../build/Session/tact_Session';

const code = (name: string) =>
    Cell.fromBoc(Buffer.from(JSON.parse(readFileSync(join(__dirname, '..', 'build', `${name}.compiled.json`), 'utf8')).hex, 'hex'))[0];

describe('addresses', () => {
    it('the code hashes Root and Sessions use are those of the compiled Provider and Session', async () => {
        expect([bufferToBigInt(code('Provider').hash()), BigInt(code('Provider').depth())]).toEqual([
            PROVIDER_CODE_HASH,
            PROVIDER_CODE_DEPTH,
        ]);
        expect([bufferToBigInt(code('Session').hash()), BigInt(code('Session').depth())]).toEqual([SESSION_CODE_HASH, SESSION_CODE_DEPTH]);
        const p = await deployProtocol();
        expect(await p.root.getCodeHashes()).toMatchObject({ provider: PROVIDER_CODE_HASH, session: SESSION_CODE_HASH });
    });

    it("Root's provider_address, the wrappers' providerForOwner and a Session's derived Provider agree, for any owner", async () => {
        const p = await deployProtocol();
        const owners = [
            new Address(0, Buffer.alloc(32, 0)),
            new Address(0, Buffer.alloc(32, 0xff)),
            new Address(-1, Buffer.alloc(32, 0x5a)), // a masterchain owner
            (await p.blockchain.treasury('owner')).address,
        ];
        for (const owner of owners) {
            const expected = (await providerForOwner(p.root.address, owner)).address;
            expect(await p.root.getProviderAddress(owner)).toEqualAddress(expected);
        }
        const prov = await attestedProvider(p);
        const { session, result } = await sendOpenSession(p, prov.owner.address);
        expect(await session.getProvider()).toEqualAddress(prov.provider.address);
        // and the Provider recognises the Session at the address the wrappers give it
        expect(session.address).toEqualAddress(
            (await sessionFor(p.root.address, prov.owner.address, (await p.blockchain.treasury('client')).address, 1n)).address,
        );
        expect(result.transactions).toHaveTransaction({ from: prov.provider.address, to: session.address, success: true });
        void toNano;
    });

    it("sessionFor builds the StateInit Tact's generated fromInit builds (it lays the initial data out itself, for speed)", async () => {
        const any = (workchain: number, fill: number) => new Address(workchain, Buffer.alloc(32, fill));
        const cases: [Address, Address, Address, bigint][] = [
            [any(0, 1), any(0, 2), any(0, 3), 0n],
            [any(-1, 0xff), any(0, 0), any(-1, 0x5a), (1n << 64n) - 1n],
            [any(0, 0x80), any(-1, 0x7f), any(0, 0x01), 123_456_789n],
        ];
        for (const [root, owner, client, nonce] of cases) {
            const [ours, generated] = [
                await sessionFor(root, owner, client, nonce),
                await GeneratedSession.fromInit(root, owner, client, nonce),
            ];
            expect(ours.address.equals(generated.address)).toBe(true);
            expect(ours.init!.data.equals(generated.init!.data) && ours.init!.code.equals(generated.init!.code)).toBe(true);
        }
    });

    it('isSessionOf: the real Session of (Root, owner, client, nonce); no other address, and no nonce a Session cannot have', async () => {
        const [root, owner, client] = [1, 2, 3].map((fill) => new Address(0, Buffer.alloc(32, fill)));
        const real = (await sessionFor(root, owner, client, 7n)).address;
        expect(await isSessionOf({ root, owner }, { address: real, client, nonce: 7n })).toBe(true);
        expect(await isSessionOf({ root, owner }, { address: real, client, nonce: 8n })).toBe(false);
        expect(await isSessionOf({ root: owner, owner: root }, { address: real, client, nonce: 7n })).toBe(false);
        expect(await isSessionOf({ root, owner }, { address: new Address(-1, real.hash), client, nonce: 7n })).toBe(false);
        // a getter may answer any integer: false, never a throw (that would be a 500 a stranger can repeat)
        for (const nonce of [1n << 64n, -1n]) expect(await isSessionOf({ root, owner }, { address: real, client, nonce })).toBe(false);
    });

    it('a Session with another nonce, client, owner or Root is another address', async () => {
        const [a, b] = [new Address(0, Buffer.alloc(32, 1)), new Address(0, Buffer.alloc(32, 2))];
        const base = (await sessionFor(a, a, a, 1n)).address;
        for (const other of [sessionFor(b, a, a, 1n), sessionFor(a, b, a, 1n), sessionFor(a, a, b, 1n), sessionFor(a, a, a, 2n)]) {
            expect((await other).address.equals(base)).toBe(false);
        }
    });
});
