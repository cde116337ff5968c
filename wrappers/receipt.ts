// Usage receipts: the cumulative usage an enclave signs and a provider claims with. The layout is
// UsageReceipt in contracts/messages.tact; this module is the only place off-chain code builds,
// signs, checks or reads one (worker, SDK, tests).
import { Address, Cell, beginCell } from '@ton/core';
import { sign, signVerify } from '@ton/crypto';
import { Prices, RECEIPT_TAG, loadUsageReceipt, storeUsageReceipt } from './Root';

export interface ReceiptFields {
    globalId: number;
    session: Address;
    openedAt: number; // the Session's opened_at: binds the receipt to this opening of the address
    seqno: number;
    tokensIn: bigint;
    tokensOut: bigint;
    amountDue: bigint; // nanotons; must equal amountDue(tokens, prices)
    resultsHash: bigint; // 256-bit hash of the responses served
}

// A model's prices as plain values: the Prices struct of contracts/messages.tact (listings, session
// terms) without its type tag.
export type PriceRates = Omit<Prices, '$$type'>;

// Prices' fields, in its order (a new token class is one more entry, and one in messages.tact).
export const PRICE_FIELDS = ['pricePerMillionIn', 'pricePerMillionOut'] as const satisfies readonly (keyof PriceRates)[];

// What the Session accepts for these token counts (amountDue in session.tact): rounded down.
export function amountDue(tokensIn: bigint, tokensOut: bigint, prices: PriceRates): bigint {
    return (tokensIn * prices.pricePerMillionIn + tokensOut * prices.pricePerMillionOut) / 1_000_000n;
}

export function buildUsageReceipt(fields: ReceiptFields): Cell {
    return beginCell()
        .store(
            storeUsageReceipt({
                $$type: 'UsageReceipt',
                tag: RECEIPT_TAG,
                globalId: BigInt(fields.globalId),
                session: fields.session,
                openedAt: BigInt(fields.openedAt),
                seqno: BigInt(fields.seqno),
                tokensIn: fields.tokensIn,
                tokensOut: fields.tokensOut,
                amountDue: fields.amountDue,
                resultsHash: fields.resultsHash,
            }),
        )
        .endCell();
}

export function parseUsageReceipt(receipt: Cell): ReceiptFields & { tag: bigint } {
    const r = loadUsageReceipt(receipt.beginParse());
    return {
        tag: r.tag,
        globalId: Number(r.globalId),
        session: r.session,
        openedAt: Number(r.openedAt),
        seqno: Number(r.seqno),
        tokensIn: r.tokensIn,
        tokensOut: r.tokensOut,
        amountDue: r.amountDue,
        resultsHash: r.resultsHash,
    };
}

// The enclave signs the receipt cell's representation hash, which is what the Session checks.
export function signUsageReceipt(receipt: Cell, enclaveSecretKey: Buffer): Buffer {
    return sign(receipt.hash(), enclaveSecretKey);
}

export function verifyUsageReceipt(receipt: Cell, signature: Buffer, enclavePublicKey: Buffer): boolean {
    return signVerify(receipt.hash(), signature, enclavePublicKey);
}
