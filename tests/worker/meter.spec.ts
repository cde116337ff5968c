// The worker's metering (worker/src/meter.ts) with the client's checks (sdk/receipts.ts) and the
// Session on the sandbox: receipts signed per request, accepted by the client, the latest one
// surviving a restart and paid on-chain.
import { join } from 'path';
import { Address, toNano } from '@ton/core';
import '@ton/test-utils';
import { ReceiptTracker } from '../../sdk';
import { spawn } from 'child_process';
import Database from 'better-sqlite3';
import { createHmac } from 'crypto';
import { Meter, RecordOptions, RequestRow, requestRowBytes } from '../../worker/src/meter';
import { amountDue, parseUsageReceipt } from '../../wrappers';
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
        const record = (tokensIn: bigint, tokensOut: bigint) =>
            meter.record(session.address, {
                openedAt,
                key: prov.enclave.signing,
                prices: PRICES,
                usage: { tokensIn, tokensOut },
                requestAt: openedAt,
            });
        const first = record(1200n, 800n);
        tracker.check(first.receipt, first.signature, { usage: { tokensIn: 1200n, tokensOut: 800n } });
        const second = record(300n, 2_000_000n);
        tracker.check(second.receipt, second.signature, { usage: { tokensIn: 300n, tokensOut: 2_000_000n } });
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

    const key = { publicKey: Buffer.alloc(32), secretKey: Buffer.alloc(64) };
    const record = (meter: Meter, session: Address, o: Partial<RecordOptions> = {}) =>
        meter.record(session, { openedAt: 0, key, prices: PRICES, usage: { tokensIn: 1n, tokensOut: 1n }, requestAt: 0, ...o });

    it('keeps each answer with its receipt for retries, drops it after the retention, and forgets a session once it is settled', () => {
        const meter = new Meter(':memory:', -239);
        const a = new Address(0, Buffer.alloc(32, 1));
        const b = new Address(0, Buffer.alloc(32, 2));
        const hash = Buffer.alloc(32, 7);
        const first = record(meter, a, {
            request: {
                id: 'request-0000000001',
                hash,
                answer: (r) => Buffer.from(`answer ${r.seqno}`),
                authenticate: () => Buffer.alloc(32),
            },
        });
        expect(meter.answerOf(a, 'request-0000000001')).toEqual({ requestHash: hash, seqno: first.seqno, answer: Buffer.from('answer 1') });
        expect(meter.answerOf(b, 'request-0000000001')).toBeNull(); // another session is another log
        record(meter, a);
        record(meter, b);
        expect(
            meter
                .unsettled()
                .map((x) => x.toRawString())
                .sort(),
        ).toEqual([a.toRawString(), b.toRawString()].sort());
        expect(meter.expireAnswers(Math.floor(Date.now() / 1000) + 1)).toBe(1);
        expect(meter.answerOf(a, 'request-0000000001')).toMatchObject({ seqno: 1, answer: null }); // the id stays: never served twice
        meter.markSettled(a);
        expect(meter.unsettled().map((x) => x.toRawString())).toEqual([b.toRawString()]);
        expect(meter.latest(a)!.seqno).toBe(2); // kept for the record
        expect(meter.claimable(a, 0)!.seqno).toBe(2); // its earlier receipts are gone
        expect(meter.answerOf(a, 'request-0000000001')).toBeNull();
        record(meter, a);
        expect(meter.unsettled()).toHaveLength(1); // settled stays settled
        meter.close();
    });

    it('dates every receipt by its latest request, and finds the latest receipt a close or deadline still pays', () => {
        const meter = new Meter(':memory:', -239);
        const a = new Address(0, Buffer.alloc(32, 1));
        record(meter, a, { requestAt: 100 });
        record(meter, a, { requestAt: 90 }); // a request accepted earlier, finished later
        record(meter, a, { requestAt: 200 });
        expect(meter.latest(a)).toMatchObject({ seqno: 3, lastRequestAt: 200 });
        expect(meter.claimable(a, 150)).toMatchObject({ seqno: 2, lastRequestAt: 100 });
        expect(meter.claimable(a, 99)).toBeNull();
        expect(parseUsageReceipt(meter.claimable(a, 150)!.receipt).lastRequestAt).toBe(100);
        meter.close();
    });

    it('counts for a settlement receipt only the requests accepted by the end, from rows the enclave authenticated', () => {
        const meter = new Meter(':memory:', -239);
        const a = new Address(0, Buffer.alloc(32, 1));
        const mac = (row: RequestRow) => createHmac('sha256', 'enclave').update(requestRowBytes(row)).digest();
        const verify = (row: RequestRow, m: Buffer) => mac(row).equals(m);
        const served = (id: string, requestAt: number, tokens: bigint) =>
            record(meter, a, {
                requestAt,
                usage: { tokensIn: tokens, tokensOut: tokens },
                request: { id, hash: Buffer.alloc(32), answer: () => Buffer.alloc(0), authenticate: mac },
            });
        served('request-after-close', 200, 5n); // accepted after the close (150), answered first
        served('request-before-close', 100, 7n); // accepted before it, answered second
        expect(meter.claimable(a, 150)).toBeNull(); // no receipt before the close counts it
        expect(meter.settlementUsage(a, 150, verify)).toEqual({ tokensIn: 7n, tokensOut: 7n, lastRequestAt: 100 });
        // a row the host altered is left out
        (meter as unknown as { db: Database.Database }).db
            .prepare(`UPDATE requests SET tokens_in = '700' WHERE request_id = 'request-before-close'`)
            .run();
        expect(meter.settlementUsage(a, 150, verify)).toEqual({ tokensIn: 0n, tokensOut: 0n, lastRequestAt: 0 });
        const settled = meter.recordSettlement(a, { openedAt: 0, key, prices: PRICES, tokensIn: 7n, tokensOut: 7n, lastRequestAt: 100 });
        expect(settled).toMatchObject({ seqno: 3, tokensIn: 7n, lastRequestAt: 100 });
        expect(meter.claimable(a, 150)!.seqno).toBe(3);
        meter.close();
    });

    it('never signs a cumulative amount over the budget: rounding is absorbed by dropping tokens', () => {
        const meter = new Meter(':memory:', -239);
        const a = new Address(0, Buffer.alloc(32, 1));
        const prices = { pricePerMillionIn: 333_333n, pricePerMillionOut: 777_777n };
        const budget = 1_000n;
        let last;
        for (let i = 0; i < 5; i++) last = record(meter, a, { prices, budget, usage: { tokensIn: 700n, tokensOut: 500n } });
        expect(last!.amountDue).toBeLessThanOrEqual(budget);
        expect(last!.amountDue).toBe(amountDue(last!.tokensIn, last!.tokensOut, prices));
        meter.close();
    });

    it('reads a version-0 database: the latest receipts and settled flags carry over', () => {
        const path = join(tempDir('meter-v0'), 'worker.sqlite');
        const old = new Database(path);
        old.exec(`CREATE TABLE receipts (session TEXT PRIMARY KEY, seqno INTEGER NOT NULL, tokens_in TEXT NOT NULL, tokens_out TEXT NOT NULL,
            amount_due TEXT NOT NULL, receipt TEXT NOT NULL, signature TEXT NOT NULL, settled INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE requests (session TEXT NOT NULL, enc TEXT NOT NULL, PRIMARY KEY (session, enc));
            CREATE TABLE cursor (name TEXT PRIMARY KEY, lt TEXT NOT NULL);
            INSERT INTO cursor VALUES ('provider', '42');`);
        const scratch = new Meter(':memory:', -239);
        const a = new Address(0, Buffer.alloc(32, 1));
        const r = record(scratch, a, { usage: { tokensIn: 5n, tokensOut: 6n } });
        old.prepare('INSERT INTO receipts VALUES (?, ?, ?, ?, ?, ?, ?, 0)').run(
            a.toRawString(),
            r.seqno,
            '5',
            '6',
            r.amountDue.toString(),
            r.receipt.toBoc().toString('base64'),
            r.signature.toString('hex'),
        );
        old.close();
        const meter = new Meter(path, -239);
        expect(meter.latest(a)).toMatchObject({ seqno: 1, tokensIn: 5n, tokensOut: 6n });
        expect(meter.unsettled().map((x) => x.toRawString())).toEqual([a.toRawString()]);
        expect(meter.scannedLt()).toBe(42n);
        expect(record(meter, a).seqno).toBe(2);
        meter.close();
        scratch.close();
    });

    it('loses no receipt when the worker process is killed (kill -9) right after recording', async () => {
        const path = join(tempDir('meter-kill'), 'worker.sqlite');
        const script = `
            require('ts-node').register({ transpileOnly: true });
            const { Meter } = require(${JSON.stringify(join(__dirname, '../../worker/src/meter'))});
            const { Address } = require('@ton/core');
            const meter = new Meter(${JSON.stringify(path)}, -239);
            const key = { publicKey: Buffer.alloc(32), secretKey: Buffer.alloc(64) };
            const prices = { pricePerMillionIn: 1000n, pricePerMillionOut: 1000n };
            for (let i = 0; i < 50; i++)
                meter.record(new Address(0, Buffer.alloc(32, 1)), { openedAt: 0, key, prices, usage: { tokensIn: 1n, tokensOut: 1n }, requestAt: 0 });
            process.stdout.write('recorded\\n');
            setInterval(() => {}, 1000); // stays alive until killed
        `;
        const child = spawn(process.execPath, ['-e', script], { cwd: join(__dirname, '../..'), stdio: ['ignore', 'pipe', 'inherit'] });
        await new Promise<void>((resolve, reject) => {
            child.stdout!.on('data', (d: Buffer) => d.toString().includes('recorded') && resolve());
            child.on('exit', (code) => reject(new Error(`the child exited (${code}) before recording`)));
        });
        child.kill('SIGKILL');
        await new Promise((r) => child.on('exit', r));
        const meter = new Meter(path, -239);
        expect(meter.latest(new Address(0, Buffer.alloc(32, 1)))).toMatchObject({ seqno: 50, tokensIn: 50n });
        meter.close();
    });

    it('acknowledges a session with a zero first receipt, once', () => {
        const meter = new Meter(':memory:', -239);
        const a = new Address(0, Buffer.alloc(32, 1));
        const ack = meter.acknowledge(a, 1_800_000_000, key, PRICES);
        expect([ack.seqno, ack.tokensIn, ack.tokensOut, ack.amountDue, ack.lastRequestAt]).toEqual([1, 0n, 0n, 0n, 0]);
        expect(meter.acknowledge(a, 1_800_000_000, key, PRICES).seqno).toBe(1); // not twice
        expect(record(meter, a, { openedAt: 1_800_000_000 }).seqno).toBe(2);
        expect(meter.acknowledge(a, 1_800_000_000, key, PRICES).seqno).toBe(2); // served: nothing to add
        meter.close();
    });

    it('refuses negative usage', () => {
        const meter = new Meter(':memory:', -239);
        expect(() => record(meter, new Address(0, Buffer.alloc(32)), { usage: { tokensIn: -1n, tokensOut: 0n } })).toThrow(
            'token counts cannot be negative',
        );
        meter.close();
    });
});
