// The client's side of metering: every receipt a worker returns is checked before the client
// relies on it. The same rules the Session enforces on-chain (signature by the attested enclave
// key, this session and network, increasing seqno, amount = prices x tokens, within the budget),
// plus one only the client can check: the worker does not count more tokens than the client saw.
import { Address, Cell } from '@ton/core';
import { PriceRates, RECEIPT_TAG, ReceiptFields, amountDue, parseUsageReceipt, verifyUsageReceipt } from '../wrappers';

export type ReceiptProblem = 'bad-signature' | 'other-session' | 'stale' | 'amount-mismatch' | 'over-budget' | 'overcharge' | 'malformed';

export class ReceiptRejected extends Error {
    constructor(
        readonly problem: ReceiptProblem,
        message: string,
    ) {
        super(message);
        this.name = 'ReceiptRejected';
    }
}

export interface SessionView {
    session: Address;
    openedAt: number; // the Session's opened_at: receipts are bound to it
    globalId: number;
    enclaveSigningKey: Buffer; // from the session's terms
    prices: PriceRates;
    budget: bigint; // updated on a top-up
}

export class ReceiptTracker {
    private last = { seqno: 0, tokensIn: 0n, tokensOut: 0n, amountDue: 0n };

    constructor(private readonly view: SessionView) {}

    set budget(budget: bigint) {
        this.view.budget = budget;
    }

    get latest() {
        return { ...this.last };
    }

    // Checks a receipt; `seen` is the client's own cumulative token count, when it has one.
    // Returns the receipt's fields; throws ReceiptRejected (and keeps the previous state) otherwise.
    check(receipt: Cell, signature: Buffer, seen?: { tokensIn: bigint; tokensOut: bigint }): ReceiptFields {
        let r: ReturnType<typeof parseUsageReceipt>;
        try {
            r = parseUsageReceipt(receipt);
        } catch (e) {
            throw new ReceiptRejected('malformed', `the receipt cannot be read: ${(e as Error).message}`);
        }
        if (r.tag !== RECEIPT_TAG) throw new ReceiptRejected('malformed', 'not a usage receipt');
        if (!verifyUsageReceipt(receipt, signature, this.view.enclaveSigningKey)) {
            throw new ReceiptRejected('bad-signature', "the receipt is not signed by the session's attested enclave key");
        }
        if (!r.session.equals(this.view.session) || r.openedAt !== this.view.openedAt || r.globalId !== this.view.globalId) {
            throw new ReceiptRejected('other-session', 'the receipt is for another session or network');
        }
        if (
            r.seqno <= this.last.seqno ||
            r.tokensIn < this.last.tokensIn ||
            r.tokensOut < this.last.tokensOut ||
            r.amountDue < this.last.amountDue
        ) {
            throw new ReceiptRejected(
                'stale',
                `receipt #${r.seqno} does not follow #${this.last.seqno}: seqno, token counts and amount must only grow`,
            );
        }
        const due = amountDue(r.tokensIn, r.tokensOut, this.view.prices);
        if (r.amountDue !== due) {
            throw new ReceiptRejected(
                'amount-mismatch',
                `the receipt asks ${r.amountDue} nanotons for ${r.tokensIn} + ${r.tokensOut} tokens; the listed prices make ${due}`,
            );
        }
        if (r.amountDue > this.view.budget) throw new ReceiptRejected('over-budget', 'the receipt asks more than the session budget');
        if (seen && (r.tokensIn > seen.tokensIn || r.tokensOut > seen.tokensOut)) {
            throw new ReceiptRejected(
                'overcharge',
                `the worker counts ${r.tokensIn} in / ${r.tokensOut} out tokens; this client saw ${seen.tokensIn} / ${seen.tokensOut}: stop sending requests and close the session`,
            );
        }
        this.last = { seqno: r.seqno, tokensIn: r.tokensIn, tokensOut: r.tokensOut, amountDue: r.amountDue };
        return r;
    }
}
