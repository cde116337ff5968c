// The HTTP conventions every Cocoon service keeps (worker, verifier), as one fastify plugin: every
// error is JSON {error, message} with a 4xx/5xx status, an unknown route is a 404 of that form,
// requests are rate-limited per client, and an unexpected failure is logged and answered with a
// bare 500 (its details stay in the log). Services register their routes as plugins beside it.
import fp from 'fastify-plugin';
import rateLimit from '@fastify/rate-limit';
import { FastifyRequest } from 'fastify';
import { z } from 'zod';

// A refusal a route throws: its code is the `error` field clients switch on.
export class ApiError extends Error {
    constructor(
        readonly code: string,
        readonly status: number,
        message: string,
        readonly extra?: Record<string, unknown>, // more fields of the error body
    ) {
        super(message);
        this.name = 'ApiError';
    }
}

// `body` parsed by `schema`, or a 400 naming every problem ("path: message; ...").
export function parseOrRefuse<T extends z.ZodTypeAny>(schema: T, body: unknown): z.output<T> {
    const r = schema.safeParse(body);
    if (!r.success)
        throw new ApiError('bad-request', 400, r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
    return r.data;
}

const ERROR_NAMES: Record<number, string> = { 413: 'body-too-large', 415: 'unsupported-media-type', 429: 'rate-limited' };

export interface JsonApiOptions {
    service: string; // "worker", "verifier": names the log the 500 points to
    rateLimitPerMinute: number;
    // a service's own errors (thrown by its core, not its routes) as refusals
    refusal?: (err: unknown) => ApiError | undefined;
    // sees every error answered as a refusal, with what was thrown (for the service's metrics)
    onRefused?: (refusal: ApiError, thrown: unknown) => void;
}

export const jsonApi = fp<JsonApiOptions>(async (app, o) => {
    await app.register(rateLimit, {
        max: o.rateLimitPerMinute,
        timeWindow: '1 minute',
        errorResponseBuilder: (_req, ctx) => ({ statusCode: 429, error: 'rate-limited', message: `at most ${ctx.max} requests a minute` }),
    });
    app.setErrorHandler((err, req, reply) => {
        const refusal = err instanceof ApiError ? err : (o.refusal?.(err) ?? clientError(err, req));
        if (!refusal) {
            app.log.error({ err: (err as Error).message }, 'unexpected error');
            return reply.status(500).send({ error: 'internal', message: `the ${o.service} failed; see its log` });
        }
        o.onRefused?.(refusal, err);
        return reply.status(refusal.status).send({ error: refusal.code, message: refusal.message, ...refusal.extra });
    });
    app.setNotFoundHandler((req, reply) => reply.status(404).send({ error: 'not-found', message: `no route ${req.method} ${req.url}` }));
});

// Fastify's own 4xx errors (unparsable JSON, a body too large, a media type it does not read).
function clientError(err: unknown, req: FastifyRequest): ApiError | undefined {
    const status = (err as { statusCode?: number }).statusCode;
    if (!status || status < 400 || status >= 500) return undefined;
    const message = status === 415 ? `the body must be application/json, not ${req.headers['content-type']}` : (err as Error).message;
    return new ApiError(ERROR_NAMES[status] ?? 'bad-request', status, message);
}

// A Prometheus text exposition: one block per metric, samples with their labels.
export interface Metric {
    name: string;
    help: string;
    type: 'counter' | 'gauge';
    samples: [labels: Record<string, string>, value: number | bigint][];
}

export function prometheusText(metrics: Metric[]): string {
    const lines: string[] = [];
    for (const m of metrics) {
        lines.push(`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`);
        for (const [labels, value] of m.samples) {
            const l = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
            lines.push(`${m.name}${l.length ? `{${l.join(',')}}` : ''} ${value}`);
        }
    }
    return lines.join('\n') + '\n';
}

// Counts per key in fixed one-minute windows, for limits the rate-limit plugin cannot express (a
// count taken after a request was authenticated, or only of refused requests). At most `maxKeys`
// keys are kept: the oldest window goes first.
export class MinuteCounter {
    private windows = new Map<string, { since: number; count: number }>();

    constructor(private readonly maxKeys: number) {}

    count(key: string): number {
        return this.window(key).count;
    }

    // Adds one and returns the window's count with it.
    add(key: string): number {
        return ++this.window(key).count;
    }

    private window(key: string) {
        const now = Date.now();
        let w = this.windows.get(key);
        if (!w || now - w.since >= 60_000) {
            this.windows.delete(key);
            w = { since: now, count: 0 };
            this.windows.set(key, w);
            if (this.windows.size > this.maxKeys) this.windows.delete(this.windows.keys().next().value!);
        }
        return w;
    }
}
