// POST of a JSON body over TCP (kept-alive connections) or a unix socket, as the SDK calls a worker
// and the worker its backend; answers as fetch would: the status and the parsed body (null when it
// is not JSON). undici's dispatcher API rather than node:http or fetch: a loopback POST costs
// about a third less than with node:http (`npm run bench:worker`, its steps table), and fetch
// cannot reach a unix socket. `request` never follows a redirect, which the worker relies on
// (worker/src/backend-target.ts).
import { Agent, Dispatcher, errors } from 'undici';

// One pool of kept-alive connections per origin (the Agent's), and one Agent per unix socket.
const overTcp = new Agent();
const overSocket = new Map<string, Agent>();

export type PostTarget = { url: URL } | { socketPath: string; path: string };

export function postJson(
    to: PostTarget,
    body: string,
    headers: Record<string, string>,
    timeoutMs: number,
): Promise<{ status: number; json: unknown }> {
    return post(to, body, headers, timeoutMs).then(async (res) => ({ status: res.status, json: await res.json() }));
}

/** An answer whose body is read as it comes (postForStream). */
export interface StreamedAnswer {
    status: number;
    contentType: string;
    json(): Promise<unknown>;
    lines(): AsyncIterable<string>;
    abort(): void;
}

// A POST whose answer may be a stream of lines (server-sent events, NDJSON): resolves once the
// status and headers arrive. `lines()` reads the body line by line as it comes (call it at most
// once, or `json()` instead, or `abort()`). `timeoutMs` bounds the wait for the connection and the
// headers, then each wait for the next piece of the body (that one up to half a second late); a
// body nobody reads is given up as well, so that it never holds a connection.
export function postForStream(to: PostTarget, body: string, headers: Record<string, string>, timeoutMs: number): Promise<StreamedAnswer> {
    return post(to, body, headers, timeoutMs);
}

async function post(to: PostTarget, body: string, headers: Record<string, string>, timeoutMs: number): Promise<StreamedAnswer> {
    let dispatcher: Dispatcher = overTcp;
    let origin: string;
    let path: string;
    if ('socketPath' in to) {
        dispatcher = overSocket.get(to.socketPath) ?? new Agent({ connect: { socketPath: to.socketPath } });
        overSocket.set(to.socketPath, dispatcher as Agent);
        [origin, path] = ['http://localhost', to.path];
    } else {
        [origin, path] = [to.url.origin, to.url.pathname + to.url.search];
        // (as node:http did: credentials in the URL become basic authentication)
        if (to.url.username && !Object.keys(headers).some((h) => h.toLowerCase() === 'authorization')) {
            const credentials = `${decodeURIComponent(to.url.username)}:${decodeURIComponent(to.url.password)}`;
            headers = { ...headers, authorization: `Basic ${Buffer.from(credentials).toString('base64')}` };
        }
    }
    // undici's own timeouts end an exchange cleanly (an abort or a destroyed body makes it open a
    // spare connection, which keeps a node server's graceful close waiting for a minute), but its
    // headers timer starts only once connected and ticks every 500 ms: the caller is told on time
    // by a timer of its own, and undici ends the exchange itself a moment later.
    let res: Dispatcher.ResponseData;
    let onTime: NodeJS.Timeout | undefined;
    try {
        const sent = dispatcher.request({ origin, path, method: 'POST', headers, body, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
        let toldFirst = false;
        // (an answer that comes after the caller was told is never read: let go of it)
        sent.then(
            (r) => toldFirst && letGo(r.body),
            () => undefined,
        );
        const late = new Promise<never>(
            (_, reject) =>
                (onTime = setTimeout(() => {
                    toldFirst = true;
                    reject(new NoAnswer(timeoutMs));
                }, timeoutMs)),
        );
        res = await Promise.race([sent, late]);
    } catch (e) {
        throw failure(e, timeoutMs);
    } finally {
        clearTimeout(onTime);
    }
    const answer = res.body;
    // A body nobody reads is never timed out by undici (its timer stops while the body waits for a
    // reader): one left without a reader for `timeoutMs` is given up, so that it does not hold its
    // connection. While a reader waits for the next piece, undici's body timeout governs.
    let unattended: NodeJS.Timeout | undefined;
    const readerGone = () => (unattended = setTimeout(() => letGo(answer), timeoutMs).unref());
    const readerHere = () => clearTimeout(unattended);
    readerGone();
    return {
        status: res.statusCode,
        contentType: String(res.headers['content-type'] ?? ''),
        json: async () => {
            const pieces: Buffer[] = [];
            readerHere();
            try {
                for await (const piece of answer) pieces.push(piece as Buffer);
            } catch (e) {
                throw failure(e, timeoutMs);
            }
            try {
                return JSON.parse(Buffer.concat(pieces).toString('utf8'));
            } catch {
                return null; // not JSON: the caller says what it expected
            }
        },
        lines: () => linesOf(answer, timeoutMs, { readerHere, readerGone }),
        abort: () => {
            readerHere();
            letGo(answer);
        },
    };
}

// Ends an exchange whose body will not be read. A destroyed body emits an error (an abort), which
// would crash the process unless someone listens: whoever still reads it gets the error anyway.
function letGo(body: Dispatcher.ResponseData['body']) {
    body.on('error', () => undefined);
    body.destroy();
}

class NoAnswer extends Error {
    constructor(timeoutMs: number) {
        super(`no answer within ${timeoutMs} ms`);
        this.name = 'NoAnswer';
    }
}

// What a caller sees of a failed exchange: the message and the system error code (ECONNREFUSED
// tells a request that never left), nothing else. undici's parser errors carry the bytes that
// did not parse, which may be a decrypted answer: no log may ever get them.
function failure(e: unknown, timeoutMs: number): Error {
    if (e instanceof NoAnswer) return e;
    if (e instanceof errors.HeadersTimeoutError || e instanceof errors.BodyTimeoutError) return new NoAnswer(timeoutMs);
    const err = e as { message?: string; code?: string; name?: string };
    const plain: Error & { code?: string } = new Error(err.message ?? String(e));
    if (typeof err.code === 'string') plain.code = err.code;
    return plain;
}

// The lines of a response body as they arrive (without their line ends). Between two lines the
// reader is away (it may never come back for the next one).
async function* linesOf(
    body: Dispatcher.ResponseData['body'],
    timeoutMs: number,
    reader: { readerHere(): void; readerGone(): void },
): AsyncIterable<string> {
    reader.readerHere();
    body.setEncoding('utf8');
    let rest = '';
    try {
        for await (const piece of body as AsyncIterable<string>) {
            rest += piece;
            for (let end = rest.indexOf('\n'); end >= 0; end = rest.indexOf('\n')) {
                const line = rest.slice(0, end).replace(/\r$/, '');
                rest = rest.slice(end + 1);
                reader.readerGone();
                yield line;
                reader.readerHere();
            }
        }
    } catch (e) {
        throw failure(e, timeoutMs);
    }
    if (rest) yield rest;
}
