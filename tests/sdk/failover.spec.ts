// Several chain endpoints (protocol/chain.ts failoverChain): one that refuses, hangs or serves stale
// state does not take a worker, verifier or client down; when all fail, the error names each.
import { Address, Cell, beginCell, loadMessage, loadMessageRelaxed, toNano } from '@ton/core';
import { mnemonicNew } from '@ton/crypto';
import { ChainUnavailable, failoverChain, mnemonicWallet } from '../../protocol/chain';
import { UsageError, endpointsFromOptions } from '../../protocol/cli';
import { logOutput, progress } from '../../protocol/progress';
import { withEndpoints } from '../../scripts/lib';
import { Root, encodeUsageReceipt, storeClaimUsage } from '../../wrappers';
import type { NetworkProvider } from '@ton/blueprint';
import { rootAllowlist } from '../../tee-verifier/src/ton';
import { FakeToncenter, fakeToncenter, refusingEndpoint } from '../../testkit/fake-toncenter';

const ROOT = new Address(0, Buffer.alloc(32, 1));
const ALLOWED: [string, string][] = [['num', '-0x1']];
const NOT_ALLOWED: [string, string][] = [['num', '0x0']];

describe('chain endpoint failover', () => {
    const fakes: FakeToncenter[] = [];
    const fake = async (o: Parameters<typeof fakeToncenter>[0]) => {
        const f = await fakeToncenter(o);
        fakes.push(f);
        return f;
    };
    afterEach(async () => Promise.all(fakes.splice(0).map((f) => f.close())));

    const allowed = (chain: ReturnType<typeof failoverChain>) => rootAllowlist(chain, ROOT).isAllowed(Buffer.alloc(32, 2));

    it('routes around an endpoint that refuses and one that hangs, and then keeps away from them', async () => {
        const refusing = await refusingEndpoint();
        const hanging = await fake({ hang: true });
        const good = await fake({ getters: { is_measurement_allowed: ALLOWED } });
        const chain = failoverChain([{ url: refusing }, { url: hanging.url }, { url: good.url }], {
            timeoutMs: 1000, // (the good endpoint answers well within it, even on a loaded machine)
            backoffMs: 30_000, // (a failed endpoint still rests when the status is read, however slow the machine)
            lagCheckMs: 3_600_000,
        });
        expect(await allowed(chain)).toBe(true);
        expect(chain.status().map((s) => [s.up, s.failures])).toEqual([
            [false, 1],
            [false, 1],
            [true, 0],
        ]);
        // resting endpoints come last: the next read goes straight to the good one
        const hangingCalls = hanging.calls.length;
        expect(await allowed(chain)).toBe(true);
        expect(hanging.calls.length).toBe(hangingCalls); // not asked (nor waited for) again
    });

    it('skips an endpoint that answers from a state far behind the others', async () => {
        const stale = await fake({ masterchainSeqno: 900, getters: { is_measurement_allowed: NOT_ALLOWED } });
        const current = await fake({ masterchainSeqno: 1000, getters: { is_measurement_allowed: ALLOWED } });
        const chain = failoverChain([{ url: stale.url }, { url: current.url }], { maxLagBlocks: 12 });
        expect(await allowed(chain)).toBe(true); // the stale endpoint would have said false
        expect(chain.status()[0]).toMatchObject({ behind: true, up: false, lastError: expect.stringContaining('block 900') });
        expect(stale.calls).not.toContain('runGetMethod');
    });

    it('when every endpoint fails, retries with backoff, then names each endpoint and what it did', async () => {
        const refusing = await refusingEndpoint();
        const failing = await fake({ failWith: 503 });
        const chain = failoverChain([{ url: refusing }, { url: failing.url }], { rounds: 2, backoffMs: 50, timeoutMs: 300 });
        const e = await allowed(chain).catch((x) => x);
        expect(e).toBeInstanceOf(ChainUnavailable);
        expect(e.message).toContain(refusing);
        expect(e.message).toContain(failing.url);
        expect(e.message).toMatch(/503/);
        expect(failing.calls.filter((c) => c === 'runGetMethod')).toHaveLength(2); // one try a round
    });

    it("in development follows the chain's clock when an endpoint's latest block is far ahead of the machine's, never back", async () => {
        let ahead = 3600; // a devnet whose clock was moved forward an hour
        const endpoint = await fake({ syncUtime: () => Math.floor(Date.now() / 1000) + ahead });
        const chain = failoverChain([{ url: endpoint.url }], { followChainClock: true });
        const wall = () => Math.floor(Date.now() / 1000);
        expect(chain.now()).toBe(wall()); // (nothing read yet)
        const production = failoverChain([{ url: endpoint.url }]); // (never: an endpoint would control the time)
        expect(production.latestBlockTime!()).toBeUndefined();
        await production.accountState(ROOT);
        expect(production.now()).toBe(wall());
        // (it keeps the newest block time it was told, for a second opinion where the machine's clock may be wrong)
        expect(Math.abs(production.latestBlockTime!()! - (wall() + 3600))).toBeLessThanOrEqual(1);
        await chain.accountState(ROOT);
        expect(Math.abs(chain.now() - (wall() + 3600))).toBeLessThanOrEqual(1);
        ahead = -10; // a live network's latest block, seconds old: the machine's clock stands
        await chain.accountState(ROOT);
        expect(chain.now()).toBe(wall());
        ahead = -3600; // an endpoint that says it is an hour earlier: never followed back (an expired attestation would look valid)
        await chain.accountState(ROOT);
        expect(chain.now()).toBe(wall());
        await production.accountState(ROOT);
        expect(production.latestBlockTime!()! - wall()).toBeGreaterThan(3000); // nor the newest block time
    });

    it("reads an account's last transaction lt, through the next endpoint when one fails", async () => {
        let lt = 0n;
        const down = await fake({ failWith: 502 });
        const up = await fake({ lastLt: () => lt });
        const chain = failoverChain([{ url: down.url }, { url: up.url }], { backoffMs: 50, lagCheckMs: 3_600_000 });
        expect(await chain.lastTransactionLt!(ROOT)).toBe(0n); // none yet
        lt = 47_000_000_000_001n;
        expect(await chain.lastTransactionLt!(ROOT)).toBe(lt);
        expect(up.calls.filter((c) => c === 'getAddressInformation')).toHaveLength(2);
    });

    it("passes on a contract's own refusal (a get method's exit code) without trying other endpoints", async () => {
        const first = await fake({ getterExitCode: 11 });
        const second = await fake({ getters: { is_measurement_allowed: ALLOWED } });
        const chain = failoverChain([{ url: first.url }, { url: second.url }], { lagCheckMs: 3_600_000 });
        await expect(allowed(chain)).rejects.toThrow(/exit_code: 11/);
        expect(second.calls).not.toContain('runGetMethod');
    });

    it('sends a wallet transfer through the next endpoint when the first fails, once', async () => {
        const down = await fake({ failWith: 502 });
        const up = await fake({ getters: { seqno: [['num', '0x7']] } });
        const chain = failoverChain([{ url: down.url }, { url: up.url }], { lagCheckMs: 3_600_000 });
        const { sender } = await mnemonicWallet(chain, await mnemonicNew(24));
        await sender.send({ to: ROOT, value: 1n });
        expect(down.sent).toHaveLength(0);
        expect(up.sent).toHaveLength(1);
        expect(loadMessage(Cell.fromBase64(up.sent[0]).beginParse()).info.type).toBe('external-in');
    });

    it('sends wallet transfers one at a time, each with the seqno the one before it left; one that never lands is an error', async () => {
        const up = await fake({ getters: { seqno: [['num', '0x7']] } });
        const { sender } = await mnemonicWallet(failoverChain([{ url: up.url }]), await mnemonicNew(24), { pollMs: 10 });
        await Promise.all([sender.send({ to: ROOT, value: 1n }), sender.send({ to: ROOT, value: 2n })]);
        const seqnoOf = (boc: string) => {
            const body = loadMessage(Cell.fromBase64(boc).beginParse()).body.beginParse();
            body.skip(512 + 32 + 32); // signature, wallet id, valid until
            return body.loadUint(32);
        };
        expect(up.sent.map(seqnoOf)).toEqual([7, 8]); // (sent together, both would carry 7: the chain takes one)

        const lost = await fake({ getters: { seqno: [['num', '0x3']] }, transfersLost: true });
        const shown: string[] = [];
        const wallet = await mnemonicWallet(failoverChain([{ url: lost.url }]), await mnemonicNew(24), {
            landTimeoutMs: 100,
            pollMs: 10,
            progress: (what) => progress(what, { output: logOutput((t) => shown.push(t), 3_600_000), quiet: true, env: {} }),
        });
        await expect(wallet.sender.send({ to: ROOT, value: 1n })).rejects.toThrow('did not land');
        expect(shown).toEqual([expect.stringMatching(/^Waiting for the wallet's transfer with seqno 3 to land: failed \(0 s\)$/)]);
        await expect(wallet.sender.send({ to: ROOT, value: 1n })).rejects.toThrow('seqno 3 did not land'); // the queue goes on after a failure
    });

    it("puts several messages in one transfer (sendMany): up to the wallet's limit, in the same queue as single sends", async () => {
        const up = await fake({ getters: { seqno: [['num', '0x7']] } });
        const { sender } = await mnemonicWallet(failoverChain([{ url: up.url }]), await mnemonicNew(24), { pollMs: 10 });
        expect(sender.maxMessages).toBe(4); // a v4 wallet's
        const to = (i: number) => new Address(0, Buffer.alloc(32, i));
        await Promise.all([
            sender.send({ to: ROOT, value: 1n }),
            sender.sendMany([1, 2, 3, 4].map((i) => ({ to: to(i), value: BigInt(i), bounce: true }))),
        ]);
        const transfers = up.sent.map((boc) => {
            const body = loadMessage(Cell.fromBase64(boc).beginParse()).body.beginParse();
            body.skip(512 + 32 + 32); // signature, wallet id, valid until
            const seqno = body.loadUint(32);
            body.skip(8); // op
            const messages: { to: string; value: bigint }[] = [];
            while (body.remainingRefs > 0) {
                body.skip(8); // send mode
                const m = loadMessageRelaxed(body.loadRef().beginParse());
                if (m.info.type !== 'internal') throw new Error('not an internal message');
                messages.push({ to: m.info.dest.toString(), value: m.info.value.coins });
            }
            return { seqno, messages };
        });
        expect(transfers).toEqual([
            { seqno: 7, messages: [{ to: ROOT.toString(), value: 1n }] },
            { seqno: 8, messages: [1, 2, 3, 4].map((i) => ({ to: to(i).toString(), value: BigInt(i) })) },
        ]);
        // more than one transfer carries, or messages that need two send modes: refused, nothing sent
        await expect(sender.sendMany([1, 2, 3, 4, 5].map((i) => ({ to: to(i), value: 1n })))).rejects.toThrow(
            'a v4 wallet sends at most 4 messages in one transfer, not 5',
        );
        await expect(
            sender.sendMany([
                { to: ROOT, value: 1n },
                { to: ROOT, value: 1n, sendMode: 128 },
            ]),
        ).rejects.toThrow('the messages of one transfer share its send mode');
        // a transfer too large for an external message (a node refuses one over 64 KB): refused before it is sent
        const big = (m: number) => {
            let body = beginCell().endCell();
            for (let i = 0; i < 140; i++) body = beginCell().storeUint(m, 8).storeBuffer(Buffer.alloc(126, i)).storeRef(body).endCell();
            return body; // (about 18 KB, of cells no other message shares)
        };
        await expect(sender.sendMany([1, 2, 3, 4].map((i) => ({ to: to(i), value: 1n, body: big(i) })))).rejects.toThrow(
            /^the transfer is \d+ bytes, more than an external message may carry/,
        );
        expect(up.sent).toHaveLength(2);
        // (v5r1 takes 255 actions; 255 claims would be over that size)
        const v5 = await mnemonicWallet(failoverChain([{ url: up.url }]), await mnemonicNew(24), { version: 'v5r1', pollMs: 10 });
        expect(v5.sender.maxMessages).toBe(200);
        // 200 claims of served receipts (a worker's pass) fit in one external message
        const claims = Array.from({ length: 200 }, (_, i) => {
            const receipt = Cell.fromBoc(
                encodeUsageReceipt({
                    globalId: -239,
                    session: to(i),
                    openedAt: 1_800_000_000,
                    seqno: 100_000 + i,
                    lastRequestAt: 1_800_000_100,
                    promptTokens: 123_456n,
                    cachedTokens: 1_234n,
                    completionTokens: 654_321n,
                    reasoningTokens: 4_321n,
                    amountDue: toNano('1000') + BigInt(i),
                    resultsHash: (1n << 255n) + BigInt(i),
                }).boc,
            )[0];
            const body = beginCell()
                .store(storeClaimUsage({ $$type: 'ClaimUsage', queryId: BigInt(i), signature: Buffer.alloc(64, i), receipt }))
                .endCell();
            return { to: to(i), value: toNano('0.015'), body, bounce: true };
        });
        await v5.sender.sendMany(claims);
        expect(Buffer.from(up.sent[2], 'base64').length).toBeLessThanOrEqual(65_535);
    });

    it("reads a Blueprint script's chain through COCOON_ENDPOINTS when its own endpoint is down", async () => {
        const refusing = await refusingEndpoint();
        const good = await fake({ getters: { is_measurement_allowed: ALLOWED } });
        const blueprint = {
            open: () => {
                throw new Error("Blueprint's one endpoint is down");
            },
            network: () => 'testnet',
        } as unknown as NetworkProvider;
        expect(withEndpoints(blueprint, {})).toBe(blueprint); // (without the variable: Blueprint's connection as it is)
        const provider = withEndpoints(blueprint, { COCOON_ENDPOINTS: `${refusing}, ${good.url}#GOOD_KEY`, GOOD_KEY: 'k' });
        expect(await provider.open(Root.fromAddress(ROOT)).getIsMeasurementAllowed(2n)).toBe(true);
        expect(good.calls).toContain('runGetMethod');
        expect(provider.network()).toBe('testnet'); // everything else is Blueprint's
        expect(() => withEndpoints(blueprint, { COCOON_ENDPOINTS: 'not a url' })).toThrow('COCOON_ENDPOINTS: not a url is not a URL');
        expect(() => withEndpoints(blueprint, { COCOON_ENDPOINTS: `${good.url}#MISSING` })).toThrow('MISSING');
    });

    it("sends a Blueprint script's transfers through COCOON_ENDPOINTS when Blueprint signs with a mnemonic", async () => {
        const refusing = await refusingEndpoint();
        const good = await fake({ getters: { seqno: [['num', '0x5']] } });
        const mnemonic = await mnemonicNew(24);
        const goodChain = failoverChain([{ url: good.url }]);
        // v5r1's address depends on the network: the script's network (testnet) must be the one signed for
        const { address } = await mnemonicWallet(goodChain, mnemonic, { version: 'v5r1', testnet: true });
        expect(address.equals((await mnemonicWallet(goodChain, mnemonic, { version: 'v5r1' })).address)).toBe(false);
        const blueprintSends: unknown[] = [];
        const written: string[] = [];
        const ui = { write: (t: string) => void written.push(t), setActionPrompt: () => {}, clearActionPrompt: () => {} };
        const blueprint = (signer: Address) =>
            ({
                ui: () => ui,
                sender: () => ({
                    address: signer,
                    send: async (args: unknown) => {
                        blueprintSends.push(args);
                        throw new Error("Blueprint's one endpoint is down");
                    },
                }),
                network: () => 'testnet',
            }) as unknown as NetworkProvider;
        const env = { COCOON_ENDPOINTS: `${refusing},${good.url}`, WALLET_MNEMONIC: mnemonic.join(' '), WALLET_VERSION: 'V5R1' };

        const stdoutIsTTY = process.stdout.isTTY;
        Object.defineProperty(process.stdout, 'isTTY', { value: false, configurable: true }); // (the plain lines of CI)
        try {
            await withEndpoints(blueprint(address), env, []).sender().send({ to: ROOT, value: 1n });
            expect(written).toEqual([
                "Waiting for the wallet's transfer with seqno 5 to land…",
                expect.stringMatching(/^Waiting for the wallet's transfer with seqno 5 to land: done \(\d+ s\)$/),
            ]);
            written.length = 0;
            await withEndpoints(blueprint(address), env, ['node', 'blueprint', 'run', 'addVerifier', '--quiet'])
                .sender()
                .send({ to: ROOT, value: 1n });
            expect(written).toEqual([]); // (the script's --quiet, read before its options reach anything)
        } finally {
            Object.defineProperty(process.stdout, 'isTTY', { value: stdoutIsTTY, configurable: true });
        }
        expect(blueprintSends).toHaveLength(0);
        expect(good.sent).toHaveLength(2);
        const sent = loadMessage(Cell.fromBase64(good.sent[0]).beginParse());
        expect(sent.info.dest?.toString()).toBe(address.toString()); // the wallet Blueprint connected to

        // Blueprint connected to another wallet (TON Connect, or a WALLET_ID): its own signer sends
        const other = new Address(0, Buffer.alloc(32, 9));
        await expect(withEndpoints(blueprint(other), env).sender().send({ to: ROOT, value: 1n })).rejects.toThrow('one endpoint is down');
        expect(blueprintSends).toHaveLength(1);
        expect(good.sent).toHaveLength(2);
        // without a mnemonic, sends are Blueprint's as they are
        await expect(
            withEndpoints(blueprint(address), { COCOON_ENDPOINTS: good.url }).sender().send({ to: ROOT, value: 1n }),
        ).rejects.toThrow('one endpoint is down');
        expect(() => withEndpoints(blueprint(address), { ...env, WALLET_VERSION: 'v1r1' })).toThrow(
            /WALLET_VERSION v1r1.*one of v3r2, v4, v4r2, v5r1/,
        );
    });

    it('takes each API key from its own variable: no endpoint receives another endpoint’s key', () => {
        const env = { A_KEY: 'secret-a', DEFAULT: 'secret-default' };
        expect(endpointsFromOptions(['https://a.example/jsonRPC'], 'DEFAULT', env)).toEqual([
            { url: 'https://a.example/jsonRPC', apiKey: 'secret-default' },
        ]);
        expect(endpointsFromOptions(['https://a.example/jsonRPC#A_KEY', 'https://b.example/jsonRPC'], 'DEFAULT', env)).toEqual([
            { url: 'https://a.example/jsonRPC', apiKey: 'secret-a' },
            { url: 'https://b.example/jsonRPC' },
        ]);
        expect(() => endpointsFromOptions(['https://a.example/jsonRPC#MISSING'], 'DEFAULT', env)).toThrow(UsageError);
        expect(() => endpointsFromOptions(['not a url', 'https://b.example'], 'DEFAULT', env)).toThrow(/is not a URL/);
    });
});
