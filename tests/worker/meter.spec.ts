// The worker's metering (worker/src/meter.ts) with the client's checks (sdk/receipts.ts) and the
// Session on the sandbox: receipts signed per request, accepted by the client, the latest one
// surviving a restart and paid on-chain.
import { join } from 'path';
import { Address, toNano } from '@ton/core';
import '@ton/test-utils';
import { ReceiptTracker } from '../../sdk';
import { Meter } from '../../worker/src/meter';
import { PRICES, attestedProvider, deployProtocol, sendOpenSession } from '../../testkit';
import { tempDir } from '../tmp';

describe('worker metering', () => {
    it('signs cumulative receipts the client accepts; the latest survives a restart and is paid', async () => {
        const p = await deployProtocol();
        const prov = await attestedProvider(p);
        const { session } = await sendOpenSession(p, prov.owner.address);
        const path = join(tempDir('meter'), 'worker.sqlite');
        const openedAt = Number(await session.getOpenedAt());
        const tracker = new ReceiptTracker({
            session: session.address,
            openedAt,
            globalId: p.globalId,
            enclaveSigningKey: prov.enclave.signing.publicKey,
            prices: PRICES,
            budget: await session.getBudget(),
        });

        const meter = new Meter(path, p.globalId);
        const first = meter.record(session.address, openedAt, prov.enclave.signing, PRICES, { tokensIn: 1200n, tokensOut: 800n }, 1n);
        tracker.check(first.receipt, first.signature, { tokensIn: 1200n, tokensOut: 800n });
        const second = meter.record(session.address, openedAt, prov.enclave.signing, PRICES, { tokensIn: 300n, tokensOut: 2_000_000n }, 2n);
        tracker.check(second.receipt, second.signature, { tokensIn: 1500n, tokensOut: 2_000_800n });
        expect([second.seqno, second.tokensIn, second.tokensOut]).toEqual([2, 1500n, 2_000_800n]);
        meter.close(); // the worker restarts; its enclave keys are gone, its receipts are not

        const restarted = new Meter(path, p.globalId);
        const latest = restarted.latest(session.address)!;
        expect(latest.seqno).toBe(2);
        expect(latest.receipt.hash().equals(second.receipt.hash())).toBe(true);
        const r = await session.send(
            prov.owner.getSender(),
            { value: toNano('0.05') },
            {
                $$type: 'ClaimUsage',
                queryId: 0n,
                receipt: latest.receipt,
                signature: latest.signature,
            },
        );
        expect(r.transactions).toHaveTransaction({ from: session.address, to: prov.owner.address, success: true });
        expect(await session.getClaimed()).toBe(latest.amountDue);
        expect(restarted.latest(p.root.address)).toBeNull();
        restarted.close();
    });

    it('logs served requests once per session, and forgets a session once it is settled', () => {
        const meter = new Meter(':memory:', -239);
        const a = new Address(0, Buffer.alloc(32, 1));
        const b = new Address(0, Buffer.alloc(32, 2));
        const enc = Buffer.alloc(32, 7);
        expect(meter.firstUse(a, enc)).toBe(true);
        expect(meter.firstUse(a, enc)).toBe(false); // a replay
        expect(meter.firstUse(b, enc)).toBe(true); // another session is another log
        const key = { publicKey: Buffer.alloc(32), secretKey: Buffer.alloc(64) };
        meter.record(a, 0, key, PRICES, { tokensIn: 1n, tokensOut: 1n }, 0n);
        meter.record(b, 0, key, PRICES, { tokensIn: 1n, tokensOut: 1n }, 0n);
        expect(
            meter
                .unsettled()
                .map((x) => x.toRawString())
                .sort(),
        ).toEqual([a.toRawString(), b.toRawString()].sort());
        meter.markSettled(a);
        expect(meter.unsettled().map((x) => x.toRawString())).toEqual([b.toRawString()]);
        expect(meter.latest(a)!.seqno).toBe(1); // kept for the record
        meter.record(a, 0, key, PRICES, { tokensIn: 1n, tokensOut: 1n }, 0n);
        expect(meter.unsettled()).toHaveLength(1); // settled stays settled
        meter.close();
    });

    it('acknowledges a session with a zero first receipt, once', () => {
        const meter = new Meter(':memory:', -239);
        const a = new Address(0, Buffer.alloc(32, 1));
        const key = { publicKey: Buffer.alloc(32), secretKey: Buffer.alloc(64) };
        const ack = meter.acknowledge(a, 1_800_000_000, key, PRICES);
        expect([ack.seqno, ack.tokensIn, ack.tokensOut, ack.amountDue]).toEqual([1, 0n, 0n, 0n]);
        expect(meter.acknowledge(a, 1_800_000_000, key, PRICES).seqno).toBe(1); // not twice
        expect(meter.record(a, 1_800_000_000, key, PRICES, { tokensIn: 5n, tokensOut: 0n }, 0n).seqno).toBe(2);
        expect(meter.acknowledge(a, 1_800_000_000, key, PRICES).seqno).toBe(2); // served: nothing to add
        meter.close();
    });

    it('refuses negative usage', () => {
        const meter = new Meter(':memory:', -239);
        const key = { publicKey: Buffer.alloc(32), secretKey: Buffer.alloc(64) };
        expect(() => meter.record(new Address(0, Buffer.alloc(32)), 0, key, PRICES, { tokensIn: -1n, tokensOut: 0n }, 0n)).toThrow(
            'token counts cannot be negative',
        );
        meter.close();
    });
});
