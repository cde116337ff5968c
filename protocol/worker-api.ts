// The worker's HTTP API, defined once for the worker (which validates requests with these
// schemas) and the SDK (which validates answers with them). Chat bodies follow OpenAI's
// chat-completions format, so any OpenAI-compatible backend fits behind a worker.
//
//   GET  /v1/identity                 -> Identity (public: keys the client compares with the chain)
//   POST /v1/sessions/:session/chat   RequestEnvelope -> ResponseEnvelope sealing a SealedAnswer
//                                     (idempotent by the envelope's requestId: a retry gets the
//                                     same answer and receipt, charged once); for a request with
//                                     `stream: true`, application/x-ndjson lines of StreamFrame
//                                     (protocol/encryption.ts) sealing StreamFramePayloads
//   GET  /health, GET /metrics
// Every refusal is JSON {error: WorkerErrorCode, message} with a 4xx/5xx status.
import { z } from 'zod';
import { TokenUsage } from '../wrappers/receipt';

/** The largest chat request (its JSON) a worker takes. */
export const MAX_REQUEST_BYTES = 2_000_000;

/** The answer's length when a request names no max_tokens or max_completion_tokens. */
export const DEFAULT_MAX_TOKENS = 1024;

/** The most choices (`n`) a request may ask for: each is charged up to the answer's length. */
export const MAX_CHOICES = 16;

/**
 * What a content part that is not text (an image, audio) may cost in prompt tokens beyond its own
 * bytes: a vision model turns one image into at most about 16,000 tokens, whatever its URL's length.
 */
export const MEDIA_PART_TOKENS = 16_384;

/**
 * A chat request in OpenAI's format. The worker checks only what it must (the model it serves, the
 * answer's length against the budget, the number of choices) and passes everything else to the
 * backend unchanged, inside the encrypted envelope: tools and tool messages, response_format,
 * sampling parameters, content parts, the developer role, and fields OpenAI adds later.
 */
export const chatMessageSchema = z
    .object({
        role: z.string().min(1).max(64), // system, developer, user, assistant, tool...
        content: z.union([z.string(), z.array(z.object({ type: z.string() }).passthrough()), z.null()]).optional(),
    })
    .passthrough();

/**
 * Validates a chat request (OpenAI's POST /v1/chat/completions body): model, messages, answer length and choices within
 * bounds, and no field that would make the backend generate beyond them; other fields pass through.
 */
export const chatRequestSchema = z
    .object({
        model: z.string().min(1).max(127),
        messages: z.array(chatMessageSchema).min(1).max(10_000),
        max_tokens: z.number().int().positive().max(1_000_000).nullish(),
        max_completion_tokens: z.number().int().positive().max(1_000_000).nullish(),
        n: z.number().int().min(1).max(MAX_CHOICES).nullish(),
        stream: z.boolean().nullish(),
    })
    .passthrough()
    .superRefine(refuseGenerationBeyondBounds);
/** A chat request in OpenAI's format, as chatRequestSchema accepts it. */
export type ChatRequest = z.infer<typeof chatRequestSchema>;

/**
 * A text completion request (OpenAI's legacy POST /v1/completions), for backends that offer it:
 * one prompt, as text or token ids. A batch of prompts is refused: each would be another answer
 * of max_tokens times n, which the worker bounds per request.
 */
export const textCompletionRequestSchema = z
    .object({
        model: z.string().min(1).max(127),
        prompt: z.union([
            z.string(),
            z.array(z.number().int().nonnegative()).min(1),
            z.array(z.string()).length(1, 'one prompt per request (send a batch as several requests)'),
        ]),
        max_tokens: z.number().int().positive().max(1_000_000).nullish(),
        // (not OpenAI's for text completions; the worker sends the length as max_tokens whichever was used)
        max_completion_tokens: z.number().int().positive().max(1_000_000).nullish(),
        n: z.number().int().min(1).max(MAX_CHOICES).nullish(),
        stream: z.boolean().nullish(),
    })
    .passthrough()
    .superRefine((r, ctx) => {
        if ('messages' in r)
            ctx.addIssue({ code: 'custom', path: ['messages'], message: 'a text completion request has a prompt and no messages' });
        refuseGenerationBeyondBounds(r, ctx);
    });
/** A text completion request, as textCompletionRequestSchema accepts it. */
export type TextCompletionRequest = z.infer<typeof textCompletionRequestSchema>;

/**
 * What a client sends inside the envelope: a chat request, or a text completion request (it has
 * a prompt and no messages).
 */
export type InferenceRequest = ChatRequest | TextCompletionRequest;
/** Whether a request is a text completion request: it has a prompt and no messages. */
export const isTextCompletionRequest = (r: InferenceRequest | Record<string, unknown>): r is TextCompletionRequest =>
    'prompt' in r && !('messages' in r);
/** Validates a decrypted request body as a text completion request or, otherwise, a chat request; throws a ZodError. */
export function parseInferenceRequest(json: unknown): InferenceRequest {
    return json !== null && typeof json === 'object' && isTextCompletionRequest(json as Record<string, unknown>)
        ? textCompletionRequestSchema.parse(json)
        : chatRequestSchema.parse(json);
}

// Fields some backends read that make the model generate more than the answer's bound (n times
// max_tokens) under another name: more sequences than it returns (best_of, beam search) or another
// length (llama.cpp's n_predict, TGI's max_new_tokens, transformers' max_length). The worker
// charges at most the bound, so a backend that obeyed them would work for free: refused, with
// what to use instead. (An unknown field is passed through: a backend that ignores it is safe,
// and the backends' own names for the length are the ones listed.)
function refuseGenerationBeyondBounds(r: Record<string, unknown>, ctx: z.RefinementCtx) {
    const problem = generationBeyondBounds(r);
    if (problem) ctx.addIssue({ code: 'custom', path: [problem.field], message: problem.message });
}
// (A value of another type counts as set: backends such as vLLM coerce "5" to 5 and "true" to true.)
const OTHER_LENGTH_FIELDS = ['n_predict', 'max_new_tokens', 'max_length', 'num_return_sequences', 'n_cmpl'];
/**
 * The first field of a request that would make the backend generate more than the charged bound (another name for the
 * length, best_of above n, beam search), with what to use instead; null when there is none.
 */
export function generationBeyondBounds(r: Record<string, unknown>): { field: string; message: string } | null {
    const set = (v: unknown) => v !== undefined && v !== null;
    for (const field of OTHER_LENGTH_FIELDS) {
        if (r[field] !== undefined && r[field] !== null) {
            return {
                field,
                message: `${field} is not accepted: set the answer's length with max_completion_tokens (or max_tokens) and the choices with n`,
            };
        }
    }
    const n = typeof r.n === 'number' ? r.n : 1;
    if (set(r.best_of) && !(typeof r.best_of === 'number' && r.best_of <= n)) {
        return {
            field: 'best_of',
            message: 'best_of above n is not accepted: the model would generate sequences that are not returned (nor charged)',
        };
    }
    const oneBeam = (v: unknown) => !set(v) || (typeof v === 'number' && v <= 1);
    if ((set(r.use_beam_search) && r.use_beam_search !== false) || !oneBeam(r.num_beams) || !oneBeam(r.beam_width)) {
        return {
            field: 'use_beam_search',
            message: 'beam search is not accepted: the model would generate beams that are not returned (nor charged)',
        };
    }
    return null;
}

/** The answer's length a request asks for, per choice. */
export function requestedMaxTokens(request: { max_tokens?: number | null; max_completion_tokens?: number | null }): number {
    const n = request.max_completion_tokens ?? request.max_tokens ?? DEFAULT_MAX_TOKENS;
    // (the schemas refuse anything else; a bound must never be negative or fractional)
    if (!Number.isSafeInteger(n) || n < 1) throw new Error('the answer length must be a positive integer');
    return n;
}

/**
 * The most tokens of each class a request can be charged for: the worker's bound, which the
 * client checks receipts against. Everything a backend turns into prompt tokens (messages, tools,
 * response_format) is in the request's JSON, and every token is at least one byte of it; a media
 * part adds MEDIA_PART_TOKENS. The answer is bounded by its length times the number of choices.
 * Cached tokens are part of the prompt, reasoning tokens part of the answer.
 */
export function requestTokenBounds(request: InferenceRequest, plaintextBytes: number): TokenUsage {
    let media = 0;
    const messages: ChatRequest['messages'] = isTextCompletionRequest(request) ? [] : request.messages;
    for (const m of messages) if (Array.isArray(m.content)) for (const part of m.content) if (part.type !== 'text') media += 1;
    const prompt = BigInt(plaintextBytes + media * MEDIA_PART_TOKENS);
    const completion = BigInt(requestedMaxTokens(request) * (request.n ?? 1));
    return { promptTokens: prompt, cachedTokens: prompt, completionTokens: completion, reasoningTokens: completion };
}

/** Validates an OpenAI usage object: prompt and completion tokens, with cached and reasoning tokens in their details. */
export const usageSchema = z
    .object({
        prompt_tokens: z.number().int().nonnegative(),
        completion_tokens: z.number().int().nonnegative(),
        total_tokens: z.number().int().nonnegative().optional(),
        prompt_tokens_details: z.object({ cached_tokens: z.number().int().nonnegative().optional() }).passthrough().nullish(),
        completion_tokens_details: z.object({ reasoning_tokens: z.number().int().nonnegative().optional() }).passthrough().nullish(),
    })
    .passthrough();
/** An OpenAI usage object, as usageSchema accepts it. */
export type UsageObject = z.infer<typeof usageSchema>;

/** The four token classes an OpenAI usage object counts (a missing detail counts zero). */
export function tokenUsageOf(u: UsageObject): TokenUsage {
    return {
        promptTokens: BigInt(u.prompt_tokens),
        cachedTokens: BigInt(u.prompt_tokens_details?.cached_tokens ?? 0),
        completionTokens: BigInt(u.completion_tokens),
        reasoningTokens: BigInt(u.completion_tokens_details?.reasoning_tokens ?? 0),
    };
}

/** `original` with its counts replaced by `t` (what was charged); other details stay. */
export function usageObjectOf(t: TokenUsage, original?: UsageObject): UsageObject {
    return {
        ...original,
        prompt_tokens: Number(t.promptTokens),
        completion_tokens: Number(t.completionTokens),
        total_tokens: Number(t.promptTokens + t.completionTokens),
        prompt_tokens_details: { ...original?.prompt_tokens_details, cached_tokens: Number(t.cachedTokens) },
        completion_tokens_details: { ...original?.completion_tokens_details, reasoning_tokens: Number(t.reasoningTokens) },
    };
}

// What every answer and chunk carries besides its object, choices and usage.
const ANSWER_FIELDS = { id: z.string(), created: z.number().int(), model: z.string() };

/** Validates a whole chat completion (`chat.completion`): at least one choice, and its usage. */
export const chatCompletionSchema = z
    .object({
        ...ANSWER_FIELDS,
        object: z.literal('chat.completion'),
        choices: z
            .array(
                z
                    .object({
                        index: z.number().int(),
                        message: z.object({ role: z.string(), content: z.string().nullable() }).passthrough(),
                        finish_reason: z.string().nullable(),
                    })
                    .passthrough(),
            )
            .min(1),
        usage: usageSchema,
    })
    .passthrough();
/** A whole chat completion, as chatCompletionSchema accepts it. */
export type ChatCompletion = z.infer<typeof chatCompletionSchema>;

/** One chunk of a streamed completion, as OpenAI streams it (`stream: true`). */
export const chatCompletionChunkSchema = z
    .object({
        ...ANSWER_FIELDS,
        object: z.literal('chat.completion.chunk'),
        choices: z.array(z.object({ index: z.number().int() }).passthrough()),
        usage: usageSchema.nullish(),
    })
    .passthrough();
/** One chunk of a streamed chat completion, as chatCompletionChunkSchema accepts it. */
export type ChatCompletionChunk = z.infer<typeof chatCompletionChunkSchema>;

/** A text completion (POST /v1/completions), whole and streamed (its chunks have the same object). */
export const textCompletionSchema = z
    .object({
        ...ANSWER_FIELDS,
        object: z.literal('text_completion'),
        choices: z
            .array(z.object({ index: z.number().int(), text: z.string(), finish_reason: z.string().nullable() }).passthrough())
            .min(1),
        usage: usageSchema,
    })
    .passthrough();
/** A whole text completion, as textCompletionSchema accepts it. */
export type TextCompletion = z.infer<typeof textCompletionSchema>;
/** Validates one chunk of a streamed text completion (usage only where the backend adds it). */
export const textCompletionChunkSchema = z
    .object({
        ...ANSWER_FIELDS,
        object: z.literal('text_completion'),
        choices: z.array(z.object({ index: z.number().int(), text: z.string() }).passthrough()),
        usage: usageSchema.nullish(),
    })
    .passthrough();
/** One chunk of a streamed text completion, as textCompletionChunkSchema accepts it. */
export type TextCompletionChunk = z.infer<typeof textCompletionChunkSchema>;

/** An answer of either kind, whole or as a chunk. */
export type Completion = ChatCompletion | TextCompletion;
/** A chunk of a streamed answer of either kind. */
export type CompletionChunk = ChatCompletionChunk | TextCompletionChunk;
/** Validates a whole answer of either kind (chat or text completion). */
export const completionSchema = z.union([chatCompletionSchema, textCompletionSchema]);
/** Validates a streamed chunk of either kind (chat or text completion). */
export const completionChunkSchema = z.union([chatCompletionChunkSchema, textCompletionChunkSchema]);

/**
 * What the frames of an encrypted stream carry (protocol/encryption.ts StreamSealer): the
 * backend's chunks as they come (usage left out), then in the last frame the usage charged and
 * the session's new receipt, or why the answer failed (not charged).
 */
export const streamFramePayloadSchema = z.union([
    z.object({ chunk: completionChunkSchema }),
    z.object({
        done: z.object({ usage: usageSchema, receipt: z.string(), signature: z.string().regex(/^[0-9a-f]{128}$/) }),
    }),
    z.object({ failed: z.object({ error: z.string(), message: z.string() }) }),
]);
/** What one frame of an encrypted stream carries, as streamFramePayloadSchema accepts it. */
export type StreamFramePayload = z.infer<typeof streamFramePayloadSchema>;

/** Validates one line of an encrypted stream (a StreamFrame): optional salt, last flag, ciphertext. */
export const streamFrameSchema = z.object({
    salt: z
        .string()
        .regex(/^[A-Za-z0-9+/]*={0,2}$/)
        .optional(),
    last: z.boolean(),
    ciphertext: z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/),
});

/** A streamed answer as the worker stores it for retries (replayed frame by frame). */
export interface StoredStream {
    chunks: CompletionChunk[];
    done: { usage: UsageObject; receipt: string; signature: string };
}

/** What the encrypted response carries: the completion and the session's new cumulative receipt. */
export const sealedAnswerSchema = z.object({
    completion: completionSchema,
    receipt: z.string(), // base64 BoC of a UsageReceipt
    signature: z.string().regex(/^[0-9a-f]{128}$/), // ed25519 by the enclave signing key, hex
});
/** A whole answer as sealed in the response envelope, as sealedAnswerSchema accepts it. */
export type SealedAnswer = z.infer<typeof sealedAnswerSchema>;

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64');

/** A request id: 16 to 64 characters of base64url (the SDK uses 16 random bytes). */
export const requestIdSchema = z.string().regex(/^[A-Za-z0-9_-]{16,64}$/, 'must be 16 to 64 characters of A-Z a-z 0-9 _ -');

/** Validates a RequestEnvelope as the worker receives it: request id, 32-byte keys, a ciphertext of bounded size. */
export const requestEnvelopeSchema = z.object({
    requestId: requestIdSchema,
    clientKey: base64.length(44, 'must be a 32-byte key in base64'),
    enc: base64.length(44, 'must be a 32-byte encapsulated key in base64'),
    ciphertext: base64.min(24).max(Math.ceil((MAX_REQUEST_BYTES + 16) / 3) * 4), // (16: the AEAD tag)
    // only go on with the answer kept for this id, never serve it anew (authenticated: encryption.ts)
    resume: z.literal(true).optional(),
    boot: z
        .string()
        .regex(/^[0-9a-f]{32}$/, 'must be the 16-byte worker run id in hex')
        .optional(), // the worker run it is sealed for (authenticated: encryption.ts)
});

/** Validates a ResponseEnvelope: base64 nonce and ciphertext. */
export const responseEnvelopeSchema = z.object({ nonce: base64, ciphertext: base64 });

/** Validates a worker's Identity (GET /v1/identity). */
export const identitySchema = z.object({
    provider: z.string(),
    globalId: z.number().int(),
    signingKey: z.string().regex(/^[0-9a-f]{64}$/),
    encryptionKey: z.string().regex(/^[0-9a-f]{64}$/),
    models: z.array(z.string()),
    attestedUntil: z.number().int().nullable(),
    boot: z.string(), // this run of the worker (random at start): requests are sealed for it
});
/**
 * What a worker says about itself at GET /v1/identity: its Provider, network (global id), enclave signing and encryption
 * keys (hex), the models it serves, and until when its attestation is valid on-chain (unix seconds; null when not attested).
 */
export type Identity = z.infer<typeof identitySchema>;

/** The `error` of a worker's refusal ({error, message} with a 4xx/5xx status): what went wrong, for a client to act on. */
export type WorkerErrorCode =
    | 'bad-request'
    | 'body-too-large'
    | 'unsupported-media-type'
    | 'unknown-session'
    | 'not-a-session'
    | 'other-provider'
    | 'session-not-open'
    | 'deadline-passed'
    | 'previous-enclave-key'
    | 'not-your-session'
    | 'request-id-reused'
    | 'answer-expired'
    | 'nothing-to-resume'
    | 'replayed'
    | 'stale-boot'
    | 'session-busy'
    | 'rejected-by-model'
    | 'undecryptable'
    | 'model-not-served'
    | 'budget-exhausted'
    | 'backend-unavailable'
    | 'chain-unavailable'
    | 'rate-limited'
    | 'not-attested'
    | 'not-found'
    | 'internal';

/**
 * `sealed`, on a 'rejected-by-model' refusal: the backend's own explanation (a JSON error body),
 * encrypted to the client like an answer, since it may quote the request.
 */
export const workerErrorSchema = z.object({
    error: z.string(),
    message: z.string(),
    sealed: responseEnvelopeSchema.optional(),
    boot: z.string().optional(), // with 'stale-boot': the worker's current run
});
