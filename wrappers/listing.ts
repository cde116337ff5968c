// Building a provider's Listing (contracts/messages.tact) from plain values.
import { Dictionary, fromNano, toNano } from '@ton/core';
import { createHash } from 'crypto';
import { Listing, ModelOffer, MAX_MODELS, dictValueParserModelOffer } from './Root';
import { bufferToBigInt } from './proof';
import { MAX_PRICE, PRICE_FIELDS, PriceRates } from './receipt';

/** One model a provider lists: its name, prices per million tokens of each class, and the hash of the weights served. */
export interface ModelPrice {
    name: string; // e.g. "Qwen/Qwen3-8B"
    prices: PriceRates; // nanotons per 1,000,000 tokens of each class
    modelHash: Buffer; // 32 bytes, nonzero: `npm run worker -- model-hash DIR` of the weights served
}

/** A provider's listing as plain values (GPUs, worker endpoint, models), for buildListing. */
export interface ListingInput {
    gpuModel: string;
    gpuCount: number;
    vramGb: number;
    endpoint: string;
    models: ModelPrice[];
}

/** The key a model is listed (and a session names it) under: sha256 of its UTF-8 name. */
export function modelKey(name: string): bigint {
    return bufferToBigInt(createHash('sha256').update(name, 'utf8').digest());
}

/**
 * The Listing a Provider holds on-chain, from plain values; throws a RangeError for no model, too many, a model listed
 * twice or a modelHash that is not 32 nonzero bytes.
 */
export function buildListing(input: ListingInput): Listing {
    if (input.models.length === 0) throw new RangeError('a listing needs at least one model');
    if (BigInt(input.models.length) > MAX_MODELS) throw new RangeError(`at most ${MAX_MODELS} models per provider`);
    const models = Dictionary.empty<bigint, ModelOffer>(Dictionary.Keys.BigUint(256), dictValueParserModelOffer());
    for (const m of input.models) {
        const key = modelKey(m.name);
        if (models.has(key)) throw new RangeError(`model listed twice: ${m.name}`);
        if (m.modelHash.length !== 32 || m.modelHash.equals(Buffer.alloc(32))) {
            throw new RangeError(`${m.name}: modelHash must be the 32-byte hash of the model (npm run worker -- model-hash DIR)`);
        }
        models.set(key, {
            $$type: 'ModelOffer',
            name: m.name,
            prices: { $$type: 'Prices', ...m.prices },
            modelHash: bufferToBigInt(m.modelHash),
        });
    }
    return {
        $$type: 'Listing',
        gpuModel: input.gpuModel,
        gpuCount: BigInt(input.gpuCount),
        vramGb: BigInt(input.vramGb),
        endpoint: input.endpoint,
        models,
    };
}

/**
 * A listing file: each model's name, its prices (an object with PRICE_FIELDS: prompt,
 * cachedPrompt, completion, reasoning) in TON per million tokens as decimal strings ("0.2") and its modelHash (64 hex digits, `npm run worker -- model-hash DIR`).
 */
export function listingFromJson(text: string): ListingInput {
    let d: Record<string, unknown>;
    try {
        d = JSON.parse(text);
    } catch (e) {
        throw new RangeError(`the listing file is not JSON: ${(e as Error).message}`);
    }
    const str = (v: unknown, k: string) => {
        if (typeof v !== 'string' || v.length === 0) throw new RangeError(`${k} must be a non-empty string`);
        if (Buffer.byteLength(v) > 127) throw new RangeError(`${k} must be at most 127 bytes`);
        return v;
    };
    const count = (v: unknown, k: string) => {
        if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v > 65535)
            throw new RangeError(`${k} must be a whole number from 1 to 65535`);
        return v;
    };
    const price = (v: unknown, k: string) => {
        if (typeof v !== 'string' || !/^\d+(\.\d{1,9})?$/.test(v) || toNano(v) > MAX_PRICE)
            throw new RangeError(`${k} must be TON per million tokens as a string, like "0.2" (at most ${fromNano(MAX_PRICE)})`);
        return toNano(v);
    };
    const prices = (v: unknown, k: string): PriceRates => {
        if (typeof v !== 'object' || v === null) throw new RangeError(`${k} must be an object with ${PRICE_FIELDS.join(', ')}`);
        const o = v as Record<string, unknown>;
        const unknownClass = Object.keys(o).find((f) => !(PRICE_FIELDS as readonly string[]).includes(f));
        if (unknownClass) throw new RangeError(`${k}.${unknownClass} is not a token class (${PRICE_FIELDS.join(', ')})`);
        const p = Object.fromEntries(PRICE_FIELDS.map((f) => [f, price(o[f], `${k}.${f}`)])) as PriceRates;
        if (PRICE_FIELDS.every((f) => p[f] === 0n)) throw new RangeError(`${k}: at least one price must be above zero`);
        return p;
    };
    const hash32 = (v: unknown, k: string) => {
        if (typeof v !== 'string' || !/^[0-9a-fA-F]{64}$/.test(v) || /^0+$/.test(v))
            throw new RangeError(`${k} must be the model's hash, 64 hex digits (npm run worker -- model-hash DIR)`);
        return Buffer.from(v, 'hex');
    };
    if (!Array.isArray(d.models) || d.models.length === 0) throw new RangeError('models must list at least one model');
    return {
        gpuModel: str(d.gpuModel, 'gpuModel'),
        gpuCount: count(d.gpuCount, 'gpuCount'),
        vramGb: count(d.vramGb, 'vramGb'),
        endpoint: str(d.endpoint, 'endpoint'),
        models: (d.models as Record<string, unknown>[]).map((m, i) => ({
            name: str(m.name, `models[${i}].name`),
            prices: prices(m.prices, `models[${i}].prices`),
            modelHash: hash32(m.modelHash, `models[${i}].modelHash`),
        })),
    };
}

/**
 * Prices as people read them: "prompt 0.05, cached 0.025, completion 0.2, reasoning 0.2 TON per
 * million tokens".
 */
export function formatPrices(p: PriceRates): string {
    return `prompt ${fromNano(p.prompt)}, cached ${fromNano(p.cachedPrompt)}, completion ${fromNano(p.completion)}, reasoning ${fromNano(p.reasoning)} TON per million tokens`;
}
