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
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'fs';
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
// whole (to a temporary file, then renamed) so that a crash never leaves half of it.
export class SessionRecord {
    private addresses = new Set<string>();

    constructor(private readonly file?: string) {
        if (!file || !existsSync(file)) return;
        const parsed = JSON.parse(readFileSync(file, 'utf8')) as { sessions?: unknown };
        if (!Array.isArray(parsed.sessions) || !parsed.sessions.every((a) => typeof a === 'string' && Address.isFriendly(a))) {
            throw new Error(`${file} is not a gateway session record ({"sessions": [address, ...]}): move it away to start afresh`);
        }
        for (const a of parsed.sessions as string[]) this.addresses.add(a);
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
        mkdirSync(dirname(this.file), { recursive: true });
        writeFileSync(`${this.file}.tmp`, JSON.stringify({ sessions: [...this.addresses] }, null, 2) + '\n', { mode: 0o600 });
        renameSync(`${this.file}.tmp`, this.file);
    }
}

// An opening message lands within minutes, or never: a session still absent after this was refused.
const ABSENT_FOR_GOOD_MS = 10 * 60_000;

export class SessionPool {
    private sessions = new Map<string, ClientSession>(); // by model
    private opening = new Map<string, Promise<ClientSession>>();
    private failed = new Map<string, number>(); // provider -> until (ms)
    private toppingUp = new WeakMap<ClientSession, Promise<unknown>>();
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

    // A session for `model` that takes requests now, with budget left.
    async session(model: string): Promise<ClientSession> {
        const current = this.sessions.get(model);
        const now = this.client.o.chain.now();
        if (current && current.usable && !this.isAvoided(current.provider) && current.deadline - now > this.policy.durationSeconds / 10) {
            if (current.budget - current.latest.amountDue < this.policy.topUpBelow) await this.topUp(current, current.budget);
            return current;
        }
        if (current) this.retire(current.address);
        let opening = this.opening.get(model);
        if (!opening) {
            opening = this.open(model).finally(() => this.opening.delete(model));
            this.opening.set(model, opening);
        }
        return opening;
    }

    // Tops `session` up by the policy's amount, unless its budget already grew past `seenBudget`
    // (the budget the caller saw when it found it short): parallel requests that find the same
    // session short wait for one top-up instead of each moving another amount into escrow.
    async topUp(session: ClientSession, seenBudget: bigint): Promise<void> {
        for (let pending = this.toppingUp.get(session); pending; pending = this.toppingUp.get(session)) {
            await pending.catch(() => {}); // (its caller reports its failure)
        }
        if (session.budget > seenBudget) return;
        const topUp = session.topUp(this.policy.topUpAmount).finally(() => this.toppingUp.delete(session));
        this.toppingUp.set(session, topUp);
        await topUp;
    }

    // The session's provider failed before answering: its next requests go elsewhere.
    providerFailed(session: ClientSession) {
        this.failed.set(session.provider.toRawString(), Date.now() + this.policy.avoidFailedProviderMs);
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
        await this.settle();
    }

    // One pass over the retired sessions: each is closed, or finalized once its claim window is
    // over, and forgotten once settled. Failures (the chain unreachable) wait for the next pass.
    async settle(): Promise<void> {
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
        const until = this.failed.get(provider.toRawString());
        return until !== undefined && until > Date.now();
    }

    private async open(model: string): Promise<ClientSession> {
        const offers = (await this.client.discover({ model, budget: this.policy.budget })).filter((o) => !this.isAvoided(o.provider));
        if (offers.length === 0) throw new CocoonError('provider-unavailable', `no provider offers ${model} now`);
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
            return session;
        } catch (e) {
            settleLater(); // one not confirmed yet may still open: it is closed when it does
            throw e;
        }
    }
}
