// Usage receipts: the cumulative usage an enclave signs and a provider claims with. The layout is
// UsageReceipt in contracts/messages.tact; this module is the only place off-chain code builds,
// signs, checks or reads one (worker, SDK, tests).
import { Address, Cell, beginCell } from '@ton/core';
import { createHash } from 'crypto';
import { ed25519Sign, ed25519Verify } from './ed25519';
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
 * The enclave signs the receipt cell's representation hash, which is what the Session checks
 * (ed25519.ts: native Ed25519, on every request of both worker and client). Keys are @ton/crypto's
 * (a 64-byte secret key: the seed, then the public key).
 */
export function signUsageReceipt(receipt: Cell, enclaveSecretKey: Buffer): Buffer {
    return signReceiptHash(receipt.hash(), enclaveSecretKey);
}

/** Whether `signature` is the enclave's ed25519 signature of the receipt cell's hash (false for a malformed key or signature). */
export function verifyUsageReceipt(receipt: Cell, signature: Buffer, enclavePublicKey: Buffer): boolean {
    return verifyReceiptHash(receipt.hash(), signature, enclavePublicKey);
}

/** signUsageReceipt of the receipt cell's representation hash (encodeUsageReceipt, decodeUsageReceipt). */
export function signReceiptHash(hash: Buffer, enclaveSecretKey: Buffer): Buffer {
    return ed25519Sign(hash, enclaveSecretKey);
}

/** verifyUsageReceipt of the receipt cell's representation hash (decodeUsageReceipt). */
export function verifyReceiptHash(hash: Buffer, signature: Buffer, enclavePublicKey: Buffer): boolean {
    return ed25519Verify(hash, signature, enclavePublicKey);
}

// The receipt cell without a Cell: storeUsageReceipt's layout written and read with bigint
// arithmetic, hashed with node:crypto, as a one-cell BoC. @ton/core builds and reads cells bit by
// bit and hashes them in JavaScript: about 0.1 ms a receipt, on every request of both the worker
// and the client. tests/sdk/receipt-codec.spec.ts holds it to @ton/core's cells.

// UsageReceipt's fields in storeUsageReceipt's order: [name, width in bits]; the session address
// is std (0b100: no anycast, then an int8 workchain and the 256-bit account id), the amount is
// coins (a 4-bit byte length, then the bytes).
const HEAD = [
    ['tag', 32],
    ['globalId', 32],
] as const;
const BODY = [
    ['openedAt', 32],
    ['seqno', 32],
    ['lastRequestAt', 32],
    ['promptTokens', 48],
    ['cachedTokens', 48],
    ['completionTokens', 48],
    ['reasoningTokens', 48],
] as const;
const STD_ADDRESS = 0b100n;
// A BoC of one cell without index or checksum, sizes in one byte: magic, flags and size_bytes = 1,
// off_bytes = 1, one cell, one root, none absent; then the cells' total size, root 0, the cell.
const ONE_CELL_BOC = Buffer.from('b5ee9c7201010101', 'hex');

/** The BoC and representation hash (what the enclave signs) of the cell buildUsageReceipt makes of these fields, without making it. */
export function encodeUsageReceipt(fields: ReceiptFields): { boc: Buffer; hash: Buffer } {
    let value = 0n;
    let bits = 0;
    const put = (v: bigint, width: number) => {
        if (v < 0n || v >= 1n << BigInt(width)) throw new RangeError(`${v} does not fit in ${width} bits of a usage receipt`);
        value = (value << BigInt(width)) | v;
        bits += width;
    };
    const globalId = BigInt(fields.globalId);
    if (globalId < -(1n << 31n) || globalId >= 1n << 31n) throw new RangeError(`${globalId} is not an int32 global id`);
    put(RECEIPT_TAG, 32);
    put(BigInt.asUintN(32, globalId), 32);
    put(STD_ADDRESS, 3);
    put(BigInt.asUintN(8, BigInt(fields.session.workChain)), 8);
    put(BigInt('0x' + fields.session.hash.toString('hex')), 256);
    for (const [name, width] of BODY) put(BigInt(fields[name]), width);
    const amountBytes = fields.amountDue === 0n ? 0 : Math.ceil(fields.amountDue.toString(16).length / 2);
    put(BigInt(amountBytes), 4);
    put(fields.amountDue, amountBytes * 8);
    put(fields.resultsHash, 256);
    // the data padded to whole bytes (a 1 bit, then 0 bits), and the descriptors: no refs, ordinary, level 0
    const bytes = Math.ceil(bits / 8);
    const pad = bytes * 8 - bits;
    const padded = pad ? ((value << 1n) | 1n) << BigInt(pad - 1) : value;
    const data = Buffer.from(padded.toString(16).padStart(bytes * 2, '0'), 'hex');
    const descriptors = Buffer.from([0, Math.floor(bits / 8) + bytes]);
    return {
        boc: Buffer.concat([ONE_CELL_BOC, Buffer.from([0, 2 + data.length, 0]), descriptors, data]),
        hash: createHash('sha256').update(descriptors).update(data).digest(),
    };
}

/**
 * A usage receipt's fields and its cell's representation hash (what the enclave signs) from its
 * BoC. A BoC in another form than encodeUsageReceipt's (an index, a checksum, longer sizes) is read
 * through a Cell. Throws for a BoC that is not one cell, or a cell that is not a UsageReceipt.
 */
export function decodeUsageReceipt(boc: Buffer): { fields: ReceiptFields & { tag: bigint }; hash: Buffer } {
    const fast = boc.length > 13 && boc.subarray(0, 8).equals(ONE_CELL_BOC) && readOneCell(boc);
    if (fast) return fast;
    const cell = Cell.fromBoc(Buffer.from(boc)); // (a copy: @ton/core rewrites an anycast address in place)
    if (cell.length !== 1) throw new Error(`a receipt is one cell, not ${cell.length}`);
    return { fields: parseUsageReceipt(cell[0]), hash: cell[0].hash() };
}

// The fields of a one-cell BoC in encodeUsageReceipt's form holding exactly a UsageReceipt with a
// std address; null for anything else (read through a Cell then).
function readOneCell(boc: Buffer): { fields: ReceiptFields & { tag: bigint }; hash: Buffer } | null {
    const [absent, total, root, refs, d2] = boc.subarray(8, 13);
    const data = boc.subarray(13);
    if (absent !== 0 || total !== boc.length - 11 || root !== 0 || refs !== 0 || Math.ceil(d2 / 2) !== data.length) return null;
    let bits = data.length * 8;
    if (d2 % 2 === 1) {
        const last = data[data.length - 1];
        if (last === 0) return null;
        bits -= 1 + Math.log2(last & -last); // the padding: zeros after the last 1 bit, and that bit
    }
    let value = data.length ? BigInt('0x' + data.toString('hex')) >> BigInt(data.length * 8 - bits) : 0n;
    let left = bits;
    const take = (width: number): bigint | null => {
        if (width > left) return null;
        left -= width;
        const v = value >> BigInt(left);
        value &= (1n << BigInt(left)) - 1n;
        return v;
    };
    const read: Record<string, bigint> = {};
    for (const [name, width] of HEAD) {
        const v = take(width);
        if (v === null) return null;
        read[name] = v;
    }
    if (take(3) !== STD_ADDRESS) return null;
    const workChain = take(8);
    const account = take(256);
    if (workChain === null || account === null) return null;
    for (const [name, width] of BODY) {
        const v = take(width);
        if (v === null) return null;
        read[name] = v;
    }
    const amountBytes = take(4);
    const amountDue = amountBytes === null ? null : take(Number(amountBytes) * 8);
    const resultsHash = take(256);
    // (exactly a receipt's bits: 879 + 8 x the amount's bytes, never whole bytes, so the hash below
    // is of the descriptors a Cell would compute)
    if (amountDue === null || resultsHash === null || left !== 0) return null;
    return {
        fields: {
            tag: read.tag,
            globalId: Number(BigInt.asIntN(32, read.globalId)),
            session: new Address(Number(BigInt.asIntN(8, workChain)), Buffer.from(account.toString(16).padStart(64, '0'), 'hex')),
            openedAt: Number(read.openedAt),
            seqno: Number(read.seqno),
            lastRequestAt: Number(read.lastRequestAt),
            promptTokens: read.promptTokens,
            cachedTokens: read.cachedTokens,
            completionTokens: read.completionTokens,
            reasoningTokens: read.reasoningTokens,
            amountDue,
            resultsHash,
        },
        hash: createHash('sha256').update(boc.subarray(11, 13)).update(data).digest(),
    };
}
