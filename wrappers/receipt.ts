// Usage receipts: the cumulative usage an enclave signs and a provider claims with. The layout is
// UsageReceipt in contracts/messages.tact; this module is the only place off-chain code builds,
// signs, checks or reads one (worker, SDK, tests).
import { Address, Cell, beginCell } from '@ton/core';
import { KeyObject, createPrivateKey, createPublicKey, sign, verify } from 'crypto';
import { Prices, RECEIPT_TAG, loadUsageReceipt, storeUsageReceipt } from './Root';

/**
 * Cumulative or per-request token counts as OpenAI's usage object gives them: cachedTokens
 * (prompt_tokens_details.cached_tokens) are part of promptTokens, reasoningTokens
 * (completion_tokens_details.reasoning_tokens) part of completionTokens.
 */
export interface TokenUsage {
    promptTokens: bigint;
    cachedTokens: bigint;
    completionTokens: bigint;
    reasoningTokens: bigint;
}

/** TokenUsage's fields, the four token classes, in UsageReceipt's order. */
export const TOKEN_FIELDS = [
    'promptTokens',
    'cachedTokens',
    'completionTokens',
    'reasoningTokens',
] as const satisfies readonly (keyof TokenUsage)[];

/** Zero tokens of every class. */
export const NO_USAGE: TokenUsage = { promptTokens: 0n, cachedTokens: 0n, completionTokens: 0n, reasoningTokens: 0n };

/** The most a receipt counts of each class (uint48 in UsageReceipt). */
export const MAX_RECEIPT_TOKENS = (1n << 48n) - 1n;

/** The sum of two usages, class by class. */
export function addUsage(a: TokenUsage, b: TokenUsage): TokenUsage {
    return {
        promptTokens: a.promptTokens + b.promptTokens,
        cachedTokens: a.cachedTokens + b.cachedTokens,
        completionTokens: a.completionTokens + b.completionTokens,
        reasoningTokens: a.reasoningTokens + b.reasoningTokens,
    };
}

/** Why these counts cannot be a usage (negative, a part above its whole, beyond uint48), or null. */
export function usageProblem(u: TokenUsage): string | null {
    for (const f of TOKEN_FIELDS) {
        if (u[f] < 0n) return `${f} is negative`;
        if (u[f] > MAX_RECEIPT_TOKENS) return `${f} exceeds 2^48 - 1`;
    }
    if (u.cachedTokens > u.promptTokens) return 'cachedTokens exceed promptTokens';
    if (u.reasoningTokens > u.completionTokens) return 'reasoningTokens exceed completionTokens';
    return null;
}

export interface ReceiptFields extends TokenUsage {
    globalId: number;
    session: Address;
    openedAt: number; // the Session's opened_at: binds the receipt to this opening of the address
    seqno: number;
    lastRequestAt: number; // unix time the enclave accepted the last request counted (0: none)
    amountDue: bigint; // nanotons; must equal amountDue(tokens, prices)
    resultsHash: bigint; // 256-bit hash of the responses served
}

/**
 * A model's prices as plain values: the Prices struct of contracts/messages.tact (listings, session
 * terms) without its type tag: nanotons per million tokens of each class.
 */
export type PriceRates = Omit<Prices, '$$type'>;

/** Prices' fields, in its order (a new token class is one more entry, and one in messages.tact). */
export const PRICE_FIELDS = ['prompt', 'cachedPrompt', 'completion', 'reasoning'] as const satisfies readonly (keyof PriceRates)[];

/** The most a price can be (uint64 nanotons per million tokens in Prices). */
export const MAX_PRICE = (1n << 64n) - 1n;

/** What the Session accepts for these token counts (amountDue in session.tact): rounded down. */
export function amountDue(u: TokenUsage, prices: PriceRates): bigint {
    return (
        ((u.promptTokens - u.cachedTokens) * prices.prompt +
            u.cachedTokens * prices.cachedPrompt +
            (u.completionTokens - u.reasoningTokens) * prices.completion +
            u.reasoningTokens * prices.reasoning) /
        1_000_000n
    );
}

/** The usage receipt cell an enclave signs (signUsageReceipt) and a provider claims with. */
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
                promptTokens: fields.promptTokens,
                cachedTokens: fields.cachedTokens,
                completionTokens: fields.completionTokens,
                reasoningTokens: fields.reasoningTokens,
                amountDue: fields.amountDue,
                resultsHash: fields.resultsHash,
            }),
        )
        .endCell();
}

/** A usage receipt cell's fields, with its tag (RECEIPT_TAG for a usage receipt). */
export function parseUsageReceipt(receipt: Cell): ReceiptFields & { tag: bigint } {
    const r = loadUsageReceipt(receipt.beginParse());
    return {
        tag: r.tag,
        globalId: Number(r.globalId),
        session: r.session,
        openedAt: Number(r.openedAt),
        seqno: Number(r.seqno),
        lastRequestAt: Number(r.lastRequestAt),
        promptTokens: r.promptTokens,
        cachedTokens: r.cachedTokens,
        completionTokens: r.completionTokens,
        reasoningTokens: r.reasoningTokens,
        amountDue: r.amountDue,
        resultsHash: r.resultsHash,
    };
}

/**
 * The enclave signs the receipt cell's representation hash, which is what the Session checks.
 * Ed25519 through node:crypto (OpenSSL): about 50 µs to sign or verify, against 4 and 13 ms for
 * the pure-JS implementation, on every request of both worker and client. Keys are @ton/crypto's
 * (a 64-byte secret key: the seed, then the public key).
 */
export function signUsageReceipt(receipt: Cell, enclaveSecretKey: Buffer): Buffer {
    return sign(null, receipt.hash(), ed25519Key('private', enclaveSecretKey.subarray(0, 32)));
}

/** Whether `signature` is the enclave's ed25519 signature of the receipt cell's hash (false for a malformed key or signature). */
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
