// Finding and checking transactions in the sandbox's results. Failures are named through
// wrappers' firstFailure, the one reader of exit codes that scripts and the demo use too.
import { Blockchain, BlockchainTransaction, createShardAccount } from '@ton/sandbox';
import { Address, Transaction, beginCell, toNano } from '@ton/core';
import { SESSION_STORAGE_RESERVE, exitCodeOf, firstFailure } from '../wrappers';

export function gasUsed(tx: BlockchainTransaction): bigint {
    if (tx.description.type !== 'generic' || tx.description.computePhase.type !== 'vm') return 0n;
    return tx.description.computePhase.gasUsed;
}

// The transaction in which `to` processed a message from `from` (first match).
export function findTx(transactions: BlockchainTransaction[], from: Address, to: Address): BlockchainTransaction {
    const tx = transactions.find(
        (t) => t.inMessage?.info.type === 'internal' && t.inMessage.info.src.equals(from) && t.inMessage.info.dest.equals(to),
    );
    if (!tx) throw new Error(`no transaction from ${from} to ${to}`);
    return tx;
}

// Throws, naming the exit code, unless `to` processed the message from `from` successfully.
export function requireSuccess(transactions: BlockchainTransaction[], from: Address, to: Address) {
    const tx = findTx(transactions, from, to);
    if (tx.description.type !== 'generic' || tx.description.aborted) {
        throw new Error(`transaction from ${from} to ${to} failed with exit code ${exitCodeOf(tx) ?? '?'}`);
    }
}

// Throws, naming the first failure, if any transaction of a chain failed (`what` names the step).
export function requireNoFailure(transactions: Iterable<Transaction>, what: string) {
    const failure = firstFailure(transactions);
    if (failure) throw new Error(`${what} failed: ${failure.reason} at ${failure.account.toString()}`);
}

// The values of the internal messages `from` sent to `to` in these transactions, in order: what
// a contract paid out to whom.
export function valuesSent(transactions: BlockchainTransaction[], from: Address, to: Address): bigint[] {
    const out: bigint[] = [];
    for (const tx of transactions) {
        for (const m of tx.outMessages.values()) {
            if (m.info.type === 'internal' && m.info.src.equals(from) && m.info.dest.equals(to)) out.push(m.info.value.coins);
        }
    }
    return out;
}

// The total value of the internal messages these transactions sent to `to`, from anyone.
export function valueReceived(transactions: BlockchainTransaction[], to: Address): bigint {
    let total = 0n;
    for (const tx of transactions) {
        for (const m of tx.outMessages.values()) if (m.info.type === 'internal' && m.info.dest.equals(to)) total += m.info.value.coins;
    }
    return total;
}

// The storage fee a transaction paid (the account's rent since its previous transaction).
export function storageFee(tx: BlockchainTransaction): bigint {
    return tx.description.type === 'generic' ? (tx.description.storagePhase?.storageFeesCollected ?? 0n) : 0n;
}

// The storage fees `account`'s transactions among these paid.
export function rentPaid(transactions: BlockchainTransaction[], account: Address): bigint {
    const id = BigInt('0x' + account.hash.toString('hex'));
    return transactions.filter((t) => t.address === id).reduce((sum, t) => sum + storageFee(t), 0n);
}

// What a Session that these transactions ended owed its client: `held` (its balance read before)
// less the rent its transactions paid, the tombstone's reserve and `owed` (the protocol fee).
export function escrowOwed(transactions: BlockchainTransaction[], session: Address, held: bigint, owed = 0n): bigint {
    return held - rentPaid(transactions, session) - SESSION_STORAGE_RESERVE - owed;
}

// Opcodes of the events (external out messages) the transactions emitted, in order.
export function eventOpcodes(transactions: BlockchainTransaction[]): number[] {
    const out: number[] = [];
    for (const tx of transactions) {
        for (const m of tx.outMessages.values()) {
            if (m.info.type === 'external-out') out.push(m.body.beginParse().loadUint(32));
        }
    }
    return out;
}

// Puts a stand-in contract at `address`, for tests of what happens when the contract there
// misbehaves: 'swallow' accepts every message and does nothing (a plain account that never
// answers), 'throw' fails every transaction (exit code 55), so bounceable messages bounce.
// Returns a function that puts back what was there before.
export async function installStandIn(
    blockchain: Blockchain,
    address: Address,
    behaviour: 'swallow' | 'throw',
): Promise<() => Promise<void>> {
    const before = (await blockchain.getContract(address)).account;
    const code = behaviour === 'swallow' ? beginCell().endCell() : beginCell().storeUint(0xf237, 16).endCell(); // THROW 55
    await blockchain.setShardAccount(address, createShardAccount({ address, code, data: beginCell().endCell(), balance: toNano('1') }));
    return () => blockchain.setShardAccount(address, before);
}

// Puts a copy of the account at `from` (its code and data, with 1 TON) at `to`: a contract that
// answers every getter as `from` does, at an address that is not its own (a counterfeit).
export async function copyAccount(blockchain: Blockchain, from: Address, to: Address) {
    const state = (await blockchain.getContract(from)).account.account?.storage.state;
    if (state?.type !== 'active') throw new Error(`${from.toString()} is not an active account`);
    await blockchain.setShardAccount(
        to,
        createShardAccount({ address: to, code: state.state.code!, data: state.state.data!, balance: toNano('1') }),
    );
}
