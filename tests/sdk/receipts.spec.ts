// The client's receipt checks (sdk/receipts.ts).
import fc from 'fast-check';
import { DEFAULT_MAX_TOKENS, requestedMaxTokens } from '../../protocol/worker-api';
import { Address, beginCell, toNano } from '@ton/core';
import { amountDue, buildUsageReceipt, signUsageReceipt } from '../../wrappers';
import { ReceiptTracker } from '../../sdk';
import { PRICES, seededKey, tokens } from '../../testkit';

const session = new Address(0, Buffer.alloc(32, 1));
const enclave = seededKey('sdk-enclave');
const prices = PRICES;
const OPENED_AT = 1_800_000_000;
const view = { session, openedAt: OPENED_AT, globalId: -239, enclaveSigningKey: enclave.publicKey, prices, budget: toNano('5') };

function receipt(
    seqno: number,
    promptTokens: bigint,
    completionTokens: bigint,
    o: Partial<{
        amount: bigint;
        session: Address;
        key: Buffer;
        globalId: number;
        openedAt: number;
        lastRequestAt: number;
        cached: bigint;
        reasoning: bigint;
    }> = {},
) {
    const counts = tokens(promptTokens, completionTokens, o);
    const cell = buildUsageReceipt({
        globalId: o.globalId ?? -239,
        session: o.session ?? session,
        openedAt: o.openedAt ?? OPENED_AT,
        seqno,
        lastRequestAt: o.lastRequestAt ?? 0,
        ...counts,
        amountDue: o.amount ?? amountDue(counts, prices),
        resultsHash: 0n,
    });
    return [cell, signUsageReceipt(cell, o.key ?? enclave.secretKey)] as const;
}

// A receipt's bits under another tag (a cell of another kind).
function buildUsageReceiptWithTag(tag: bigint) {
    const bits = receipt(1, 1n, 1n)[0].beginParse();
    bits.skip(32);
    return beginCell().storeUint(tag, 32).storeSlice(bits).endCell();
}

const usage = (promptTokens: bigint, completionTokens: bigint, parts: { cached?: bigint; reasoning?: bigint } = {}) => ({
    usage: tokens(promptTokens, completionTokens, parts),
});

describe('ReceiptTracker', () => {
    it('accepts growing receipts that match the prices and what the answers reported', () => {
        const t = new ReceiptTracker(view);
        t.check(...receipt(1, 1000n, 2000n), usage(1000n, 2000n));
        const r = t.check(...receipt(2, 3000n, 5000n), usage(2000n, 3000n));
        expect(r.amountDue).toBe(amountDue(tokens(3000n, 5000n), prices));
        expect(t.latest.seqno).toBe(2);
        // the answer to a retried request carries the same receipt: accepted again
        expect(t.check(...receipt(2, 3000n, 5000n), usage(2000n, 3000n)).seqno).toBe(2);
    });

    const cases: [string, (t: ReceiptTracker) => void, string][] = [
        ['a signature by another key', (t) => t.check(...receipt(1, 1n, 1n, { key: seededKey('impostor').secretKey })), 'bad-signature'],
        [
            'a BoC that holds no receipt',
            (t) => t.check(Buffer.from('b5ee9c72010101010002000000', 'hex'), receipt(1, 1n, 1n)[1]),
            'malformed',
        ],
        ['a cell of another kind (its tag)', (t) => t.check(buildUsageReceiptWithTag(7n), receipt(1, 1n, 1n)[1]), 'malformed'],
        ['another session', (t) => t.check(...receipt(1, 1n, 1n, { session: new Address(0, Buffer.alloc(32, 9)) })), 'other-session'],
        ['another network', (t) => t.check(...receipt(1, 1n, 1n, { globalId: -3 })), 'other-session'],
        ['an earlier opening of the same address', (t) => t.check(...receipt(1, 1n, 1n, { openedAt: OPENED_AT - 1 })), 'other-session'],
        ['an amount above the prices', (t) => t.check(...receipt(1, 1_000_000n, 0n, { amount: toNano('0.05') + 1n })), 'amount-mismatch'],
        ['an amount above the budget', (t) => t.check(...receipt(1, 0n, 30_000_000n)), 'over-budget'],
        ['more tokens than the answer reported', (t) => t.check(...receipt(1, 1000n, 2500n), usage(1000n, 2000n)), 'overcharge'],
        [
            'tokens no answer explains, beyond what the requests in flight could cost',
            (t) => {
                t.expect(tokens(100n, 100n)); // one other request in flight
                const mine = t.expect(tokens(100n, 100n));
                // #2 answers mine (10/10); #1 may be the other one, at most 100/100
                t.check(...receipt(2, 120n, 10n), { ...usage(10n, 10n), outstanding: mine });
            },
            'overcharge',
        ],
        [
            "an answer that reports more than its own request's worst case, though the receipt matches it",
            (t) => {
                const mine = t.expect(tokens(100n, 50n)); // prompt at most 100, answer at most 50
                t.check(...receipt(1, 100n, 60n), { ...usage(100n, 60n), outstanding: mine });
            },
            'overcharge',
        ],
        [
            'a receipt that does not add what its answer reported to the one before it',
            (t) => {
                t.check(...receipt(3, 30n, 30n), usage(10n, 10n)); // #1, #2 unseen... and nothing in flight
            },
            'overcharge',
        ],
        [
            'two receipts with one seqno',
            (t) => {
                t.check(...receipt(2, 10n, 10n));
                t.check(...receipt(2, 20n, 20n));
            },
            'equivocation',
        ],
        [
            'counts that shrink',
            (t) => {
                t.check(...receipt(1, 10n, 10n));
                t.check(...receipt(2, 5n, 20n));
            },
            'stale',
        ],
        [
            'a receipt that does not fit below a later one',
            (t) => {
                t.expect(tokens(100n, 100n));
                t.expect(tokens(100n, 100n));
                t.check(...receipt(3, 20n, 20n), usage(10n, 10n));
                t.check(...receipt(2, 30n, 10n), usage(10n, 10n));
            },
            'stale',
        ],
        [
            'a receipt dated in the future',
            (t) => t.check(...receipt(1, 1n, 1n, { lastRequestAt: OPENED_AT + 1000 }), { now: OPENED_AT }),
            'bad-time',
        ],
        [
            'a receipt older than the one counts were restored from',
            (t) => {
                t.restore(...receipt(5, 50n, 50n));
                t.check(...receipt(4, 40n, 40n));
            },
            'stale',
        ],
    ];

    it.each(cases)('rejects %s, naming the problem', (_name, act, problem) => {
        const t = new ReceiptTracker(view);
        expect(() => act(t)).toThrow(expect.objectContaining({ problem }));
    });

    it('keeps the last good state after a rejection', () => {
        const t = new ReceiptTracker(view);
        t.check(...receipt(1, 10n, 10n));
        expect(() => t.check(...receipt(2, 10n, 10n, { key: seededKey('impostor').secretKey }))).toThrow();
        expect(t.latest.seqno).toBe(1);
        expect(t.check(...receipt(2, 20n, 20n)).seqno).toBe(2);
    });

    it('re-checks the receipts it accepted when a request turns out not to have been served', () => {
        // a worker counts a phantom charge into #2 while another request (B) is in flight, then
        // refuses B: the room B left is gone, and so is the excuse for #2
        const t = new ReceiptTracker(view);
        const a = t.expect(tokens(100n, 100n), 'request-a');
        const b = t.expect(tokens(100n, 100n), 'request-b');
        t.check(...receipt(2, 60n, 60n), { ...usage(10n, 10n), outstanding: a });
        expect(() => t.release(b)).toThrow(expect.objectContaining({ problem: 'overcharge' }));
        // an honest one: releasing leaves nothing unexplained
        const honest = new ReceiptTracker(view);
        const c = honest.expect(tokens(100n, 100n), 'request-c');
        const d = honest.expect(tokens(100n, 100n), 'request-d');
        honest.check(...receipt(1, 10n, 10n), { ...usage(10n, 10n), outstanding: c });
        expect(() => honest.release(d)).not.toThrow();
        // the same request id expected twice is one outstanding request
        const e = honest.expect(tokens(100n, 100n), 'request-e');
        honest.expect(tokens(100n, 100n), 'request-e');
        expect(() => honest.check(...receipt(3, 110n, 110n), { ...usage(0n, 0n), outstanding: e })).toThrow(
            expect.objectContaining({ problem: 'overcharge' }),
        );
    });

    it('keeps a bounded number of receipts over a long session', () => {
        const t = new ReceiptTracker(view);
        for (let i = 1; i <= 300; i++) t.check(...receipt(i, BigInt(i), BigInt(i)), usage(1n, 1n));
        expect(t.latest).toMatchObject({ seqno: 300, promptTokens: 300n });
        expect((t as unknown as { entries: Map<number, unknown> }).entries.size).toBeLessThanOrEqual(65);
        expect(() => t.check(...receipt(301, 302n, 301n), usage(1n, 1n))).toThrow(expect.objectContaining({ problem: 'overcharge' }));
    });

    it('starts from the next receipt when resumed without the last one', () => {
        const t = new ReceiptTracker(view);
        t.forgetCounts();
        expect(t.check(...receipt(7, 700n, 700n), usage(1n, 1n)).seqno).toBe(7);
        expect(() => t.check(...receipt(8, 800n, 800n), usage(1n, 1n))).toThrow(expect.objectContaining({ problem: 'overcharge' }));
        expect(t.check(...receipt(8, 701n, 702n), usage(1n, 2n)).seqno).toBe(8);
    });

    // An honest worker serving N parallel requests signs receipts in the order it finishes them; the
    // answers reach the client in any order (and some twice, as retries). The client accepts them
    // all; a worker that adds one token anywhere is caught once the answers are in.
    it('accepts an honest worker whatever order the answers come in, and catches one extra token', () => {
        fc.assert(
            fc.property(
                fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 50 })), { minLength: 1, maxLength: 8 }),
                fc.infiniteStream(fc.nat()),
                fc.option(fc.nat(), { nil: undefined }),
                (usages, order, cheatAt) => {
                    const t = new ReceiptTracker(view);
                    const pending = usages.map(() => t.expect(tokens(50n, 50n)));
                    // the worker finishes request i as receipt #(i + 2) (#1: its acknowledgement)
                    const cheat = cheatAt === undefined ? -1 : cheatAt % usages.length;
                    let [cin, cout] = [0n, 0n];
                    const answers = usages.map(([a, b], i) => {
                        cin += BigInt(a);
                        cout += BigInt(b) + (i === cheat ? 1n : 0n);
                        return { i, cell: receipt(i + 2, cin, cout), usage: tokens(BigInt(a), BigInt(b)) };
                    });
                    const shuffled = [...answers];
                    const it = order[Symbol.iterator]();
                    for (let k = shuffled.length - 1; k > 0; k--) {
                        const j = it.next().value % (k + 1);
                        [shuffled[k], shuffled[j]] = [shuffled[j], shuffled[k]];
                    }
                    let caught = false;
                    for (const a of shuffled.flatMap((x) => [x, x])) {
                        try {
                            t.check(...a.cell, { usage: a.usage, outstanding: pending[a.i] });
                        } catch (e) {
                            caught = true;
                            expect(e).toMatchObject({ problem: 'overcharge' });
                            break;
                        }
                    }
                    expect(caught).toBe(cheat >= 0);
                    if (!caught) expect(t.latest).toMatchObject({ seqno: usages.length + 1, promptTokens: cin, completionTokens: cout });
                },
            ),
            { numRuns: 300 },
        );
    });
});

describe('request bounds', () => {
    it('never lets a bound be negative or fractional, whatever reaches it', () => {
        expect(requestedMaxTokens({ max_tokens: 5 })).toBe(5);
        expect(requestedMaxTokens({})).toBe(DEFAULT_MAX_TOKENS);
        for (const bad of [{ max_tokens: -5 }, { max_completion_tokens: 2.5 }, { max_tokens: 0 }])
            expect(() => requestedMaxTokens(bad)).toThrow('positive integer');
    });
});
