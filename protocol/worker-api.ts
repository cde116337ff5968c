// The worker's HTTP API, defined once for the worker (which validates requests with these
// schemas) and the SDK (which validates answers with them). Chat bodies follow OpenAI's
// chat-completions format, so any OpenAI-compatible backend fits behind a worker.
//
//   GET  /v1/identity                 -> Identity (public: keys the client compares with the chain)
//   POST /v1/sessions/:session/chat   RequestEnvelope -> ResponseEnvelope sealing a SealedAnswer
//                                     (idempotent by the envelope's requestId: a retry gets the
//                                     same answer and receipt, charged once)
//   GET  /health, GET /metrics
// Every refusal is JSON {error: WorkerErrorCode, message} with a 4xx/5xx status.
import { z } from 'zod';

export const chatMessageSchema = z.object({
    role: z.enum(['system', 'user', 'assistant', 'tool']),
    content: z.string().max(1_000_000),
});

export const chatRequestSchema = z
    .object({
        model: z.string().min(1).max(127),
        messages: z.array(chatMessageSchema).min(1).max(1000),
        max_tokens: z.number().int().positive().max(1_000_000).optional(),
        temperature: z.number().min(0).max(2).optional(),
    })
    .strict();
export type ChatRequest = z.infer<typeof chatRequestSchema>;

// The answer's length when a request names no max_tokens.
export const DEFAULT_MAX_TOKENS = 1024;

// The most tokens a request can be charged for: the worker's bound, which the client checks
// receipts against. A prompt's tokens are bounded by its bytes (every token is at least one
// byte, plus a few per message for the chat template); an answer's by max_tokens.
export function requestTokenBounds(request: Pick<ChatRequest, 'messages' | 'max_tokens'>): { tokensIn: bigint; tokensOut: bigint } {
    return {
        tokensIn: BigInt(request.messages.reduce((n, m) => n + Buffer.byteLength(m.content) + 8, 16)),
        tokensOut: BigInt(request.max_tokens ?? DEFAULT_MAX_TOKENS),
    };
}

export const usageSchema = z.object({
    prompt_tokens: z.number().int().nonnegative(),
    completion_tokens: z.number().int().nonnegative(),
    total_tokens: z.number().int().nonnegative().optional(),
});

export const chatCompletionSchema = z
    .object({
        id: z.string(),
        object: z.literal('chat.completion'),
        created: z.number().int(),
        model: z.string(),
        choices: z
            .array(
                z.object({
                    index: z.number().int(),
                    message: z.object({ role: z.string(), content: z.string().nullable() }).passthrough(),
                    finish_reason: z.string().nullable(),
                }),
            )
            .min(1),
        usage: usageSchema,
    })
    .passthrough();
export type ChatCompletion = z.infer<typeof chatCompletionSchema>;

// What the encrypted response carries: the completion and the session's new cumulative receipt.
export const sealedAnswerSchema = z.object({
    completion: chatCompletionSchema,
    receipt: z.string(), // base64 BoC of a UsageReceipt
    signature: z.string().regex(/^[0-9a-f]{128}$/), // ed25519 by the enclave signing key, hex
});
export type SealedAnswer = z.infer<typeof sealedAnswerSchema>;

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64');

// A request id: 16 to 64 characters of base64url (the SDK uses 16 random bytes).
export const requestIdSchema = z.string().regex(/^[A-Za-z0-9_-]{16,64}$/, 'must be 16 to 64 characters of A-Z a-z 0-9 _ -');

export const requestEnvelopeSchema = z.object({
    requestId: requestIdSchema,
    clientKey: base64.length(44, 'must be a 32-byte key in base64'),
    enc: base64.length(44, 'must be a 32-byte encapsulated key in base64'),
    ciphertext: base64.min(24).max(2_800_000),
});

export const responseEnvelopeSchema = z.object({ nonce: base64, ciphertext: base64 });

export const identitySchema = z.object({
    provider: z.string(),
    globalId: z.number().int(),
    signingKey: z.string().regex(/^[0-9a-f]{64}$/),
    encryptionKey: z.string().regex(/^[0-9a-f]{64}$/),
    models: z.array(z.string()),
    attestedUntil: z.number().int().nullable(),
});
export type Identity = z.infer<typeof identitySchema>;

export type WorkerErrorCode =
    | 'bad-request'
    | 'body-too-large'
    | 'unsupported-media-type'
    | 'unknown-session'
    | 'other-provider'
    | 'session-not-open'
    | 'deadline-passed'
    | 'previous-enclave-key'
    | 'not-your-session'
    | 'request-id-reused'
    | 'answer-expired'
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

// `sealed`, on a 'rejected-by-model' refusal: the backend's own explanation (a JSON error body),
// encrypted to the client like an answer, since it may quote the request.
export const workerErrorSchema = z.object({ error: z.string(), message: z.string(), sealed: responseEnvelopeSchema.optional() });
