// POST of a JSON body over TCP (kept-alive connections) or a unix socket, as the SDK calls a worker
// and the worker its backend; answers as fetch would: the status and the parsed body (null when it
// is not JSON). node:http rather than fetch: fetch cannot reach a unix socket without undici's
// Agent, and on loopback it costs about a millisecond more per request. node:http never follows a
// redirect, which the worker relies on (worker/src/backend-target.ts).
import { Agent as HttpAgent, RequestOptions, request as httpRequest } from 'http';
import { Agent as HttpsAgent, request as httpsRequest } from 'https';

const keptAlive = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };

export type PostTarget = { url: URL } | { socketPath: string; path: string };

export function postJson(
    to: PostTarget,
    body: string,
    headers: Record<string, string>,
    timeoutMs: number,
): Promise<{ status: number; json: unknown }> {
    return post(to, body, headers, timeoutMs).then(async (res) => ({ status: res.status, json: await res.json() }));
}

// A POST whose answer may be a stream of lines (server-sent events, NDJSON): resolves once the
// status and headers arrive. `lines()` reads the body line by line as it comes (call it at most
// once, or `json()` instead); `timeoutMs` is then the longest silence between two pieces.
export function postForStream(
    to: PostTarget,
    body: string,
    headers: Record<string, string>,
    timeoutMs: number,
): Promise<{ status: number; contentType: string; json(): Promise<unknown>; lines(): AsyncIterable<string>; abort(): void }> {
    return post(to, body, headers, timeoutMs);
}

function post(to: PostTarget, body: string, headers: Record<string, string>, timeoutMs: number) {
    const common: RequestOptions = {
        method: 'POST',
        headers: { ...headers, 'content-length': Buffer.byteLength(body) },
        timeout: timeoutMs,
    };
    return new Promise<{ status: number; contentType: string; json(): Promise<unknown>; lines(): AsyncIterable<string>; abort(): void }>(
        (resolve, reject) => {
            const answered = (res: import('http').IncomingMessage) => {
                resolve({
                    status: res.statusCode ?? 0,
                    contentType: String(res.headers['content-type'] ?? ''),
                    json: () =>
                        new Promise((done, fail) => {
                            const chunks: Buffer[] = [];
                            res.on('data', (c: Buffer) => chunks.push(c));
                            res.on('end', () => {
                                try {
                                    done(JSON.parse(Buffer.concat(chunks).toString('utf8')));
                                } catch {
                                    done(null); // not JSON: the caller says what it expected
                                }
                            });
                            res.on('error', fail);
                        }),
                    lines: () => linesOf(res),
                    abort: () => req.destroy(),
                });
            };
            const req =
                'socketPath' in to
                    ? httpRequest({ ...common, socketPath: to.socketPath, path: to.path }, answered)
                    : to.url.protocol === 'https:'
                      ? httpsRequest(to.url, { ...common, agent: keptAlive.https }, answered)
                      : httpRequest(to.url, { ...common, agent: keptAlive.http }, answered);
            req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
            req.on('error', reject);
            req.end(body);
        },
    );
}

// The lines of a response body as they arrive (without their line ends). The stream's own async
// iterator buffers what arrives before it is read (readline's drops lines emitted before its
// iterator is asked for the first one).
async function* linesOf(res: import('http').IncomingMessage): AsyncIterable<string> {
    res.setEncoding('utf8');
    let rest = '';
    for await (const piece of res as AsyncIterable<string>) {
        rest += piece;
        for (let end = rest.indexOf('\n'); end >= 0; end = rest.indexOf('\n')) {
            yield rest.slice(0, end).replace(/\r$/, '');
            rest = rest.slice(end + 1);
        }
    }
    if (rest) yield rest;
}
