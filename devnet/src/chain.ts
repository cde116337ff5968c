// The devnet's chain: @ton/sandbox's emulator kept running as a long-lived network. Its clock
// follows the wall clock (plus whatever an admin moved it forward by), every change is saved to
// the state directory (sandbox snapshots, written atomically), and a restart carries on from there.
import { Blockchain, snapshotFromSerializable, snapshotToSerializable, updateConfig } from '@ton/sandbox';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'fs';
import { join } from 'path';
import { Address, Transaction } from '@ton/core';
import { feesOf } from '../../wrappers';

const STATE_FILE = 'chain.json';

interface SavedState {
    version: 1;
    clockOffset: number; // seconds added to the wall clock (admin advance)
    seqno: number; // the latest "masterchain block": one per applied external message or clock move
    snapshot: ReturnType<typeof snapshotToSerializable>;
}

export class DevChain {
    private constructor(
        readonly blockchain: Blockchain,
        private readonly dir: string,
        private clockOffset: number,
        public seqno: number,
        readonly fresh: boolean,
    ) {}

    // Opens the chain saved in `dir`, or starts a new one there (as the network `globalId`).
    static async open(dir: string, globalId: number): Promise<DevChain> {
        mkdirSync(dir, { recursive: true });
        const blockchain = await Blockchain.create();
        const file = join(dir, STATE_FILE);
        if (existsSync(file)) {
            let saved: SavedState;
            try {
                saved = JSON.parse(readFileSync(file, 'utf8')) as SavedState;
            } catch (e) {
                throw new Error(`${file} is not a devnet state (${(e as Error).message}): move it away to start a new chain`);
            }
            if (saved.version !== 1) throw new Error(`${file} was written by another devnet version (${saved.version})`);
            await blockchain.loadFrom(snapshotFromSerializable(saved.snapshot));
            const chain = new DevChain(blockchain, dir, saved.clockOffset, saved.seqno, false);
            chain.tick();
            return chain;
        }
        blockchain.setConfig(updateConfig(blockchain.config, { kind: 'ConfigParam__19', global_id: globalId })); // (config param 19)
        const chain = new DevChain(blockchain, dir, 0, 1, true);
        chain.tick();
        return chain;
    }

    // Unix seconds on the chain: the wall clock plus the admin's moves, never going back.
    now(): number {
        return Math.max(this.blockchain.now ?? 0, Math.floor(Date.now() / 1000) + this.clockOffset);
    }

    // Brings the emulator's clock to now(); every call that reads or changes state starts here.
    tick(): number {
        const now = this.now();
        this.blockchain.now = now;
        return now;
    }

    // Moves the clock forward (deadlines, unbonding, governance delays) and saves.
    advance(seconds: number) {
        if (!Number.isInteger(seconds) || seconds <= 0) throw new RangeError('seconds must be a positive integer');
        this.clockOffset += seconds;
        this.tick();
        this.seqno += 1;
        this.save();
    }

    // Every account with its balance, their sum, and the fees of every transaction so far: what
    // was minted is always balances + fees.
    ledger(): { accounts: { address: string; balance: bigint }[]; balances: bigint; fees: bigint } {
        const snapshot = this.blockchain.snapshot();
        const accounts = snapshot.contracts.map((c) => ({
            address: c.address.toString({ testOnly: true }),
            balance: c.account.account?.storage.balance.coins ?? 0n,
        }));
        return { accounts, balances: accounts.reduce((sum, a) => sum + a.balance, 0n), fees: feesOf(snapshot.transactions) };
    }

    // An account's transactions, newest first. (Not the sandbox's getTransactions, whose order
    // is not fixed and which cannot page from a transaction after a reload.)
    transactionsOf(address: Address): Transaction[] {
        const account = BigInt('0x' + address.hash.toString('hex'));
        // (a transaction names its account's hash only: the workchain is its incoming message's)
        const onThisAccount = (t: Transaction) => {
            const dest = t.inMessage?.info.dest;
            return t.address === account && (!Address.isAddress(dest) || dest.workChain === address.workChain);
        };
        return this.blockchain
            .snapshot()
            .transactions.filter(onThisAccount)
            .sort((a, b) => (a.lt > b.lt ? -1 : a.lt < b.lt ? 1 : 0));
    }

    // Writes the whole state: to a new file, fsynced, renamed over the old one.
    save() {
        const snapshot = this.blockchain.snapshot();
        const state: SavedState = {
            version: 1,
            clockOffset: this.clockOffset,
            seqno: this.seqno,
            // (a reloaded snapshot links some transactions to children it does not hold, which the
            // sandbox cannot write again: the links are only for its own tracing)
            snapshot: snapshotToSerializable({
                ...snapshot,
                transactions: snapshot.transactions.map((t) => ({ ...t, children: t.children.filter((c) => c !== undefined) })),
            }),
        };
        const file = join(this.dir, STATE_FILE);
        const tmp = `${file}.tmp`;
        const fd = openSync(tmp, 'w', 0o600);
        try {
            writeFileSync(fd, JSON.stringify(state));
            fsyncSync(fd);
        } finally {
            closeSync(fd);
        }
        renameSync(tmp, file);
    }
}
