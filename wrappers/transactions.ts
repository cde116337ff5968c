// Reading transactions: what they cost, where they ran, and which one failed with what exit code.
// Conservation checks, operator scripts, the test kit and the demo all read them through here.
import { Address, Transaction } from '@ton/core';
import { describeExitCode } from './errors';

/** The (basechain) account a transaction ran on. */
export function accountOf(t: Transaction): Address {
    return new Address(0, Buffer.from(t.address.toString(16).padStart(64, '0'), 'hex'));
}

/**
 * What transactions cost in network fees: each one's total fees plus the forward fees of the
 * internal messages it sent (they leave the sender and never reach the receiver's balance).
 */
export function feesOf(transactions: Iterable<Transaction>): bigint {
    let fees = 0n;
    for (const tx of transactions) {
        fees += tx.totalFees.coins;
        for (const m of tx.outMessages.values()) if (m.info.type === 'internal') fees += m.info.forwardFee;
    }
    return fees;
}

/** The compute phase's exit code; null when the VM did not run (skipped compute phase). */
export function exitCodeOf(t: Transaction): number | null {
    const d = t.description;
    return d.type === 'generic' && d.computePhase.type === 'vm' ? d.computePhase.exitCode : null;
}

/** Whether a transaction was aborted: a phase failed and its changes were rolled back. */
export function isAborted(t: Transaction): boolean {
    return t.description.type === 'generic' && t.description.aborted;
}

/** A failed transaction, as firstFailure names it: the account it ran on, its exit code and a readable reason. */
export interface Failure {
    transaction: Transaction;
    account: Address;
    exitCode: number | null;
    reason: string; // "ERR_VALUE_TOO_LOW (exit code 6001)", or why there was no exit code
}

/**
 * The first failed transaction of a chain of transactions, named. A wallet receiving a bounce it
 * cannot process is the echo of a failure, not the failure itself, and is skipped.
 */
export function firstFailure(transactions: Iterable<Transaction>): Failure | undefined {
    for (const t of transactions) {
        if (!isAborted(t) || isBounceReceipt(t)) continue;
        const exitCode = exitCodeOf(t);
        const account = accountOf(t);
        const name = exitCode === null ? 'the transaction was aborted' : describeExitCode(exitCode);
        const reason = exitCode === null || name === `exit code ${exitCode}` ? name : `${name} (exit code ${exitCode})`;
        return { transaction: t, account, exitCode, reason };
    }
    return undefined;
}

function isBounceReceipt(t: Transaction): boolean {
    return t.inMessage?.info.type === 'internal' && t.inMessage.info.bounced === true;
}
