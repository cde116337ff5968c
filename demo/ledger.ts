// Accounting for flows on the sandbox: every transaction any party's wallet starts is recorded,
// so that the balance table can show what each party gained or paid and prove that the sum of
// all changes plus the network fees is exactly zero.
import { Blockchain, BlockchainTransaction, SandboxContract, TreasuryContract } from '@ton/sandbox';
import { Address, Sender, SenderArguments } from '@ton/core';
import { accountOf, feesOf } from '../wrappers';

export interface Row {
    party: string;
    before: bigint;
    after: bigint;
}

export class FlowLedger {
    readonly transactions: BlockchainTransaction[] = [];
    private parties: { name: string; address: Address; before: bigint }[] = [];

    constructor(private readonly blockchain: Blockchain) {}

    // Tracks `address` from now on (`before` = 0 for an account that does not exist yet).
    async track(name: string, address: Address) {
        this.parties.push({ name, address, before: (await this.blockchain.getContract(address)).balance });
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

    fees(): bigint {
        return feesOf(this.transactions);
    }

    // Accounts the recorded transactions touched that no party covers (the proof would be void).
    untracked(): string[] {
        const known = new Set(this.parties.map((p) => p.address.toRawString()));
        const out = new Set<string>();
        for (const tx of this.transactions) {
            const raw = accountOf(tx).toRawString();
            if (!known.has(raw)) out.add(raw);
        }
        return [...out];
    }

    async rows(): Promise<Row[]> {
        const rows: Row[] = [];
        for (const p of this.parties)
            rows.push({ party: p.name, before: p.before, after: (await this.blockchain.getContract(p.address)).balance });
        return rows;
    }

    // Sum of every party's change plus fees: zero when TON is conserved.
    async imbalance(): Promise<bigint> {
        let delta = 0n;
        for (const r of await this.rows()) delta += r.after - r.before;
        return delta + this.fees();
    }
}
