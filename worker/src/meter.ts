// The worker's metering: cumulative token counts per session, turned into receipts signed by the
// enclave key (wrappers/receipt.ts) and kept in SQLite with every request's answer (encrypted by
// the worker) for a bounded time, so that a client that lost an answer can ask again and get the
// same one, charged once. Receipts and answers are written in one transaction before the answer
// leaves the worker.
//
// Durability: WAL with synchronous=NORMAL. A commit is in the WAL (the OS's page cache) before the
// answer leaves, so a killed worker process (kill -9, a crash) loses nothing; only a power loss or
// kernel crash can lose the last commits, and FULL would cost an fsync per request (about 9 ms).
import Database from 'better-sqlite3';
import { Address, Cell } from '@ton/core';
import { KeyPair } from '@ton/crypto';
import { createHash } from 'crypto';
import {
    NO_USAGE,
    PriceRates,
    TOKEN_FIELDS,
    TokenUsage,
    addUsage,
    amountDue,
    bigIntToBuffer32,
    bufferToBigInt,
    encodeUsageReceipt,
    signReceiptHash,
    usageProblem,
} from '../../wrappers';

export interface ReceiptCounts extends TokenUsage {
    seqno: number;
    lastRequestAt: number;
    amountDue: bigint;
    resultsHash: bigint;
}

export interface SignedReceipt extends ReceiptCounts {
    session: Address;
    readonly receipt: Cell; // made when first read (claims): a request needs only `encoded`
    signature: Buffer;
    encoded: { receipt: string; signature: string }; // as stored and as answers carry them: base64 BoC, hex
}

function signedReceipt(session: Address, counts: ReceiptCounts, signature: Buffer, encoded: SignedReceipt['encoded']): SignedReceipt {
    let cell: Cell | undefined;
    return {
        session,
        ...counts,
        get receipt() {
            return (cell ??= Cell.fromBase64(encoded.receipt));
        },
        signature,
        encoded,
    };
}

export interface RecordOptions {
    openedAt: number; // the Session's opened_at, which every receipt carries
    key: KeyPair; // the enclave signing key
    prices: PriceRates;
    usage: TokenUsage; // this request's tokens
    // When the request was accepted (unix time, chain clock): the receipt's lastRequestAt is the
    // latest of these, and the Session refuses it if that is after the close or the deadline.
    requestAt: number;
    // The cumulative amount never exceeds it: rounding of the cumulative amount can exceed the
    // budget by a nanoton or two, so tokens are dropped until it fits (the provider absorbs it).
    budget?: bigint;
    // Commits to the answer served: resultsHash = sha256(previous resultsHash || resultDigest).
    resultDigest?: Buffer;
    // The request this usage answers: its answer is stored with the receipt (see answerOf).
    // `authenticate` MACs the request's row (its acceptance time and charged usage) with an
    // enclave key, so that a settlement receipt (settlementUsage) is only ever built from rows the
    // enclave wrote.
    request?: {
        id: string;
        hash: Buffer;
        answer: (receipt: SignedReceipt, usage: TokenUsage) => Buffer;
        authenticate: (row: RequestRow) => Buffer;
    };
}

export interface StoredAnswer {
    requestHash: Buffer;
    seqno: number;
    answer: Buffer | null; // null once expired
}

// A served request as the request log keeps it, for settlement receipts.
export interface RequestRow extends TokenUsage {
    session: Address;
    requestId: string;
    seqno: number;
    requestAt: number;
}

// The four token counts as the tables keep them (INTEGER: below 2^48, exact in SQLite and JS).
const TOKEN_COLUMNS = 'prompt_tokens, cached_tokens, completion_tokens, reasoning_tokens';

function usageOf(x: Record<string, unknown>): TokenUsage {
    return {
        promptTokens: BigInt(x.prompt_tokens as number),
        cachedTokens: BigInt(x.cached_tokens as number),
        completionTokens: BigInt(x.completion_tokens as number),
        reasoningTokens: BigInt(x.reasoning_tokens as number),
    };
}

function usageColumns(u: TokenUsage): number[] {
    return TOKEN_FIELDS.map((f) => Number(u[f]));
}

function countsOf(x: Record<string, string | number>): ReceiptCounts {
    return {
        seqno: x.seqno as number,
        lastRequestAt: x.last_request_at as number,
        ...usageOf(x),
        amountDue: BigInt(x.amount_due),
        resultsHash: BigInt(x.results_hash),
    };
}

export function requestRowBytes(r: RequestRow): Buffer {
    return Buffer.from(
        ['cocoon-request-row-v2', r.session.toRawString(), r.requestId, r.seqno, r.requestAt, ...TOKEN_FIELDS.map((f) => r[f])].join('|'),
    );
}

const SCHEMA_VERSION = 3;

// Sessions whose latest counts are kept in memory (about 200 bytes each).
const LATEST_KEPT = 10_000;

export class Meter {
    private db: Database.Database;
    private stmt: Record<string, Database.Statement>;
    // The latest receipt's counts of the sessions served lately, as committed: every request reads
    // them twice (its budget check, then its receipt). Only this Meter should write receipts (one
    // worker per database); a receipt written by another is noticed when it conflicts (record).
    private readonly latestKept = new Map<string, ReceiptCounts>();
    // Runs `f` in a transaction (one transaction function, made once: better-sqlite3 prepares a
    // transaction function's statements each time one is made).
    private readonly inTransaction: <T>(f: () => T) => T;

    constructor(
        path: string,
        private readonly globalId: number,
    ) {
        this.db = new Database(path);
        this.db.pragma('journal_mode = WAL');
        this.db.pragma('synchronous = NORMAL');
        this.inTransaction = this.db.transaction((f: () => unknown) => f()) as <T>(f: () => T) => T;
        this.migrate();
        this.stmt = {
            latest: this.db.prepare('SELECT * FROM receipts WHERE session = ? ORDER BY seqno DESC LIMIT 1'),
            counts: this.db.prepare(
                `SELECT seqno, last_request_at, ${TOKEN_COLUMNS}, amount_due, results_hash FROM receipts WHERE session = ? ORDER BY seqno DESC LIMIT 1`,
            ),
            claimable: this.db.prepare('SELECT * FROM receipts WHERE session = ? AND last_request_at <= ? ORDER BY seqno DESC LIMIT 1'),
            insertReceipt: this.db.prepare(
                `INSERT INTO receipts (session, seqno, last_request_at, ${TOKEN_COLUMNS}, amount_due, results_hash, receipt, signature)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
            ),
            touchSession: this.db.prepare('INSERT OR IGNORE INTO sessions (session) VALUES (?)'),
            insertRequest: this.db.prepare(
                `INSERT INTO requests (session, request_id, request_hash, seqno, answer, answered_at, request_at, ${TOKEN_COLUMNS}, mac)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
            ),
            answer: this.db.prepare('SELECT request_hash, seqno, answer FROM requests WHERE session = ? AND request_id = ?'),
        };
    }

    // Creates the tables, or refuses a database of an earlier release: its receipts count two token
    // classes (version 2 and before), which the Session of this release cannot read. Its sessions
    // are settled by the release that wrote them.
    private migrate() {
        const version = this.db.pragma('user_version', { simple: true }) as number;
        if (version === SCHEMA_VERSION) return;
        const tables = this.db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all();
        if (version > SCHEMA_VERSION || tables.length > 0) {
            throw new Error(
                `${this.db.name} is a worker database of schema version ${version}; this release reads version ${SCHEMA_VERSION} ` +
                    '(receipts with four token classes). Let the release that wrote it settle its sessions, then start this one with a new --db.',
            );
        }
        this.db.exec(`
            CREATE TABLE receipts (
                session TEXT NOT NULL, seqno INTEGER NOT NULL, last_request_at INTEGER NOT NULL,
                prompt_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
                reasoning_tokens INTEGER NOT NULL, amount_due TEXT NOT NULL, results_hash TEXT NOT NULL,
                receipt TEXT NOT NULL, signature TEXT NOT NULL, PRIMARY KEY (session, seqno));
            CREATE TABLE sessions (session TEXT PRIMARY KEY, settled INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE requests (
                session TEXT NOT NULL, request_id TEXT NOT NULL, request_hash BLOB NOT NULL, seqno INTEGER NOT NULL,
                answer BLOB, answered_at INTEGER NOT NULL, request_at INTEGER NOT NULL,
                prompt_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
                reasoning_tokens INTEGER NOT NULL, mac BLOB NOT NULL, PRIMARY KEY (session, request_id));
            CREATE INDEX requests_by_time ON requests (answered_at) WHERE answer IS NOT NULL;
            CREATE TABLE cursor (name TEXT PRIMARY KEY, lt TEXT NOT NULL);
            PRAGMA user_version = ${SCHEMA_VERSION};`);
    }

    // The logical time up to which the Provider's transactions were scanned for new sessions.
    scannedLt(): bigint {
        const r = this.db.prepare(`SELECT lt FROM cursor WHERE name = 'provider'`).get() as { lt: string } | undefined;
        return r ? BigInt(r.lt) : 0n;
    }

    setScannedLt(lt: bigint) {
        this.db
            .prepare(`INSERT INTO cursor (name, lt) VALUES ('provider', ?) ON CONFLICT(name) DO UPDATE SET lt = excluded.lt`)
            .run(lt.toString());
    }

    // What was served for a request id of a session, if anything: the hash of the request (a
    // different request under the same id is refused), its receipt's seqno, and the stored answer
    // unless it expired.
    answerOf(session: Address, requestId: string): StoredAnswer | null {
        const r = this.stmt.answer.get(session.toRawString(), requestId) as
            { request_hash: Buffer; seqno: number; answer: Buffer | null } | undefined;
        return r ? { requestHash: r.request_hash, seqno: r.seqno, answer: r.answer } : null;
    }

    // Drops stored answers older than `before` (unix seconds); the request ids stay until the
    // session is settled, so an old request is never served (and charged) twice.
    expireAnswers(before: number): number {
        return this.db.prepare('UPDATE requests SET answer = NULL WHERE answer IS NOT NULL AND answered_at < ?').run(before).changes;
    }

    // The usage of the requests of a session accepted by `end` (its close or deadline), from the
    // rows `verify` accepts (the enclave's MAC: rows the host altered or added are left out): what
    // a settlement receipt counts when a request accepted after `end` was recorded before an
    // earlier-accepted one, so that no receipt before it counts the earlier one.
    settlementUsage(session: Address, end: number, verify: (row: RequestRow, mac: Buffer) => boolean) {
        const rows = this.db
            .prepare(`SELECT request_id, seqno, request_at, ${TOKEN_COLUMNS}, mac FROM requests WHERE session = ?`)
            .all(session.toRawString()) as Record<string, unknown>[];
        const total = { usage: NO_USAGE, lastRequestAt: 0 };
        for (const r of rows) {
            const row = {
                session,
                requestId: r.request_id as string,
                seqno: r.seqno as number,
                requestAt: r.request_at as number,
                ...usageOf(r),
            };
            if (row.requestAt > end || !verify(row, r.mac as Buffer)) continue;
            total.usage = addUsage(total.usage, row);
            total.lastRequestAt = Math.max(total.lastRequestAt, row.requestAt);
        }
        return total;
    }

    // Signs and stores a receipt with these cumulative counts after the latest one: a settlement
    // receipt (see settlementUsage). Its counts may be below the latest receipt's.
    recordSettlement(
        session: Address,
        o: { openedAt: number; key: KeyPair; prices: PriceRates; usage: TokenUsage; lastRequestAt: number },
    ): SignedReceipt {
        const signed = this.inTransaction(() => {
            const prev = this.latestCounts(session)!;
            const next = {
                seqno: prev.seqno + 1,
                lastRequestAt: o.lastRequestAt,
                ...o.usage,
                resultsHash: prev.resultsHash,
            };
            return this.signAndStore(session, o, next);
        });
        this.keepLatest(session.toRawString(), signed);
        return signed;
    }

    // Sessions with receipts that may still need a claim.
    unsettled(): Address[] {
        const rows = this.db.prepare('SELECT session FROM sessions WHERE settled = 0').all() as { session: string }[];
        return rows.map((r) => Address.parseRaw(r.session));
    }

    // The session is over on-chain: no claim will ever be needed. Its latest receipt stays for the
    // record; its earlier receipts and its requests go.
    markSettled(session: Address) {
        const key = session.toRawString();
        this.inTransaction(() => {
            this.db.prepare('UPDATE sessions SET settled = 1 WHERE session = ?').run(key);
            this.db
                .prepare('DELETE FROM receipts WHERE session = ? AND seqno < (SELECT MAX(seqno) FROM receipts WHERE session = ?)')
                .run(key, key);
            this.db.prepare('DELETE FROM requests WHERE session = ?').run(key);
        });
        this.latestKept.delete(key);
    }

    close() {
        this.db.close();
    }

    latest(session: Address): SignedReceipt | null {
        return this.row(session, this.stmt.latest.get(session.toRawString()));
    }

    // The latest receipt's counts, without reading its cell (which costs a hash computation): what
    // every request needs.
    latestCounts(session: Address): ReceiptCounts | null {
        const key = session.toRawString();
        const kept = this.latestKept.get(key);
        if (kept) return kept;
        const x = this.stmt.counts.get(key) as Record<string, string | number> | undefined;
        return x ? countsOf(x) : null;
    }

    // After a commit: the session's latest counts are these.
    private keepLatest(key: string, r: ReceiptCounts) {
        // (only the counts: `r` may be a SignedReceipt, whose cell and signature need not stay)
        const counts: ReceiptCounts = {
            seqno: r.seqno,
            lastRequestAt: r.lastRequestAt,
            ...addUsage(NO_USAGE, r),
            amountDue: r.amountDue,
            resultsHash: r.resultsHash,
        };
        this.latestKept.delete(key); // re-inserted last: the map's order is the order of use
        this.latestKept.set(key, Object.freeze(counts));
        if (this.latestKept.size > LATEST_KEPT) this.latestKept.delete(this.latestKept.keys().next().value!);
    }

    // The latest receipt the Session still pays: none of its requests accepted after `servingEnd`
    // (the close or the deadline; servingEnd in wrappers).
    claimable(session: Address, servingEnd: number): SignedReceipt | null {
        return this.row(session, this.stmt.claimable.get(session.toRawString(), servingEnd));
    }

    private row(session: Address, r: unknown): SignedReceipt | null {
        if (!r) return null;
        const x = r as Record<string, string>;
        return signedReceipt(session, countsOf(x), Buffer.from(x.signature, 'hex'), { receipt: x.receipt, signature: x.signature });
    }

    // Builds, signs and stores the receipt of these cumulative counts (inside a transaction).
    private signAndStore(
        session: Address,
        o: { openedAt: number; key: KeyPair; prices: PriceRates },
        next: Omit<ReceiptCounts, 'amountDue'>,
    ): SignedReceipt {
        const due = amountDue(next, o.prices);
        const receipt = encodeUsageReceipt({ globalId: this.globalId, session, openedAt: o.openedAt, ...next, amountDue: due });
        const signature = signReceiptHash(receipt.hash, o.key.secretKey);
        const encoded = { receipt: receipt.boc.toString('base64'), signature: signature.toString('hex') };
        this.stmt.insertReceipt.run(
            session.toRawString(),
            next.seqno,
            next.lastRequestAt,
            ...usageColumns(next),
            due.toString(),
            next.resultsHash.toString(),
            encoded.receipt,
            encoded.signature,
        );
        return signedReceipt(session, { ...next, amountDue: due }, signature, encoded);
    }

    // A session's first receipt, for no usage: the acknowledgement a worker claims when it sees a
    // session accepted (a session with no receipt claimed by the end of its claim window is a
    // timeout). Returns the latest receipt unchanged if the session already has one.
    acknowledge(session: Address, openedAt: number, key: KeyPair, prices: PriceRates): SignedReceipt {
        return this.latest(session) ?? this.record(session, { openedAt, key, prices, usage: NO_USAGE, requestAt: 0 });
    }

    // Adds one request's usage and returns the new cumulative receipt, signed and stored (with the
    // request's answer, if given) in one transaction before it is returned. Synchronous: receipts
    // of one session are a total order by seqno, however many of its requests run at once.
    record(session: Address, o: RecordOptions): SignedReceipt {
        const problem = usageProblem(o.usage);
        if (problem) throw new RangeError(`not a usage: ${problem}`);
        const key = session.toRawString();
        const write = () => this.recordInTransaction(session, o, key);
        let signed: SignedReceipt;
        try {
            signed = write();
        } catch (e) {
            // Another process wrote this session's next receipt (a second worker started on the
            // same database): count on from the table's (the receipt signed here was never stored or sent).
            if (!(this.latestKept.has(key) && isReceiptConflict(e))) throw e;
            this.latestKept.delete(key);
            signed = write();
        }
        this.keepLatest(key, signed);
        return signed;
    }

    private recordInTransaction(session: Address, o: RecordOptions, key: string): SignedReceipt {
        return this.inTransaction(() => {
            const prev = this.latestCounts(session);
            const before = prev ?? NO_USAGE;
            const usage = o.budget === undefined ? o.usage : fitBudget(before, o.usage, o.prices, o.budget);
            const previousHash = prev?.resultsHash ?? 0n;
            const resultsHash = o.resultDigest
                ? bufferToBigInt(createHash('sha256').update(bigIntToBuffer32(previousHash)).update(o.resultDigest).digest())
                : previousHash;
            const next = {
                seqno: (prev?.seqno ?? 0) + 1,
                lastRequestAt: Math.max(prev?.lastRequestAt ?? 0, o.requestAt),
                ...addUsage(before, usage),
                resultsHash,
            };
            const signed = this.signAndStore(session, o, next);
            if (!prev) this.stmt.touchSession.run(key); // (a session with a receipt has its row)
            if (o.request) {
                const answer = o.request.answer(signed, usage);
                const row = { session, requestId: o.request.id, seqno: next.seqno, requestAt: o.requestAt, ...usage };
                this.stmt.insertRequest.run(
                    key,
                    o.request.id,
                    o.request.hash,
                    next.seqno,
                    answer,
                    Math.floor(Date.now() / 1000),
                    o.requestAt,
                    ...usageColumns(usage),
                    o.request.authenticate(row),
                );
            }
            return signed;
        });
    }
}

const isReceiptConflict = (e: unknown) =>
    (e as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY' && /receipts\./.test((e as Error).message);

// This request's usage with tokens dropped until the cumulative amount fits the budget: rounding
// of the cumulative amount can exceed the budget by a nanoton or two (reservations cover the rest),
// and the provider absorbs it. Completion tokens go first (reasoning last, as their part), then
// prompt tokens (cached last); parts never exceed their wholes.
function fitBudget(before: TokenUsage, usage: TokenUsage, prices: PriceRates, budget: bigint): TokenUsage {
    const u = { ...usage };
    const over = () => amountDue(addUsage(before, u), prices) > budget;
    const drop = (whole: 'completionTokens' | 'promptTokens', part: 'reasoningTokens' | 'cachedTokens') => {
        while (over() && u[whole] > 0n) {
            if (u[whole] > u[part]) u[whole] -= 1n;
            else {
                u[whole] -= 1n;
                u[part] -= 1n;
            }
        }
    };
    drop('completionTokens', 'reasoningTokens');
    drop('promptTokens', 'cachedTokens');
    return u;
}
