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
import { amountDue, parseUsageReceipt, usageProblem } from '../../wrappers';
import { PRICES, attestedProvider, deployProtocol, sendOpenSession, tokens } from '../../testkit';
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
        const record = (promptTokens: bigint, completionTokens: bigint) =>
            meter.record(session.address, {
                openedAt,
                key: prov.enclave.signing,
                prices: PRICES,
                usage: tokens(promptTokens, completionTokens),
                requestAt: openedAt,
            });
        const first = record(1200n, 800n);
        tracker.check(first.receipt, first.signature, { usage: tokens(1200n, 800n) });
        const second = record(300n, 2_000_000n);
        tracker.check(second.receipt, second.signature, { usage: tokens(300n, 2_000_000n) });
        expect([second.seqno, second.promptTokens, second.completionTokens]).toEqual([2, 1500n, 2_000_800n]);
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
        meter.record(session, { openedAt: 0, key, prices: PRICES, usage: tokens(1n, 1n), requestAt: 0, ...o });

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
        const served = (id: string, requestAt: number, n: bigint) =>
            record(meter, a, {
                requestAt,
                usage: tokens(n, n, { cached: n - 1n, reasoning: 1n }),
                request: { id, hash: Buffer.alloc(32), answer: () => Buffer.alloc(0), authenticate: mac },
            });
        served('request-after-close', 200, 5n); // accepted after the close (150), answered first
        served('request-before-close', 100, 7n); // accepted before it, answered second
        expect(meter.claimable(a, 150)).toBeNull(); // no receipt before the close counts it
        expect(meter.settlementUsage(a, 150, verify)).toEqual({ usage: tokens(7n, 7n, { cached: 6n, reasoning: 1n }), lastRequestAt: 100 });
        // a row the host altered is left out
        (meter as unknown as { db: Database.Database }).db
            .prepare(`UPDATE requests SET cached_tokens = 0 WHERE request_id = 'request-before-close'`)
            .run();
        expect(meter.settlementUsage(a, 150, verify)).toEqual({ usage: tokens(0n, 0n), lastRequestAt: 0 });
        const settled = meter.recordSettlement(a, { openedAt: 0, key, prices: PRICES, usage: tokens(7n, 7n), lastRequestAt: 100 });
        expect(settled).toMatchObject({ seqno: 3, promptTokens: 7n, lastRequestAt: 100 });
        expect(meter.claimable(a, 150)!.seqno).toBe(3);
        meter.close();
    });

    it('never signs a cumulative amount over the budget: rounding is absorbed by dropping tokens', () => {
        const meter = new Meter(':memory:', -239);
        const a = new Address(0, Buffer.alloc(32, 1));
        const prices = { prompt: 333_333n, cachedPrompt: 111_111n, completion: 777_777n, reasoning: 999_999n };
        const budget = 1_000n;
        let last;
        for (let i = 0; i < 5; i++)
            last = record(meter, a, { prices, budget, usage: tokens(700n, 500n, { cached: 300n, reasoning: 200n }) });
        expect(last!.amountDue).toBeLessThanOrEqual(budget);
        expect(last!.amountDue).toBe(amountDue(last!, prices));
        expect(usageProblem(last!)).toBeNull(); // parts dropped with their wholes
        meter.close();
    });

    it('refuses a database of an earlier release (two token classes), naming what to do, and opens an empty one', () => {
        for (const [version, tables] of [
            [0, 'CREATE TABLE receipts (session TEXT PRIMARY KEY, tokens_in TEXT, tokens_out TEXT);'],
            [2, 'CREATE TABLE receipts (session TEXT, seqno INTEGER, tokens_in TEXT, tokens_out TEXT); PRAGMA user_version = 2;'],
            [9, 'PRAGMA user_version = 9;'], // a later release's
        ] as const) {
            const path = join(tempDir(`meter-v${version}`), 'worker.sqlite');
            const old = new Database(path);
            old.exec(tables);
            old.close();
            expect(() => new Meter(path, -239)).toThrow(
                new RegExp(`schema version ${version}; this release reads version 3 .*Let the release that wrote it settle its sessions`),
            );
        }
        const fresh = new Meter(join(tempDir('meter-fresh'), 'worker.sqlite'), -239);
        expect(record(fresh, new Address(0, Buffer.alloc(32, 1))).seqno).toBe(1);
        fresh.close();
    });

    it('loses no receipt when the worker process is killed (kill -9) right after recording', async () => {
        const path = join(tempDir('meter-kill'), 'worker.sqlite');
        const script = `
            require('ts-node').register({ transpileOnly: true });
            const { Meter } = require(${JSON.stringify(join(__dirname, '../../worker/src/meter'))});
            const { Address } = require('@ton/core');
            const meter = new Meter(${JSON.stringify(path)}, -239);
            const key = { publicKey: Buffer.alloc(32), secretKey: Buffer.alloc(64) };
            const prices = { prompt: 1000n, cachedPrompt: 1000n, completion: 1000n, reasoning: 1000n };
            for (let i = 0; i < 50; i++)
                meter.record(new Address(0, Buffer.alloc(32, 1)), { openedAt: 0, key, prices, usage: { promptTokens: 1n, cachedTokens: 0n, completionTokens: 1n, reasoningTokens: 0n }, requestAt: 0 });
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
        expect(meter.latest(new Address(0, Buffer.alloc(32, 1)))).toMatchObject({ seqno: 50, promptTokens: 50n });
        meter.close();
    });

    it('acknowledges a session with a zero first receipt, once', () => {
        const meter = new Meter(':memory:', -239);
        const a = new Address(0, Buffer.alloc(32, 1));
        const ack = meter.acknowledge(a, 1_800_000_000, key, PRICES);
        expect([ack.seqno, ack.promptTokens, ack.completionTokens, ack.amountDue, ack.lastRequestAt]).toEqual([1, 0n, 0n, 0n, 0]);
        expect(meter.acknowledge(a, 1_800_000_000, key, PRICES).seqno).toBe(1); // not twice
        expect(record(meter, a, { openedAt: 1_800_000_000 }).seqno).toBe(2);
        expect(meter.acknowledge(a, 1_800_000_000, key, PRICES).seqno).toBe(2); // served: nothing to add
        meter.close();
    });

    it('counts on from the receipts it signed in this run, even when the host rolls the table back (no seqno signed twice)', () => {
        const meter = new Meter(':memory:', -239);
        const a = new Address(0, Buffer.alloc(32, 1));
        record(meter, a);
        const second = record(meter, a);
        // the host removes the latest receipt from the table on its disk
        (meter as unknown as { db: Database.Database }).db.prepare('DELETE FROM receipts WHERE seqno = 2').run();
        expect(meter.latestCounts(a)).toMatchObject({ seqno: 2, promptTokens: 2n, amountDue: second.amountDue });
        const third = record(meter, a);
        expect([third.seqno, third.promptTokens]).toEqual([3, 3n]);
        meter.close();
    });

    it('counts on from a receipt another process wrote to its database (a second worker started on it by mistake)', () => {
        const path = join(tempDir('meter'), 'worker.sqlite');
        const [mine, other] = [new Meter(path, -239), new Meter(path, -239)];
        const a = new Address(0, Buffer.alloc(32, 1));
        record(mine, a);
        expect(record(other, a).seqno).toBe(2);
        expect([record(mine, a).seqno, record(mine, a).seqno]).toEqual([3, 4]);
        expect(other.latest(a)!.seqno).toBe(4);
        mine.close();
        other.close();
    });

    it('refuses usage that cannot be: negative, a part above its whole, beyond the uint48 of a receipt', () => {
        const meter = new Meter(':memory:', -239);
        const a = new Address(0, Buffer.alloc(32));
        for (const [usage, problem] of [
            [tokens(-1n, 0n), 'promptTokens is negative'],
            [tokens(0n, 0n, { reasoning: -1n }), 'reasoningTokens is negative'],
            [tokens(5n, 0n, { cached: 6n }), 'cachedTokens exceed promptTokens'],
            [tokens(0n, 5n, { reasoning: 6n }), 'reasoningTokens exceed completionTokens'],
            [tokens(1n << 48n, 0n), 'promptTokens exceeds 2^48 - 1'],
        ] as const) {
            expect(() => record(meter, a, { usage })).toThrow(`not a usage: ${problem}`);
        }
        expect(meter.latest(a)).toBeNull(); // nothing signed
        meter.close();
    });
});
