// The verifier's durable state (SQLite, via better-sqlite3): the nonces it issued, an audit log of
// every verification, and the outbox of signed proofs. A proof is stored, in the same
// transaction that spends its nonce, before the HTTP answer leaves: a crash after that loses
// nothing, and the submitter picks it up again on restart.
import Database from 'better-sqlite3';

export interface StoredProof {
    id: number;
    provider: string; // raw address
    nonce: string;
    proofBoc: string; // base64
    signatures: { publicKey: string; signature: string }[]; // hex
    issuedAt: number;
    validUntil: number;
    status: 'pending' | 'submitted' | 'failed';
    attempts: number;
    nextAttemptAt: number;
    lastError: string | null;
}

export interface AuditEntry {
    at: number;
    provider: string;
    nonce: string;
    accepted: boolean;
    reason: string;
    measurement: string | null;
    tcbStatus: string | null;
}

export class VerifierStore {
    private db: Database.Database;

    constructor(path: string) {
        this.db = new Database(path);
        this.db.pragma('journal_mode = WAL');
        this.db.pragma('synchronous = FULL');
        this.db.exec(`
            CREATE TABLE IF NOT EXISTS nonces (
                nonce TEXT PRIMARY KEY, provider TEXT NOT NULL, issued_at INTEGER NOT NULL, used_at INTEGER);
            CREATE TABLE IF NOT EXISTS audit (
                id INTEGER PRIMARY KEY, at INTEGER NOT NULL, provider TEXT NOT NULL, nonce TEXT NOT NULL,
                accepted INTEGER NOT NULL, reason TEXT NOT NULL, measurement TEXT, tcb_status TEXT);
            CREATE TABLE IF NOT EXISTS proofs (
                id INTEGER PRIMARY KEY, provider TEXT NOT NULL, nonce TEXT NOT NULL UNIQUE, proof_boc TEXT NOT NULL,
                signatures TEXT NOT NULL, issued_at INTEGER NOT NULL, valid_until INTEGER NOT NULL,
                status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL,
                last_error TEXT);
            CREATE INDEX IF NOT EXISTS proofs_by_provider ON proofs (provider, issued_at);
            CREATE INDEX IF NOT EXISTS proofs_pending ON proofs (status, next_attempt_at);
        `);
    }

    close() {
        this.db.close();
    }

    issueNonce(nonce: string, provider: string, now: number) {
        this.db.prepare('INSERT INTO nonces (nonce, provider, issued_at) VALUES (?, ?, ?)').run(nonce, provider, now);
    }

    // Why the nonce cannot be used for this provider now, or null if it can.
    nonceProblem(nonce: string, provider: string, now: number, ttl: number): string | null {
        const row = this.db.prepare('SELECT provider, issued_at, used_at FROM nonces WHERE nonce = ?').get(nonce) as
            { provider: string; issued_at: number; used_at: number | null } | undefined;
        if (!row) return 'nonce was not issued by this verifier';
        if (row.provider !== provider) return 'nonce was issued for another provider';
        if (row.used_at !== null) return 'nonce was already used';
        if (now > row.issued_at + ttl) return `nonce expired (valid for ${ttl} s after issue)`;
        return null;
    }

    // Spends the nonce and queues the proof atomically.
    saveProof(p: Omit<StoredProof, 'id' | 'status' | 'attempts' | 'lastError'>, now: number): number {
        const tx = this.db.transaction(() => {
            const spent = this.db.prepare('UPDATE nonces SET used_at = ? WHERE nonce = ? AND used_at IS NULL').run(now, p.nonce);
            if (spent.changes !== 1) throw new Error('nonce was already used');
            const r = this.db
                .prepare(
                    `INSERT INTO proofs (provider, nonce, proof_boc, signatures, issued_at, valid_until, status, next_attempt_at)
                     VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)`,
                )
                .run(p.provider, p.nonce, p.proofBoc, JSON.stringify(p.signatures), p.issuedAt, p.validUntil, p.nextAttemptAt);
            return Number(r.lastInsertRowid);
        });
        return tx();
    }

    audit(e: AuditEntry) {
        this.db
            .prepare('INSERT INTO audit (at, provider, nonce, accepted, reason, measurement, tcb_status) VALUES (?, ?, ?, ?, ?, ?, ?)')
            .run(e.at, e.provider, e.nonce, e.accepted ? 1 : 0, e.reason, e.measurement, e.tcbStatus);
    }

    auditLog(limit = 100): AuditEntry[] {
        return (this.db.prepare('SELECT * FROM audit ORDER BY id DESC LIMIT ?').all(limit) as Record<string, unknown>[]).map((r) => ({
            at: r.at as number,
            provider: r.provider as string,
            nonce: r.nonce as string,
            accepted: r.accepted === 1,
            reason: r.reason as string,
            measurement: r.measurement as string | null,
            tcbStatus: r.tcb_status as string | null,
        }));
    }

    proofsFor(provider: string): StoredProof[] {
        return (
            this.db.prepare('SELECT * FROM proofs WHERE provider = ? ORDER BY issued_at DESC').all(provider) as Record<string, unknown>[]
        ).map(toProof);
    }

    dueProofs(now: number): StoredProof[] {
        return (
            this.db.prepare("SELECT * FROM proofs WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY id").all(now) as Record<
                string,
                unknown
            >[]
        ).map(toProof);
    }

    markSubmitted(id: number) {
        this.db.prepare("UPDATE proofs SET status = 'submitted', last_error = NULL WHERE id = ?").run(id);
    }

    markRetry(id: number, error: string, nextAttemptAt: number, giveUp: boolean) {
        this.db
            .prepare('UPDATE proofs SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, status = ? WHERE id = ?')
            .run(error, nextAttemptAt, giveUp ? 'failed' : 'pending', id);
    }

    counts(): Record<string, number> {
        const rows = this.db.prepare('SELECT status, COUNT(*) AS n FROM proofs GROUP BY status').all() as { status: string; n: number }[];
        return Object.fromEntries(rows.map((r) => [r.status, r.n]));
    }
}

function toProof(r: Record<string, unknown>): StoredProof {
    return {
        id: r.id as number,
        provider: r.provider as string,
        nonce: r.nonce as string,
        proofBoc: r.proof_boc as string,
        signatures: JSON.parse(r.signatures as string),
        issuedAt: r.issued_at as number,
        validUntil: r.valid_until as number,
        status: r.status as StoredProof['status'],
        attempts: r.attempts as number,
        nextAttemptAt: r.next_attempt_at as number,
        lastError: (r.last_error as string | null) ?? null,
    };
}
