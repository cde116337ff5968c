// The worker's metering: cumulative token counts per session, turned into receipts signed by the
// enclave key (wrappers/receipt.ts) and kept in SQLite. The latest receipt of every session
// survives a restart: the enclave keys do not (they live in memory only), so after a restart the
// worker cannot sign for an old session any more, but its owner can still claim what was served.
import Database from 'better-sqlite3';
import { Address, Cell } from '@ton/core';
import { KeyPair } from '@ton/crypto';
import { PriceRates, amountDue, buildUsageReceipt, signUsageReceipt } from '../../wrappers';

export interface SignedReceipt {
    session: Address;
    seqno: number;
    tokensIn: bigint;
    tokensOut: bigint;
    amountDue: bigint;
    receipt: Cell;
    signature: Buffer;
}

export class Meter {
    private db: Database.Database;

    constructor(
        path: string,
        private readonly globalId: number,
    ) {
        this.db = new Database(path);
        this.db.pragma('journal_mode = WAL');
        this.db.pragma('synchronous = FULL');
        this.db.exec(`CREATE TABLE IF NOT EXISTS receipts (
            session TEXT PRIMARY KEY, seqno INTEGER NOT NULL, tokens_in TEXT NOT NULL, tokens_out TEXT NOT NULL,
            amount_due TEXT NOT NULL, receipt TEXT NOT NULL, signature TEXT NOT NULL, settled INTEGER NOT NULL DEFAULT 0)`);
        // One row per request served: a captured request replayed to the same session is refused
        // (HPKE's encapsulated key is fresh for every request a client seals).
        this.db.exec(`CREATE TABLE IF NOT EXISTS requests (session TEXT NOT NULL, enc TEXT NOT NULL, PRIMARY KEY (session, enc))`);
        // How far the worker has read its Provider's transactions for newly accepted sessions.
        this.db.exec(`CREATE TABLE IF NOT EXISTS cursor (name TEXT PRIMARY KEY, lt TEXT NOT NULL)`);
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

    // Records that a request with this encapsulated key reached the session; false if it already did.
    firstUse(session: Address, enc: Buffer): boolean {
        const r = this.db
            .prepare('INSERT OR IGNORE INTO requests (session, enc) VALUES (?, ?)')
            .run(session.toRawString(), enc.toString('hex'));
        return r.changes === 1;
    }

    // Sessions with receipts that may still need a claim.
    unsettled(): Address[] {
        const rows = this.db.prepare('SELECT session FROM receipts WHERE settled = 0').all() as { session: string }[];
        return rows.map((r) => Address.parseRaw(r.session));
    }

    // The session is over on-chain: no claim will ever be needed; its request log can go.
    markSettled(session: Address) {
        this.db.transaction(() => {
            this.db.prepare('UPDATE receipts SET settled = 1 WHERE session = ?').run(session.toRawString());
            this.db.prepare('DELETE FROM requests WHERE session = ?').run(session.toRawString());
        })();
    }

    close() {
        this.db.close();
    }

    latest(session: Address): SignedReceipt | null {
        const r = this.db.prepare('SELECT * FROM receipts WHERE session = ?').get(session.toRawString()) as
            Record<string, string | number> | undefined;
        if (!r) return null;
        return {
            session,
            seqno: r.seqno as number,
            tokensIn: BigInt(r.tokens_in),
            tokensOut: BigInt(r.tokens_out),
            amountDue: BigInt(r.amount_due),
            receipt: Cell.fromBase64(r.receipt as string),
            signature: Buffer.from(r.signature as string, 'hex'),
        };
    }

    // A session's first receipt, for no usage: the acknowledgement a worker claims when it sees a
    // session accepted (a session with no receipt claimed by the end of its claim window is a
    // timeout). Returns the latest receipt unchanged if the session already has one.
    acknowledge(session: Address, openedAt: number, key: KeyPair, prices: PriceRates): SignedReceipt {
        return this.latest(session) ?? this.record(session, openedAt, key, prices, { tokensIn: 0n, tokensOut: 0n }, 0n);
    }

    // Adds one request's usage and returns the new cumulative receipt, signed and stored before it
    // is returned. `resultsHash` commits to the responses served (for dispute evidence);
    // `openedAt` is the Session's opened_at, which every receipt carries.
    record(
        session: Address,
        openedAt: number,
        key: KeyPair,
        prices: PriceRates,
        usage: { tokensIn: bigint; tokensOut: bigint },
        resultsHash: bigint,
    ): SignedReceipt {
        if (usage.tokensIn < 0n || usage.tokensOut < 0n) throw new RangeError('token counts cannot be negative');
        const write = this.db.transaction(() => {
            const prev = this.latest(session);
            const next = {
                seqno: (prev?.seqno ?? 0) + 1,
                tokensIn: (prev?.tokensIn ?? 0n) + usage.tokensIn,
                tokensOut: (prev?.tokensOut ?? 0n) + usage.tokensOut,
            };
            const due = amountDue(next.tokensIn, next.tokensOut, prices);
            const receipt = buildUsageReceipt({
                globalId: this.globalId,
                session,
                openedAt,
                seqno: next.seqno,
                tokensIn: next.tokensIn,
                tokensOut: next.tokensOut,
                amountDue: due,
                resultsHash,
            });
            const signature = signUsageReceipt(receipt, key.secretKey);
            this.db
                .prepare(
                    `INSERT INTO receipts (session, seqno, tokens_in, tokens_out, amount_due, receipt, signature) VALUES (?, ?, ?, ?, ?, ?, ?)
                     ON CONFLICT(session) DO UPDATE SET seqno = excluded.seqno, tokens_in = excluded.tokens_in, tokens_out = excluded.tokens_out,
                     amount_due = excluded.amount_due, receipt = excluded.receipt, signature = excluded.signature`,
                )
                .run(
                    session.toRawString(),
                    next.seqno,
                    next.tokensIn.toString(),
                    next.tokensOut.toString(),
                    due.toString(),
                    receipt.toBoc().toString('base64'),
                    signature.toString('hex'),
                );
            return { session, ...next, amountDue: due, receipt, signature };
        });
        return write();
    }
}
