import { Address, Cell, ContractProvider, beginCell, contractAddress } from '@ton/core';
import { createHash } from 'crypto';
import { Session as GeneratedSession, loadGetterTupleSessionState } from '../build/Session/tact_Session';
import { SESSION_CLOSING, SessionSettlement, loadSessionSettlement } from '../build/Root/tact_Root';

// Exit codes a node answers for an account it does not have (yet): not the account's answer.
const NOT_THERE_YET = new Set([-13, -256]);

/**
 * The Session contract. On-chain it has a single getter, `state` (every getter of a Tact contract
 * repeats the code that loads its state, and a Session's code travels with every session opened);
 * these methods read one field each from it.
 */
export class Session extends GeneratedSession {
    private static code: Cell | undefined;

    static async fromInit(root: Address, providerOwner: Address, client: Address, nonce: bigint): Promise<Session> {
        // The code cell read once (the generated fromInit parses it every time: about 2 ms), and
        // the initial data as Tact lays it out: the not-initialized bit, then init()'s arguments.
        Session.code ??= (await GeneratedSession.fromInit(root, providerOwner, client, nonce)).init!.code;
        const data = beginCell()
            .storeUint(0, 1)
            .storeAddress(root)
            .storeAddress(providerOwner)
            .storeAddress(client)
            .storeUint(nonce, 64)
            .endCell();
        const init = { code: Session.code, data };
        return new Session(contractAddress(0, init), init);
    }

    static fromAddress(address: Address): Session {
        return new Session(address);
    }

    /**
     * The `state` getter's answer, or null when the account answers as no Session does: its getter
     * throws (every endpoint answers the same exit code: a Session's getter never throws, and runs
     * on little gas, so out of gas, -14, is an answer too) or returns something else. A failure to
     * reach the chain still throws, and so does "account not initialized" (-13, a lite server's
     * -256): an endpoint behind that does not have the account yet.
     */
    async getStateIfSession(provider: ContractProvider) {
        let answer;
        try {
            answer = await provider.get('state', []);
        } catch (e) {
            const exitCode = /exit_code:?\s*(-?\d+)/.exec((e as Error)?.message ?? '')?.[1];
            if (exitCode !== undefined && !NOT_THERE_YET.has(Number(exitCode))) return null;
            throw e;
        }
        try {
            return loadGetterTupleSessionState(answer.stack);
        } catch {
            return null;
        }
    }

    async getProvider(provider: ContractProvider) {
        return (await this.getState(provider)).provider;
    }
    async getClient(provider: ContractProvider) {
        return (await this.getState(provider)).client;
    }
    async getNonce(provider: ContractProvider) {
        return (await this.getState(provider)).nonce;
    }
    async getStatus(provider: ContractProvider) {
        return (await this.getState(provider)).status;
    }
    async getBudget(provider: ContractProvider) {
        return (await this.getState(provider)).budget;
    }
    async getClaimed(provider: ContractProvider) {
        return (await this.getState(provider)).claimed;
    }
    async getSeqno(provider: ContractProvider) {
        return (await this.getState(provider)).seqno;
    }
    async getDeadline(provider: ContractProvider) {
        return (await this.getState(provider)).deadline;
    }
    async getClosedAt(provider: ContractProvider) {
        return (await this.getState(provider)).closedAt;
    }
    async getOpenedAt(provider: ContractProvider) {
        return (await this.getState(provider)).openedAt;
    }
    async getClientKeyHash(provider: ContractProvider) {
        return (await this.getState(provider)).clientKeyHash;
    }
    async getTerms(provider: ContractProvider) {
        return (await this.getState(provider)).terms;
    }
    async getSettlement(provider: ContractProvider): Promise<SessionSettlement | null> {
        const terms = (await this.getState(provider)).terms;
        return terms ? loadSessionSettlement(terms.settlement.beginParse()) : null;
    }
}

/** A Session's status (SESSION_* constants) by name, for messages and logs. */
export const SESSION_STATUS_NAMES: Record<number, string> = {
    0: 'new',
    1: 'opening',
    2: 'open',
    3: 'closing',
    4: 'finalized',
    5: 'release-failed',
};

/**
 * The Session of `client` with the Provider of `providerOwner` under `root`, for `nonce`. Its
 * address commits to the Root: the Session derives its Provider from (root, providerOwner), so it
 * can only be accepted by, and pay, a Provider of that Root. A client picks a fresh nonce per
 * session.
 */
export function sessionFor(root: Address, providerOwner: Address, client: Address, nonce: bigint): Promise<Session> {
    return Session.fromInit(root, providerOwner, client, nonce);
}

/**
 * What OpenSession commits to: the first 160 bits of SHA-256 of the client's X25519 session key.
 * The worker serves a session only to requests HPKE-authenticated with a key of this hash.
 */
export function clientKeyHashOf(clientPublicKey: Buffer): bigint {
    if (clientPublicKey.length !== 32) throw new RangeError('a client session key is 32 bytes (X25519)');
    return BigInt('0x' + createHash('sha256').update(clientPublicKey).digest().subarray(0, 20).toString('hex'));
}

/**
 * When a Session stops paying for new requests (servingEnd in contracts/session.tact): the
 * deadline, or the close if earlier. A receipt whose lastRequestAt is later is refused.
 */
export function servingEnd(status: number, deadline: number, closedAt: number): number {
    return status === Number(SESSION_CLOSING) && closedAt < deadline ? closedAt : deadline;
}

/**
 * Until when a Session accepts claims (claimWindowEnd in contracts/session.tact): the end of
 * serving plus the grace period.
 */
export function claimWindowEnd(status: number, deadline: number, closedAt: number, gracePeriod: number): number {
    return servingEnd(status, deadline, closedAt) + gracePeriod;
}
