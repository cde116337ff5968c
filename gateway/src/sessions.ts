// The gateway's sessions: one open session per model, reused for every request and topped up from
// the gateway's wallet, so that the on-chain fees of opening one are spread over many requests.
// A provider that fails is set aside for a while and the next request opens a session with the
// next best provider (the SDK's discovery order: price, record, attestation, health).
import { Address } from '@ton/core';
import { ClientSession, CocoonClient, CocoonError } from '../../sdk';

export interface SessionPolicy {
    budget: bigint; // nanotons escrowed when a session opens
    topUpBelow: bigint; // a session with less budget left than this is topped up...
    topUpAmount: bigint; // ...by this much
    durationSeconds: number; // a session's lifetime; a new one opens when less than a tenth is left
    avoidFailedProviderMs: number; // how long a provider that failed is passed over
}

export const DEFAULT_SESSION_POLICY: SessionPolicy = {
    budget: 5_000_000_000n,
    topUpBelow: 1_000_000_000n,
    topUpAmount: 5_000_000_000n,
    durationSeconds: 24 * 3600,
    avoidFailedProviderMs: 60_000,
};

export class SessionPool {
    private sessions = new Map<string, ClientSession>(); // by model
    private opening = new Map<string, Promise<ClientSession>>();
    private failed = new Map<string, number>(); // provider -> until (ms)

    constructor(
        private readonly client: CocoonClient,
        private readonly policy: SessionPolicy,
    ) {}

    // A session for `model` that takes requests now, with budget left.
    async session(model: string): Promise<ClientSession> {
        const current = this.sessions.get(model);
        const now = this.client.o.chain.now();
        if (current && current.usable && !this.isAvoided(current.provider) && current.deadline - now > this.policy.durationSeconds / 10) {
            if (current.budget - current.latest.amountDue < this.policy.topUpBelow) await current.topUp(this.policy.topUpAmount);
            return current;
        }
        let opening = this.opening.get(model);
        if (!opening) {
            opening = this.open(model).finally(() => this.opening.delete(model));
            this.opening.set(model, opening);
        }
        return opening;
    }

    // The session's provider failed before answering: its next requests go elsewhere.
    providerFailed(session: ClientSession) {
        this.failed.set(session.provider.toRawString(), Date.now() + this.policy.avoidFailedProviderMs);
        if (this.sessions.get(session.model) === session) this.sessions.delete(session.model);
    }

    private isAvoided(provider: Address): boolean {
        const until = this.failed.get(provider.toRawString());
        return until !== undefined && until > Date.now();
    }

    private async open(model: string): Promise<ClientSession> {
        const offers = (await this.client.discover({ model, budget: this.policy.budget })).filter((o) => !this.isAvoided(o.provider));
        if (offers.length === 0) throw new CocoonError('provider-unavailable', `no provider offers ${model} now`);
        const session = await this.client.openSessionWithFailover(offers, {
            budget: this.policy.budget,
            durationSeconds: this.policy.durationSeconds,
        });
        this.sessions.set(model, session);
        return session;
    }
}
