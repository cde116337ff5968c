// The client's receipt checks (sdk/receipts.ts).
import { Address, toNano } from '@ton/core';
import { amountDue, buildUsageReceipt, signUsageReceipt } from '../../wrappers';
import { ReceiptTracker } from '../../sdk';
import { seededKey } from '../../testkit';

const session = new Address(0, Buffer.alloc(32, 1));
const enclave = seededKey('sdk-enclave');
const prices = { pricePerMillionIn: toNano('0.05'), pricePerMillionOut: toNano('0.2') };
const OPENED_AT = 1_800_000_000;
const view = { session, openedAt: OPENED_AT, globalId: -239, enclaveSigningKey: enclave.publicKey, prices, budget: toNano('5') };

function receipt(
    seqno: number,
    tokensIn: bigint,
    tokensOut: bigint,
    o: Partial<{ amount: bigint; session: Address; key: Buffer; globalId: number; openedAt: number }> = {},
) {
    const cell = buildUsageReceipt({
        globalId: o.globalId ?? -239,
        session: o.session ?? session,
        openedAt: o.openedAt ?? OPENED_AT,
        seqno,
        tokensIn,
        tokensOut,
        amountDue: o.amount ?? amountDue(tokensIn, tokensOut, prices),
        resultsHash: 0n,
    });
    return [cell, signUsageReceipt(cell, o.key ?? enclave.secretKey)] as const;
}

describe('ReceiptTracker', () => {
    it('accepts growing receipts that match the prices and what the client saw', () => {
        const t = new ReceiptTracker(view);
        t.check(...receipt(1, 1000n, 2000n), { tokensIn: 1000n, tokensOut: 2000n });
        const r = t.check(...receipt(2, 3000n, 5000n), { tokensIn: 3000n, tokensOut: 5000n });
        expect(r.amountDue).toBe(amountDue(3000n, 5000n, prices));
        expect(t.latest.seqno).toBe(2);
    });

    const cases: [string, (t: ReceiptTracker) => void, string][] = [
        ['a signature by another key', (t) => t.check(...receipt(1, 1n, 1n, { key: seededKey('impostor').secretKey })), 'bad-signature'],
        ['another session', (t) => t.check(...receipt(1, 1n, 1n, { session: new Address(0, Buffer.alloc(32, 9)) })), 'other-session'],
        ['another network', (t) => t.check(...receipt(1, 1n, 1n, { globalId: -3 })), 'other-session'],
        ['an earlier opening of the same address', (t) => t.check(...receipt(1, 1n, 1n, { openedAt: OPENED_AT - 1 })), 'other-session'],
        ['an amount above the prices', (t) => t.check(...receipt(1, 1_000_000n, 0n, { amount: toNano('0.05') + 1n })), 'amount-mismatch'],
        ['an amount above the budget', (t) => t.check(...receipt(1, 0n, 30_000_000n)), 'over-budget'],
        [
            'more tokens than the client saw',
            (t) => t.check(...receipt(1, 1000n, 2500n), { tokensIn: 1000n, tokensOut: 2000n }),
            'overcharge',
        ],
        [
            'a seqno that does not grow',
            (t) => {
                t.check(...receipt(2, 10n, 10n));
                t.check(...receipt(2, 20n, 20n));
            },
            'stale',
        ],
        [
            'counts that shrink',
            (t) => {
                t.check(...receipt(1, 10n, 10n));
                t.check(...receipt(2, 5n, 20n));
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
});
