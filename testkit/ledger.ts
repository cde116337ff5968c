// TON conservation on the sandbox: across any set of transactions, the balances of the accounts
// they touch change by exactly minus the fees the network took (transaction fees plus the
// forward fees of the messages they created). One ledger for the contract suites (snapshot,
// then check a flow's transactions) and the local network (named parties, every transaction a
// tracked wallet starts recorded, a balance table for the demo).
import { Blockchain, BlockchainTransaction, SandboxContract, TreasuryContract } from '@ton/sandbox';
import { Address, Sender, SenderArguments, Transaction } from '@ton/core';
import { accountOf, feesOf } from '../wrappers';

export interface Row {
    party: string;
    before: bigint;
    after: bigint;
}

export class Ledger {
    // every transaction the senders of this ledger started, in order
    readonly transactions: BlockchainTransaction[] = [];
    private readonly parties = new Map<string, { name: string; address: Address; before: bigint }>();

    constructor(private readonly blockchain: Blockchain) {}

    // Tracks `address` from now on, with its balance now as the starting point (0 for an account
    // that does not exist yet). Tracking an address again restarts it from its balance now.
    async track(name: string, address: Address) {
        const before = (await this.blockchain.getContract(address)).balance;
        this.parties.set(address.toRawString(), { name, address, before });
    }

    // Starts every party afresh from its balance now, for a check of what follows; returns where
    // the transactions that follow begin (ledger.transactions.slice(at)).
    async rebase(): Promise<number> {
        for (const p of this.parties.values()) p.before = (await this.blockchain.getContract(p.address)).balance;
        return this.transactions.length;
    }

    // Tracks addresses under their own names.
    async snapshot(addresses: Address[]) {
        for (const a of addresses) await this.track(a.toString(), a);
    }

    // A wallet's Sender that records the transactions each send causes.
    sender(wallet: SandboxContract<TreasuryContract>): Sender & { address: Address } {
        return {
            address: wallet.address,
            send: async (args: SenderArguments) => {
                const r = await wallet.send(args);
                this.transactions.push(...r.transactions);
            },
        };
    }

    fees(transactions: Iterable<Transaction> = this.transactions): bigint {
        return feesOf(transactions);
    }

    // Accounts the transactions touched that no party covers (a conservation proof would be void).
    untracked(transactions: Iterable<Transaction> = this.transactions): string[] {
        const out = new Set<string>();
        for (const tx of transactions) {
            const raw = accountOf(tx).toRawString();
            if (!this.parties.has(raw)) out.add(raw);
        }
        return [...out];
    }

    async rows(): Promise<Row[]> {
        const rows: Row[] = [];
        for (const p of this.parties.values()) {
            rows.push({ party: p.name, before: p.before, after: (await this.blockchain.getContract(p.address)).balance });
        }
        return rows;
    }

    // Sum of every party's change plus the fees of the transactions: zero when TON is conserved.
    async imbalance(transactions: Iterable<Transaction> = this.transactions): Promise<bigint> {
        let delta = 0n;
        for (const r of await this.rows()) delta += r.after - r.before;
        return delta + this.fees(transactions);
    }

    // Throws unless the transactions (by default the recorded ones) touched only tracked accounts
    // and conserved TON.
    async expectConserved(transactions: BlockchainTransaction[] = this.transactions) {
        const untracked = this.untracked(transactions);
        if (untracked.length > 0) throw new Error(`account ${untracked[0]} was not tracked before the flow`);
        const imbalance = await this.imbalance(transactions);
        if (imbalance !== 0n) {
            throw new Error(`TON not conserved: balances plus fees changed by ${imbalance} (fees were ${this.fees(transactions)})`);
        }
    }
}
