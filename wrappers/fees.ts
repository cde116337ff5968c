// Reading what transactions cost and where they ran, for conservation checks and reports.
import { Address, Transaction } from '@ton/core';

// The (basechain) account a transaction ran on.
export function accountOf(t: Transaction): Address {
    return new Address(0, Buffer.from(t.address.toString(16).padStart(64, '0'), 'hex'));
}

// What transactions cost in network fees: each one's total fees plus the forward fees of the
// internal messages it sent (they leave the sender and never reach the receiver's balance).
export function feesOf(transactions: Iterable<Transaction>): bigint {
    let fees = 0n;
    for (const tx of transactions) {
        fees += tx.totalFees.coins;
        for (const m of tx.outMessages.values()) if (m.info.type === 'internal') fees += m.info.forwardFee;
    }
    return fees;
}
