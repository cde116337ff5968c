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
// once, or `json()` instead, or `abort()`: a body nobody reads holds its connection); `timeoutMs`
// bounds the wait for the headers and then the longest silence between two pieces of the body.
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
    }
    let res: Dispatcher.ResponseData;
    try {
        res = await dispatcher.request({ origin, path, method: 'POST', headers, body, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    } catch (e) {
        throw timeoutNamed(e, timeoutMs);
    }
    const answer = res.body;
    return {
        status: res.statusCode,
        contentType: String(res.headers['content-type'] ?? ''),
        json: async () => {
            let text: string;
            try {
                text = await answer.text();
            } catch (e) {
                throw timeoutNamed(e, timeoutMs);
            }
            try {
                return JSON.parse(text);
            } catch {
                return null; // not JSON: the caller says what it expected
            }
        },
        lines: () => linesOf(answer, timeoutMs),
        abort: () => answer.destroy(),
    };
}

// undici's timeouts say "Headers Timeout Error"; callers name the endpoint and how long they waited.
function timeoutNamed(e: unknown, timeoutMs: number): unknown {
    return e instanceof errors.HeadersTimeoutError || e instanceof errors.BodyTimeoutError
        ? new Error(`no answer within ${timeoutMs} ms`)
        : e;
}

// The lines of a response body as they arrive (without their line ends).
async function* linesOf(body: Dispatcher.ResponseData['body'], timeoutMs: number): AsyncIterable<string> {
    body.setEncoding('utf8');
    let rest = '';
    try {
        for await (const piece of body as AsyncIterable<string>) {
            rest += piece;
            for (let end = rest.indexOf('\n'); end >= 0; end = rest.indexOf('\n')) {
                yield rest.slice(0, end).replace(/\r$/, '');
                rest = rest.slice(end + 1);
            }
        }
    } catch (e) {
        throw timeoutNamed(e, timeoutMs);
    }
    if (rest) yield rest;
}
