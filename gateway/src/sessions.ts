// The gateway's sessions: one open session per model, reused for every request and topped up from
// the gateway's wallet, so that the on-chain fees of opening one are spread over many requests.
// A provider that fails is set aside for a while and the next request opens a session with the
// next best provider (the SDK's discovery order: price, record, attestation, health).
//
// No budget is left behind: a session the gateway stops using (its provider failed, its deadline
// is near, the gateway stops) is closed and finalized once the provider's claim window is over,
// and every session that still holds budget is written to a record file, so that a gateway that
// restarts (or was killed) settles the ones it left. Session keys are never written down: a
// restarted gateway cannot send requests on its old sessions, only settle them.
import { Address } from '@ton/core';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'fs';
import { dirname } from 'path';
import type { Logger } from 'pino';
import { ClientSession, CocoonClient, CocoonError } from '../../sdk';

export interface SessionPolicy {
    budget: bigint; // nanotons escrowed when a session opens
    topUpBelow: bigint; // a session with less budget left than this is topped up...
    topUpAmount: bigint; // ...by this much
    durationSeconds: number; // a session's lifetime; a new one opens when less than a tenth is left
    avoidFailedProviderMs: number; // how long a provider that failed is passed over
    // how long a session the gateway stops using is kept open before it is closed: a retry with
    // the same Idempotency-Key still gets an answer that was lost on the way from it
    retireAfterMs: number;
}

export const DEFAULT_SESSION_POLICY: SessionPolicy = {
    budget: 5_000_000_000n,
    topUpBelow: 1_000_000_000n,
    topUpAmount: 5_000_000_000n,
    durationSeconds: 24 * 3600,
    avoidFailedProviderMs: 60_000,
    retireAfterMs: 10 * 60_000, // (workers keep answers 10 minutes by default)
};

// The addresses of the sessions that may still hold the gateway's budget, in a JSON file written
// whole (to a temporary file, synced, then renamed) so that a crash never leaves half of it. One
// gateway at a time uses a file (FILE.lock holds its pid): two would each rewrite the file
// without the other's sessions, and each would close the other's sessions as left behind.
export class SessionRecord {
    private addresses = new Set<string>();
    private readonly lock?: string;

    constructor(private readonly file?: string) {
        if (!file) return;
        mkdirSync(dirname(file), { recursive: true });
        this.lock = takeLock(`${file}.lock`);
        if (!existsSync(file)) return;
        let parsed: { sessions?: unknown } = {};
        try {
            parsed = JSON.parse(readFileSync(file, 'utf8')) as { sessions?: unknown };
        } catch {
            parsed = {};
        }
        if (!Array.isArray(parsed.sessions) || !parsed.sessions.every((a) => typeof a === 'string' && Address.isFriendly(a))) {
            this.close();
            throw new Error(
                `${file} is not a gateway session record ({"sessions": [address, ...]}): the sessions it names may hold budget; ` +
                    'settle them (close, then finalize after the claim window) before you move the file away',
            );
        }
        for (const a of parsed.sessions as string[]) this.addresses.add(a);
    }

    // Lets another gateway use the file.
    close() {
        if (this.lock) rmSync(this.lock, { force: true });
    }

    list(): Address[] {
        return [...this.addresses].map((a) => Address.parse(a));
    }

    add(address: Address) {
        this.addresses.add(address.toString());
        this.save();
    }

    remove(address: Address) {
        if (this.addresses.delete(address.toString())) this.save();
    }

    private save() {
        if (!this.file) return;
        const tmp = `${this.file}.${process.pid}.tmp`;
        const fd = openSync(tmp, 'w', 0o600);
        try {
            writeSync(fd, JSON.stringify({ sessions: [...this.addresses] }, null, 2) + '\n');
            fsyncSync(fd);
        } finally {
            closeSync(fd);
        }
        renameSync(tmp, this.file);
        const dir = openSync(dirname(this.file), 'r');
        try {
            fsyncSync(dir); // (the rename itself survives a power loss)
        } finally {
            closeSync(dir);
        }
    }
}

// Creates `lock` holding this process's pid; a lock whose process is gone is taken over.
function takeLock(lock: string): string {
    for (let attempt = 0; attempt < 2; attempt++) {
        try {
            writeFileSync(lock, String(process.pid), { flag: 'wx', mode: 0o600 });
            return lock;
        } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
            const pid = Number(readFileSync(lock, 'utf8'));
            if (pid > 0 && pid !== process.pid && alive(pid)) {
                throw new Error(
                    `another gateway (pid ${pid}) uses the session record ${lock.slice(0, -5)}: give each gateway its own --sessions-file`,
                );
            }
            rmSync(lock, { force: true }); // (left by a gateway that is gone)
        }
    }
    throw new Error(`cannot take ${lock}`);
}

function alive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch (e) {
        return (e as NodeJS.ErrnoException).code === 'EPERM';
    }
}

// The wait after a provider's first failure in a row; each further one doubles it.
const FIRST_FAILURE_WAIT_MS = 1000;
// A session kept through this many failures of the way to its worker in a row is retired (about
// three minutes of waits): its worker is not coming back soon.
const KEPT_THROUGH_FAILURES = 7;

// What a provider's failure means for the session it happened on (see SessionPool.providerFailed).
function failureKind(e: unknown): 'transient' | 'session-ended' | 'provider' {
    if (!(e instanceof CocoonError)) return 'provider';
    if (e.code === 'worker-unreachable') return 'transient';
    if (e.code === 'worker-refused' && (e.detail === 'backend-unavailable' || e.detail === 'internal')) return 'transient';
    if (['attestation-mismatch', 'stopped'].includes(e.code)) return 'session-ended';
    if (
        e.code === 'worker-refused' &&
        ['previous-enclave-key', 'session-not-open', 'deadline-passed', 'undecryptable'].includes(e.detail ?? '')
    )
        return 'session-ended';
    return 'provider';
}

// An opening message lands within minutes, or never: a session still absent after this was refused.
const ABSENT_FOR_GOOD_MS = 10 * 60_000;

export class SessionPool {
    private sessions = new Map<string, ClientSession>(); // by model
    private opening = new Map<string, Promise<ClientSession>>();
    private failed = new Map<string, { until: number; inARow: number; at: number }>(); // by provider: passed over until (ms)
    private toppingUp = new WeakMap<ClientSession, Promise<unknown>>();
    private unconfirmed = new WeakSet<ClientSession>(); // a top-up was sent but not seen landing
    // being settled, by address: since when (ms), not closed before `closeAfter` (ms), and from
    // when it can be finalized (unix time)
    private retired = new Map<string, { address: Address; since: number; closeAfter: number; at?: number }>();
    readonly record: SessionRecord;

    constructor(
        private readonly client: CocoonClient,
        private readonly policy: SessionPolicy,
        o: { recordFile?: string; log?: Logger } = {},
    ) {
        this.record = new SessionRecord(o.recordFile);
        this.log = o.log;
        // what an earlier run left: settled like any retired session
        for (const address of this.record.list()) this.retire(address, 0); // (their keys are gone: no use waiting)
    }

    private readonly log?: Logger;

    // A session for `model` that takes requests now, with budget left. A session whose provider
    // failed a moment ago is kept unless another provider can take over: a worker that restarts
    // is back within seconds with its session (sealed keys), and a new session would cost its
    // opening fees and a close of the old one.
    async session(model: string): Promise<ClientSession> {
        const current = this.sessions.get(model);
        const now = this.client.o.chain.now();
        if (current && current.usable && current.deadline - now > this.policy.durationSeconds / 10) {
            if (this.isAvoided(current.provider)) {
                const other = await this.opened(model, current.provider).catch((e) => {
                    if (e instanceof CocoonError && e.code === 'provider-unavailable') return undefined;
                    throw e;
                });
                if (!other) throw this.waitError(model, current.provider);
                return other; // (open() retired `current`)
            }
            if (current.budget - current.latest.amountDue < this.policy.topUpBelow) await this.topUp(current, current.budget);
            return current;
        }
        if (current) {
            this.sessions.delete(model); // (never handed out again: it is being closed)
            this.retire(current.address);
        }
        return this.opened(model);
    }

    // A new session for `model` (not with `except`), one opening at a time; the one it replaces is retired.
    private opened(model: string, except?: Address): Promise<ClientSession> {
        let opening = this.opening.get(model);
        if (!opening) {
            opening = this.open(model, except).finally(() => this.opening.delete(model));
            this.opening.set(model, opening);
        }
        return opening;
    }

    // The only providers of a model failed a moment ago: when to ask again.
    private waitError(model: string, ...providers: Address[]): CocoonError {
        const until = Math.min(...providers.map((p) => this.failed.get(p.toRawString())?.until ?? Date.now()));
        const seconds = Math.max(1, Math.ceil((until - Date.now()) / 1000));
        const error = new CocoonError(
            'provider-unavailable',
            `the ${providers.length === 1 ? 'provider' : `${providers.length} providers`} of ${model} failed a moment ago: try again in ${seconds} s`,
        );
        error.retryAfterSeconds = seconds;
        return error;
    }

    // Tops `session` up by the policy's amount, unless its budget already grew past `seenBudget`
    // (the budget the caller saw when it found it short): parallel requests that find the same
    // session short wait for one top-up instead of each moving another amount into escrow.
    // A top-up that fails fails for every request waiting on it (none sends another of its own).
    async topUp(session: ClientSession, seenBudget: bigint): Promise<void> {
        const pending = this.toppingUp.get(session);
        if (pending) await pending;
        if (session.budget > seenBudget) return; // (someone else's top-up landed since the caller looked)
        if (this.toppingUp.get(session)) return this.topUp(session, seenBudget);
        // (a top-up reported unconfirmed may have landed since: read the budget before sending another)
        if (pending === undefined && this.unconfirmed.has(session)) {
            this.unconfirmed.delete(session);
            await session.refresh().catch(() => {});
            if (session.budget > seenBudget) return;
            if (this.toppingUp.get(session)) return this.topUp(session, seenBudget); // (one began meanwhile)
        }
        const topUp = session
            .topUp(this.policy.topUpAmount)
            .catch((e) => {
                if (e instanceof CocoonError && e.code === 'not-confirmed') this.unconfirmed.add(session);
                throw e;
            })
            .finally(() => this.toppingUp.delete(session));
        this.toppingUp.set(session, topUp);
        await topUp;
    }

    // The session's provider failed before answering (`e`, what the SDK threw). A failure of the
    // way there (its worker unreachable, its backend down) keeps the session: its next requests go
    // to another provider if there is one, and to it again after a wait that doubles with each
    // failure in a row (1 s, 2 s, 4 s... up to avoidFailedProviderMs), so that a worker restarting
    // with sealed keys is back in seconds with its session, and one that stays down is passed over;
    // after KEPT_THROUGH_FAILURES in a row the session is retired. A failure that ends this session
    // for good (its worker lost its keys, or says the session is closed or past its deadline)
    // retires it at once; the provider may take a new one. Any other failure (a bad answer, no
    // valid attestation) retires it and passes the provider over for avoidFailedProviderMs.
    providerFailed(session: ClientSession, e?: unknown) {
        const kind = failureKind(e);
        const key = session.provider.toRawString();
        if (kind === 'session-ended') return this.drop(session);
        const previous = this.failed.get(key);
        const now = Date.now();
        // (requests failing together, in flight when the worker went down, are one failure)
        const sameFailure = previous !== undefined && now < previous.until;
        const inARow = sameFailure
            ? previous.inARow
            : previous && now - previous.at < 2 * this.policy.avoidFailedProviderMs
              ? previous.inARow + 1
              : 1;
        const waitMs =
            kind === 'transient'
                ? Math.min(this.policy.avoidFailedProviderMs, FIRST_FAILURE_WAIT_MS * 2 ** (inARow - 1))
                : this.policy.avoidFailedProviderMs;
        this.failed.set(key, {
            until: sameFailure ? Math.max(previous.until, now + (kind === 'transient' ? 0 : waitMs)) : now + waitMs,
            inARow,
            at: now,
        });
        if (kind !== 'transient' || inARow >= KEPT_THROUGH_FAILURES) this.drop(session);
    }

    // `session` is not handed out again; it is settled.
    private drop(session: ClientSession) {
        if (this.sessions.get(session.model) === session) {
            this.sessions.delete(session.model);
            this.retire(session.address);
        }
    }

    // The gateway stops: every session is retired, and one settling pass sends their closes (the
    // next run finalizes them, from the record).
    async stop(): Promise<void> {
        for (const session of this.sessions.values()) this.retire(session.address);
        this.sessions.clear();
        for (const r of this.retired.values()) r.closeAfter = 0;
        await this.settling; // (a pass already running saw them before this)
        await this.settle();
        this.record.close();
    }

    // One pass over the retired sessions: each is closed, or finalized once its claim window is
    // over, and forgotten once settled. Failures (the chain unreachable) wait for the next pass.
    async settle(): Promise<void> {
        // (one pass at a time: two would send the same close or finalize twice)
        if (!this.settling) this.settling = this.settlePass().finally(() => (this.settling = undefined));
        return this.settling;
    }

    private settling?: Promise<void>;

    private async settlePass(): Promise<void> {
        const now = this.client.o.chain.now();
        for (const [key, r] of this.retired) {
            if (Date.now() < r.closeAfter || (r.at !== undefined && now < r.at)) continue;
            try {
                const { step, at } = await this.client.settleSession(r.address);
                r.at = at;
                // (no Session there: refused and refunded, unless its opening is still on the way)
                if (step === 'settled' || (step === 'absent' && Date.now() - r.since > ABSENT_FOR_GOOD_MS)) {
                    this.retired.delete(key);
                    this.record.remove(r.address);
                }
                if (step !== 'waiting' && step !== 'absent')
                    this.log?.info({ session: key, step }, 'settling a session the gateway no longer uses');
            } catch (e) {
                this.log?.warn({ session: key, err: (e as Error).message }, 'could not settle a session now: trying again later');
            }
        }
    }

    // Sessions retired and not settled yet (the record file holds them too).
    get unsettled(): Address[] {
        return [...this.retired.values()].map((r) => r.address);
    }

    private retire(address: Address, closeAfterMs = this.policy.retireAfterMs) {
        if (this.retired.has(address.toString())) return;
        this.retired.set(address.toString(), { address, since: Date.now(), closeAfter: Date.now() + closeAfterMs });
    }

    private isAvoided(provider: Address): boolean {
        const failed = this.failed.get(provider.toRawString());
        return failed !== undefined && failed.until > Date.now();
    }

    private async open(model: string, except?: Address): Promise<ClientSession> {
        // (workers that do not answer their health check now are still offers: "not offered" would be wrong)
        const all = await this.client.discover({ model, budget: this.policy.budget, includeUnhealthy: true });
        if (all.length === 0) throw new CocoonError('provider-unavailable', `no provider offers ${model} now`);
        const answering = all.filter((o) => o.healthMs !== null);
        if (answering.length === 0) {
            const error = new CocoonError(
                'provider-unavailable',
                `the ${all.length === 1 ? 'provider' : `${all.length} providers`} of ${model} listed on-chain ${all.length === 1 ? 'does' : 'do'} not answer now (their workers' /health): try again shortly`,
            );
            error.retryAfterSeconds = 5;
            throw error;
        }
        // (`except`: the provider of the session this one would replace, whose wait may have ended
        // while discovery ran: a new session with it would only cost fees)
        const offers = answering.filter((o) => !this.isAvoided(o.provider) && !except?.equals(o.provider));
        if (offers.length === 0) throw this.waitError(model, ...answering.map((o) => o.provider));
        const replaced = this.sessions.get(model);
        const sent: Address[] = [];
        const settleLater = (except?: Address) => {
            for (const address of sent) if (!except?.equals(address)) this.retire(address, 0);
        };
        try {
            const session = await this.client.openSessionWithFailover(offers, {
                budget: this.policy.budget,
                durationSeconds: this.policy.durationSeconds,
                // written down before the budget leaves the wallet: a crash right after still settles it
                beforeOpen: (address) => (sent.push(address), this.record.add(address)),
            });
            settleLater(session.address); // (those refused: settled as soon as a pass sees them gone)
            this.sessions.set(model, session);
            if (replaced) this.retire(replaced.address); // (never handed out again: it is being closed)
            return session;
        } catch (e) {
            settleLater(); // one not confirmed yet may still open: it is closed when it does
            throw e;
        }
    }
}
