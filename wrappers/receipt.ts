// Usage receipts: the cumulative usage an enclave signs and a provider claims with. The layout is
// UsageReceipt in contracts/messages.tact; this module is the only place off-chain code builds,
// signs, checks or reads one (worker, SDK, tests).
import { Address, Cell, beginCell } from '@ton/core';
import { KeyObject, createPrivateKey, createPublicKey, sign, verify } from 'crypto';
import { Prices, RECEIPT_TAG, loadUsageReceipt, storeUsageReceipt } from './Root';

export interface ReceiptFields {
    globalId: number;
    session: Address;
    openedAt: number; // the Session's opened_at: binds the receipt to this opening of the address
    seqno: number;
    lastRequestAt: number; // unix time the enclave accepted the last request counted (0: none)
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
                lastRequestAt: BigInt(fields.lastRequestAt),
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
        lastRequestAt: Number(r.lastRequestAt),
        tokensIn: r.tokensIn,
        tokensOut: r.tokensOut,
        amountDue: r.amountDue,
        resultsHash: r.resultsHash,
    };
}

// The enclave signs the receipt cell's representation hash, which is what the Session checks.
// Ed25519 through node:crypto (OpenSSL): about 50 µs to sign or verify, against 4 and 13 ms for
// the pure-JS implementation, on every request of both worker and client. Keys are @ton/crypto's
// (a 64-byte secret key: the seed, then the public key).
export function signUsageReceipt(receipt: Cell, enclaveSecretKey: Buffer): Buffer {
    return sign(null, receipt.hash(), ed25519Key('private', enclaveSecretKey.subarray(0, 32)));
}

export function verifyUsageReceipt(receipt: Cell, signature: Buffer, enclavePublicKey: Buffer): boolean {
    if (signature.length !== 64 || enclavePublicKey.length !== 32) return false;
    return verify(null, receipt.hash(), ed25519Key('public', enclavePublicKey), signature);
}

// DER prefixes that wrap a raw 32-byte Ed25519 seed (PKCS#8) or public key (SPKI), so that
// node:crypto can import it.
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');
const imported = new Map<string, KeyObject>();

function ed25519Key(kind: 'private' | 'public', raw: Buffer): KeyObject {
    const id = kind + raw.toString('hex');
    let key = imported.get(id);
    if (!key) {
        key =
            kind === 'private'
                ? createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, raw]), format: 'der', type: 'pkcs8' })
                : createPublicKey({ key: Buffer.concat([SPKI_ED25519, raw]), format: 'der', type: 'spki' });
        if (imported.size >= 256) imported.delete(imported.keys().next().value!); // a few enclave keys at a time
        imported.set(id, key);
    }
    return key;
}
