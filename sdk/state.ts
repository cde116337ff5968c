// Reading Provider and Session state from the chain, in one place for the SDK and the worker.
import { Address } from '@ton/core';
import { Attestation, Listing, ModelOffer, ProtocolParams, Provider, Session, SessionTerms, modelKey } from '../wrappers';
import { ChainAccess, onChain } from './chain';

export interface SessionState {
    address: Address;
    provider: Address;
    client: Address;
    status: number; // SESSION_* in wrappers
    budget: bigint;
    claimed: bigint;
    seqno: number;
    deadline: number;
    closedAt: number;
    clientKeyHash: bigint;
    terms: SessionTerms | null;
}

// null when no Session lives at `address` (never opened, or refused and gone).
export async function readSession(chain: ChainAccess, address: Address): Promise<SessionState | null> {
    return onChain(chain, `read the Session ${address.toString()}`, async () => {
        if ((await chain.accountState(address)) !== 'active') return null;
        const s = chain.open(Session.fromAddress(address));
        return {
            address,
            provider: await s.getProvider(),
            client: await s.getClient(),
            status: Number(await s.getStatus()),
            budget: await s.getBudget(),
            claimed: await s.getClaimed(),
            seqno: Number(await s.getSeqno()),
            deadline: Number(await s.getDeadline()),
            closedAt: Number(await s.getClosedAt()),
            clientKeyHash: await s.getClientKeyHash(),
            terms: await s.getTerms(),
        };
    });
}

export interface ProviderState {
    address: Address;
    owner: Address;
    status: number; // STATUS_* in wrappers
    stake: bigint;
    freeStake: bigint;
    listing: Listing | null;
    attestation: Attestation | null;
    params: ProtocolParams | null;
}

export async function readProvider(chain: ChainAccess, address: Address): Promise<ProviderState | null> {
    return onChain(chain, `read the Provider ${address.toString()}`, async () => {
        if ((await chain.accountState(address)) !== 'active') return null;
        const p = chain.open(Provider.fromAddress(address));
        return {
            address,
            owner: await p.getOwner(),
            status: Number(await p.getStatus()),
            stake: await p.getStake(),
            freeStake: await p.getFreeStake(),
            listing: await p.getListing(),
            attestation: await p.getAttestation(),
            params: await p.getParams(),
        };
    });
}

export function offerFor(listing: Listing | null, model: string): ModelOffer | undefined {
    return listing?.models.get(modelKey(model)) ?? undefined;
}
