// Building a provider's Listing (contracts/messages.tact) from plain values.
import { Dictionary } from '@ton/core';
import { sha256_sync } from '@ton/crypto';
import { Listing, ModelOffer, MAX_MODELS, dictValueParserModelOffer } from './Root';
import { bufferToBigInt } from './proof';

export interface ModelPrice {
    name: string; // e.g. "Qwen/Qwen3-8B"
    pricePerMillionIn: bigint; // nanotons per 1,000,000 input tokens
    pricePerMillionOut: bigint; // nanotons per 1,000,000 output tokens
}

export interface ListingInput {
    gpuModel: string;
    gpuCount: number;
    vramGb: number;
    endpoint: string;
    models: ModelPrice[];
}

// The key a model is listed (and a session names it) under: sha256 of its UTF-8 name.
export function modelKey(name: string): bigint {
    return bufferToBigInt(sha256_sync(Buffer.from(name, 'utf8')));
}

export function buildListing(input: ListingInput): Listing {
    if (input.models.length === 0) throw new RangeError('a listing needs at least one model');
    if (BigInt(input.models.length) > MAX_MODELS) throw new RangeError(`at most ${MAX_MODELS} models per provider`);
    const models = Dictionary.empty<bigint, ModelOffer>(Dictionary.Keys.BigUint(256), dictValueParserModelOffer());
    for (const m of input.models) {
        const key = modelKey(m.name);
        if (models.has(key)) throw new RangeError(`model listed twice: ${m.name}`);
        models.set(key, {
            $$type: 'ModelOffer',
            name: m.name,
            pricePerMillionIn: m.pricePerMillionIn,
            pricePerMillionOut: m.pricePerMillionOut,
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
