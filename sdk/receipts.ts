// The client's side of metering: every receipt a worker returns is checked before the client
// relies on it. The same rules the Session enforces on-chain (signature by the attested enclave
// key, this session and network, amount = prices x tokens, within the budget), plus what only the
// client can check: the worker counts no more tokens than its answers reported.
//
// Requests of a session run in parallel, so answers (and their receipts) arrive in any order.
// Receipts are still a total order by seqno: each one the client sees must fit between its
// neighbours (counts only grow with seqno); where two are adjacent, the difference is exactly the
// usage the later answer reported; and what no answer explains (receipts for requests still in
// flight, or whose answer was lost) is at most the worst case of the client's own unanswered
// requests.
import { Address, Cell } from '@ton/core';
import {
    NO_USAGE,
    PriceRates,
    RECEIPT_TAG,
    ReceiptFields,
    TOKEN_FIELDS,
    TokenUsage,
    addUsage,
    amountDue,
    decodeUsageReceipt,
    parseUsageReceipt,
    usageProblem,
    verifyReceiptHash,
} from '../wrappers';

/** A receipt as a cell, or as the BoC a worker sends (read without making a Cell). */
export type ReceivedReceipt = Cell | Buffer;

/** Why a receipt was rejected: a bad signature, another session or network, a wrong amount or count, out of order. */
export type ReceiptProblem =
    | 'bad-signature'
    | 'other-session'
    | 'stale'
    | 'equivocation'
    | 'amount-mismatch'
    | 'over-budget'
    | 'overcharge'
    | 'bad-time'
    | 'malformed';

/**
 * A worker's receipt failed a check (`problem` says which): the worker misreports usage, and the session stops taking
 * requests.
 */
export class ReceiptRejected extends Error {
    constructor(
        readonly problem: ReceiptProblem,
        message: string,
    ) {
        super(message);
        this.name = 'ReceiptRejected';
    }
}

/** What ReceiptTracker checks receipts against: the session, its network and enclave signing key, prices and budget. */
export interface SessionView {
    session: Address;
    openedAt: number; // the Session's opened_at: receipts are bound to it
    globalId: number;
    enclaveSigningKey: Buffer; // from the session's terms
    prices: PriceRates;
    budget: bigint; // updated on a top-up
}

/**
 * A request the client sent and has no checked answer for yet (by its request id), with the most
 * it may cost.
 */
export interface Outstanding {
    readonly id: string;
}

interface Entry extends TokenUsage {
    seqno: number;
    amountDue: bigint;
    lastRequestAt: number;
    hash: Buffer;
    usage?: TokenUsage; // what the answer carrying this receipt reported
}

// Token counts as a short text: "prompt 12 (cached 4), completion 30 (reasoning 8)".
function describe(u: TokenUsage): string {
    return `prompt ${u.promptTokens} (cached ${u.cachedTokens}), completion ${u.completionTokens} (reasoning ${u.reasoningTokens})`;
}

const sameUsage = (a: TokenUsage, b: TokenUsage) => TOKEN_FIELDS.every((f) => a[f] === b[f]);
const difference = (b: TokenUsage, a: TokenUsage): TokenUsage =>
    Object.fromEntries(TOKEN_FIELDS.map((f) => [f, b[f] - a[f]])) as unknown as TokenUsage;

const KEPT_RECEIPTS = 64;

/** How far a receipt's lastRequestAt may be from the client's view of the chain clock. */
export const RECEIPT_CLOCK_SKEW_SECONDS = 120;

/**
 * Checks every receipt of one session before the client relies on it: the Session's own rules (signature, session,
 * amount, budget) and that the counts fit the usage the answers reported and the bounds of requests still unanswered.
 */
export class ReceiptTracker {
    // The receipt counts start from (seqno 0: the session's start); null when unknown (a session
    // resumed without its last receipt: the next receipt becomes the baseline).
    private baseline: Entry | null = { seqno: 0, ...NO_USAGE, amountDue: 0n, lastRequestAt: 0, hash: Buffer.alloc(0) };
    private entries = new Map<number, Entry>(); // receipts accepted after the baseline, by seqno
    private outstanding = new Map<string, TokenUsage>();
    private nextId = 1;

    constructor(private readonly view: SessionView) {}

    set budget(budget: bigint) {
        this.view.budget = budget;
    }

    // The receipt with the highest seqno accepted: what the provider may claim at most.
    get latest() {
        let top = this.baseline ?? { seqno: 0, ...NO_USAGE, amountDue: 0n, lastRequestAt: 0 };
        for (const e of this.entries.values()) if (e.seqno > top.seqno) top = e;
        const { seqno, promptTokens, cachedTokens, completionTokens, reasoningTokens, amountDue } = top;
        return { seqno, promptTokens, cachedTokens, completionTokens, reasoningTokens, amountDue };
    }

    // Resuming: this receipt (the last one accepted before) is the new starting point.
    restore(receipt: ReceivedReceipt, signature: Buffer): ReceiptFields {
        const { fields: r, hash } = this.verified(receipt, signature);
        this.baseline = entryOf(r, hash);
        this.entries.clear();
        return r;
    }

    // Resuming without the last receipt: the next one accepted is the new starting point.
    forgetCounts() {
        this.baseline = null;
        this.entries.clear();
    }

    // A request about to be sent, with the most it may be charged (requestTokenBounds). The same
    // request id again (the application retrying) is the same outstanding request: a worker serves
    // and charges an id once.
    expect(bound: TokenUsage, requestId?: string): Outstanding {
        const id = requestId ?? `#${this.nextId++}`;
        if (!this.outstanding.has(id)) this.outstanding.set(id, bound);
        return { id };
    }

    // The request was certainly not served (the worker refused it before serving it). What the
    // receipts accepted so far do not explain must still fit in the requests left unanswered:
    // throws ReceiptRejected('overcharge') if a receipt counted this request's room.
    release(o: Outstanding) {
        this.outstanding.delete(o.id);
        if (!this.baseline) return;
        const top = [...this.entries.values()].reduce<Entry | undefined>((a, b) => (!a || b.seqno > a.seqno ? b : a), undefined);
        if (top) this.requireExplained(top, undefined, undefined);
    }

    // Checks a receipt; `usage` is what the answer carrying it reported, `outstanding` the request
    // it answers, `now` the client's chain clock. Returns the receipt's fields; throws
    // ReceiptRejected (and keeps the previous state) otherwise. The same receipt again (the answer
    // to a retried request) is accepted once more.
    check(
        receipt: ReceivedReceipt,
        signature: Buffer,
        o: { usage?: TokenUsage; outstanding?: Outstanding; now?: number } = {},
    ): ReceiptFields {
        const { fields: r, hash } = this.verified(receipt, signature);
        if (o.now !== undefined && r.lastRequestAt > o.now + RECEIPT_CLOCK_SKEW_SECONDS) {
            throw new ReceiptRejected('bad-time', `receipt #${r.seqno} counts a request accepted in the future (${r.lastRequestAt})`);
        }
        // An answer cannot cost more than its own request's worst case (the worker reserved it and
        // clamps to it): one that reports more is charging for work the client never allowed.
        const bound = o.outstanding && this.outstanding.get(o.outstanding.id);
        if (o.usage && bound && TOKEN_FIELDS.some((f) => o.usage![f] > bound[f])) {
            throw new ReceiptRejected(
                'overcharge',
                `the answer reports ${describe(o.usage)} tokens, more than its request could cost (${describe(bound)}): stop sending requests and close the session`,
            );
        }
        const entry: Entry = { ...entryOf(r, hash), usage: o.usage };
        const accept = () => {
            if (o.outstanding) this.outstanding.delete(o.outstanding.id);
            // Nothing in flight: every receipt so far is checked; the latest becomes the baseline, so
            // the client keeps a bounded number of receipts, not one per request ever (the last
            // ones stay, for answers to retries that arrive twice). A session resumed without its
            // last receipt gets its baseline this way, once its first answers are in.
            if (this.outstanding.size === 0 && this.entries.size > 0 && (this.baseline === null || this.entries.size > KEPT_RECEIPTS)) {
                this.baseline = [...this.entries.values()].reduce((a, b) => (b.seqno > a.seqno ? b : a));
                this.entries.clear();
            }
            return r;
        };
        const base = this.baseline;
        const same = base && r.seqno === base.seqno ? base : this.entries.get(r.seqno);
        if (same) {
            if (same.hash.equals(entry.hash)) return accept();
            throw new ReceiptRejected(
                same === base ? 'stale' : 'equivocation',
                `the worker signed two different receipts #${r.seqno} for this session: stop sending requests and report the equivocation`,
            );
        }
        if (base && r.seqno < base.seqno) {
            throw new ReceiptRejected('stale', `receipt #${r.seqno} is older than the receipt #${base.seqno} counts start from`);
        }
        let lower: Entry | undefined = base ?? undefined;
        let upper: Entry | undefined;
        for (const e of this.entries.values()) {
            if (e.seqno < r.seqno && (!lower || e.seqno > lower.seqno)) lower = e;
            if (e.seqno > r.seqno && (!upper || e.seqno < upper.seqno)) upper = e;
        }
        if ((lower && !grows(lower, entry)) || (upper && !grows(entry, upper))) {
            throw new ReceiptRejected(
                'stale',
                `receipt #${r.seqno} does not fit between ${lower ? `#${lower.seqno}` : 'the start'} and ${upper ? `#${upper.seqno}` : 'the latest'}: seqno, token counts, amount and time must only grow`,
            );
        }
        if (o.usage && lower && lower.seqno === r.seqno - 1) requireDelta(lower, entry, o.usage);
        if (upper?.usage && upper.seqno === r.seqno + 1) requireDelta(entry, upper, upper.usage);
        if (o.usage && base) this.requireExplained(entry, o.usage, o.outstanding);
        this.entries.set(r.seqno, entry);
        return accept();
    }

    // What the answers up to `entry` do not explain (the acknowledgement, answers still on their
    // way or lost) must fit in the worst case of the client's other unanswered requests.
    private requireExplained(entry: Entry, usage: TokenUsage | undefined, answering: Outstanding | undefined) {
        const base = this.baseline!;
        let explained = usage ?? NO_USAGE;
        for (const e of this.entries.values()) {
            if ((usage ? e.seqno < entry.seqno : e.seqno <= entry.seqno) && e.usage) explained = addUsage(explained, e.usage);
        }
        let room = NO_USAGE;
        for (const [id, bound] of this.outstanding) if (id !== answering?.id) room = addUsage(room, bound);
        const unexplained = difference(difference(entry, base), explained);
        if (TOKEN_FIELDS.some((f) => unexplained[f] > room[f])) {
            throw new ReceiptRejected(
                'overcharge',
                `receipt #${entry.seqno} counts ${describe(unexplained)} tokens more than this client's answers reported, beyond what its unanswered requests could cost (${describe(room)}): stop sending requests and close the session`,
            );
        }
    }

    // The checks one receipt passes on its own.
    private verified(receipt: ReceivedReceipt, signature: Buffer): { fields: ReceiptFields; hash: Buffer } {
        let r: ReturnType<typeof parseUsageReceipt>;
        let hash: Buffer;
        try {
            ({ fields: r, hash } = Buffer.isBuffer(receipt)
                ? decodeUsageReceipt(receipt)
                : { fields: parseUsageReceipt(receipt), hash: receipt.hash() });
        } catch (e) {
            throw new ReceiptRejected('malformed', `the receipt cannot be read: ${(e as Error).message}`);
        }
        if (r.tag !== RECEIPT_TAG) throw new ReceiptRejected('malformed', 'not a usage receipt');
        if (!verifyReceiptHash(hash, signature, this.view.enclaveSigningKey)) {
            throw new ReceiptRejected('bad-signature', "the receipt is not signed by the session's attested enclave key");
        }
        if (!r.session.equals(this.view.session) || r.openedAt !== this.view.openedAt || r.globalId !== this.view.globalId) {
            throw new ReceiptRejected('other-session', 'the receipt is for another session or network');
        }
        const problem = usageProblem(r);
        if (problem) throw new ReceiptRejected('malformed', `the receipt's token counts are impossible: ${problem}`);
        const due = amountDue(r, this.view.prices);
        if (r.amountDue !== due) {
            throw new ReceiptRejected(
                'amount-mismatch',
                `the receipt asks ${r.amountDue} nanotons for ${describe(r)} tokens; the listed prices make ${due}`,
            );
        }
        if (r.amountDue > this.view.budget) throw new ReceiptRejected('over-budget', 'the receipt asks more than the session budget');
        return { fields: r, hash };
    }
}

function entryOf(r: ReceiptFields, hash: Buffer): Entry {
    const { seqno, promptTokens, cachedTokens, completionTokens, reasoningTokens, amountDue, lastRequestAt } = r;
    return { seqno, promptTokens, cachedTokens, completionTokens, reasoningTokens, amountDue, lastRequestAt, hash };
}

function grows(a: Entry, b: Entry): boolean {
    return b.seqno > a.seqno && TOKEN_FIELDS.every((f) => b[f] >= a[f]) && b.amountDue >= a.amountDue && b.lastRequestAt >= a.lastRequestAt;
}

// Adjacent receipts differ by exactly the usage the later one's answer reported.
function requireDelta(a: Entry, b: Entry, usage: TokenUsage) {
    const delta = difference(b, a);
    if (!sameUsage(delta, usage)) {
        throw new ReceiptRejected(
            'overcharge',
            `receipt #${b.seqno} adds ${describe(delta)} tokens to #${a.seqno}, but its answer reported ${describe(usage)}: stop sending requests and close the session`,
        );
    }
}
