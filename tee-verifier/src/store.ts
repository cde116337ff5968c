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

// How long a claim on a nonce holds without an outcome (a crash mid-attestation): longer than
// gathering co-signatures takes.
const CLAIM_SECONDS = 120;

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
            CREATE TABLE IF NOT EXISTS cosigned (
                issuer TEXT NOT NULL, nonce TEXT NOT NULL, expires_at INTEGER NOT NULL, claimed_at INTEGER NOT NULL,
                signed INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (issuer, nonce));
            CREATE INDEX IF NOT EXISTS audit_by_time ON audit (at);
        `);
        const columns = (this.db.prepare('PRAGMA table_info(nonces)').all() as { name: string }[]).map((c) => c.name);
        if (!columns.includes('claimed_at')) this.db.exec('ALTER TABLE nonces ADD COLUMN claimed_at INTEGER');
    }

    close() {
        this.db.close();
    }

    issueNonce(nonce: string, provider: string, now: number) {
        this.db.prepare('INSERT INTO nonces (nonce, provider, issued_at) VALUES (?, ?, ?)').run(nonce, provider, now);
    }

    // Claims the nonce for one attestation, atomically: why it cannot be used for this provider
    // now, or null once this request holds it. Parallel requests on one nonce: one gets it, the
    // others hear it is in use. A claim a crash left behind lapses after CLAIM_SECONDS.
    claimNonce(nonce: string, provider: string, now: number, ttl: number): string | null {
        return this.db.transaction(() => {
            const row = this.db.prepare('SELECT provider, issued_at, used_at, claimed_at FROM nonces WHERE nonce = ?').get(nonce) as
                { provider: string; issued_at: number; used_at: number | null; claimed_at: number | null } | undefined;
            if (!row) return 'nonce was not issued by this verifier';
            if (row.provider !== provider) return 'nonce was issued for another provider';
            if (row.used_at !== null) return 'nonce was already used';
            if (now > row.issued_at + ttl) return `nonce expired (valid for ${ttl} s after issue)`;
            if (row.claimed_at !== null && now < row.claimed_at + CLAIM_SECONDS) return 'nonce is being used by another request';
            this.db.prepare('UPDATE nonces SET claimed_at = ? WHERE nonce = ?').run(now, nonce);
            return null;
        })();
    }

    // Gives a claimed nonce back (the attestation failed): the worker may retry with it.
    releaseNonce(nonce: string) {
        this.db.prepare('UPDATE nonces SET claimed_at = NULL WHERE nonce = ? AND used_at IS NULL').run(nonce);
    }

    issuedAt(nonce: string): number | undefined {
        return (this.db.prepare('SELECT issued_at FROM nonces WHERE nonce = ?').get(nonce) as { issued_at: number } | undefined)?.issued_at;
    }

    // A co-signer's own spent set: a peer's nonce is co-signed at most once, whichever peer asks.
    // Claimed first (parallel requests), then marked signed, or released when the request fails.
    claimCosign(issuer: string, nonce: string, expiresAt: number, now: number): boolean {
        return this.db.transaction(() => {
            const row = this.db.prepare('SELECT claimed_at, signed FROM cosigned WHERE issuer = ? AND nonce = ?').get(issuer, nonce) as
                { claimed_at: number; signed: number } | undefined;
            if (row && (row.signed === 1 || now < row.claimed_at + CLAIM_SECONDS)) return false;
            this.db
                .prepare('INSERT OR REPLACE INTO cosigned (issuer, nonce, expires_at, claimed_at, signed) VALUES (?, ?, ?, ?, 0)')
                .run(issuer, nonce, expiresAt, now);
            return true;
        })();
    }

    finishCosign(issuer: string, nonce: string, signed: boolean) {
        if (signed) this.db.prepare('UPDATE cosigned SET signed = 1 WHERE issuer = ? AND nonce = ?').run(issuer, nonce);
        else this.db.prepare('DELETE FROM cosigned WHERE issuer = ? AND nonce = ? AND signed = 0').run(issuer, nonce);
    }

    // Keeps disk use bounded: nonces and co-signed entries past any use (an expired nonce is refused
    // whether it is remembered or not), audit entries older than `auditDays` or beyond the newest
    // `auditRows`, and proofs that are done and expired a day ago.
    prune(now: number, o: { nonceTtl: number; auditDays: number; auditRows: number }) {
        this.db.transaction(() => {
            this.db.prepare('DELETE FROM nonces WHERE issued_at < ?').run(now - o.nonceTtl - CLAIM_SECONDS);
            this.db.prepare('DELETE FROM cosigned WHERE expires_at < ?').run(now - CLAIM_SECONDS);
            this.db.prepare('DELETE FROM audit WHERE at < ?').run(now - o.auditDays * 86_400);
            this.db.prepare('DELETE FROM audit WHERE id <= (SELECT MAX(id) FROM audit) - ?').run(o.auditRows);
            this.db.prepare("DELETE FROM proofs WHERE status != 'pending' AND valid_until < ?").run(now - 86_400);
        })();
    }

    rowCount(table: 'nonces' | 'audit' | 'cosigned'): number {
        return (this.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
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
