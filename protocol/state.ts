// Reading Provider and Session state from the chain, in one place for the SDK and the worker.
import { Address } from '@ton/core';
import {
    Attestation,
    Listing,
    ModelOffer,
    ProtocolParams,
    Provider,
    ProviderStats,
    Session,
    SessionTerms,
    modelKey,
    providerForOwner,
    sessionFor,
} from '../wrappers';
import { ChainAccess, onChain } from './chain';

/** A Session contract's state as readSession reads it: parties, status, budget and what was claimed from it, terms. */
export interface SessionState {
    address: Address;
    provider: Address;
    client: Address;
    nonce: bigint; // with the client, what the Session's address commits to (isSessionOf)
    status: number; // SESSION_* in wrappers
    budget: bigint;
    claimed: bigint;
    seqno: number;
    deadline: number;
    closedAt: number;
    openedAt: number; // receipts carry it
    clientKeyHash: bigint;
    terms: SessionTerms | null;
}

/**
 * null when no Session lives at `address` (never opened, or refused and gone), or the account
 * there answers as no Session does (Session.getStateIfSession). One get-method call: the
 * Session's `state` getter. (Whether it is a Session of a given Provider: isSessionOf.)
 */
export async function readSession(chain: ChainAccess, address: Address): Promise<SessionState | null> {
    return onChain(chain, `read the Session ${address.toString()}`, async () => {
        if ((await chain.accountState(address)) !== 'active') return null;
        const s = await chain.open(Session.fromAddress(address)).getStateIfSession();
        if (!s) return null;
        return {
            address,
            provider: s.provider,
            client: s.client,
            nonce: s.nonce,
            status: Number(s.status),
            budget: s.budget,
            claimed: s.claimed,
            seqno: Number(s.seqno),
            deadline: Number(s.deadline),
            closedAt: Number(s.closedAt),
            openedAt: Number(s.openedAt),
            clientKeyHash: s.clientKeyHash,
            terms: s.terms,
        };
    });
}

/**
 * Whether the account read as `s` is the Session the Provider of `provider` (its Root and owner)
 * opens for s's client and nonce: this release's Session code, at the address its initial data
 * gives (as the Provider checks a Session that messages it). Anyone can deploy a contract whose
 * getter answers like a Session of any Provider, with any terms; only the address tells the real
 * one, whose claims pay and whose finalize returns what it does not spend.
 */
export async function isSessionOf(
    provider: { root: Address; owner: Address },
    s: Pick<SessionState, 'address' | 'client' | 'nonce'>,
): Promise<boolean> {
    if (s.nonce < 0n || s.nonce >= 1n << 64n) return false; // (a Session's nonce is a uint64; a getter may answer anything)
    return (await sessionFor(provider.root, provider.owner, s.client, s.nonce)).address.equals(s.address);
}

/** `p` is the Provider `root` has for p's owner: same Root, and the address the genuine code gives. */
export async function isProviderOf(root: Address, p: Pick<ProviderState, 'address' | 'root' | 'owner'>): Promise<boolean> {
    return p.root.equals(root) && (await providerForOwner(root, p.owner)).address.equals(p.address);
}

/** A Provider contract's state as readProvider reads it: owner, status, stake, listing, attestation and record. */
export interface ProviderState {
    address: Address;
    root: Address;
    owner: Address;
    status: number; // STATUS_* in wrappers
    stake: bigint;
    freeStake: bigint;
    listing: Listing | null;
    attestation: Attestation | null;
    params: ProtocolParams | null;
    stats: ProviderStats; // its record: sessions, slashes, timeouts, jails
}

/** null when no Provider lives at `address`. One read (the summary getter) after the account check. */
export async function readProvider(chain: ChainAccess, address: Address): Promise<ProviderState | null> {
    return onChain(chain, `read the Provider ${address.toString()}`, async () => {
        if ((await chain.accountState(address)) !== 'active') return null;
        const s = await chain.open(Provider.fromAddress(address)).getSummary();
        return {
            address,
            root: s.root,
            owner: s.owner,
            status: Number(s.status),
            stake: s.stake,
            freeStake: s.freeStake,
            listing: s.listing,
            attestation: s.attestation,
            params: s.params,
            stats: s.stats,
        };
    });
}

/** The offer for `model` (its prices and model hash) in a Provider's listing, found by name; undefined when it is not listed. */
export function offerFor(listing: Listing | null, model: string): ModelOffer | undefined {
    return listing?.models.get(modelKey(model)) ?? undefined;
}
