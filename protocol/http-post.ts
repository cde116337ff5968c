// POST of a JSON body over TCP (kept-alive connections) or a unix socket, as the SDK calls a worker
// and the worker its backend; answers as fetch would: the status and the parsed body (null when it
// is not JSON). node:http rather than fetch: fetch cannot reach a unix socket without undici's
// Agent, and on loopback it costs about a millisecond more per request. node:http never follows a
// redirect, which the worker relies on (worker/src/backend-target.ts).
import { Agent as HttpAgent, RequestOptions, request as httpRequest } from 'http';
import { Agent as HttpsAgent, request as httpsRequest } from 'https';

const keptAlive = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };

export function postJson(
    to: { url: URL } | { socketPath: string; path: string },
    body: string,
    headers: Record<string, string>,
    timeoutMs: number,
): Promise<{ status: number; json: unknown }> {
    const common: RequestOptions = {
        method: 'POST',
        headers: { ...headers, 'content-length': Buffer.byteLength(body) },
        timeout: timeoutMs,
    };
    return new Promise((resolve, reject) => {
        const answered = (res: import('http').IncomingMessage) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
                let json: unknown = null;
                try {
                    json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
                } catch {
                    // not JSON: the caller says what it expected
                }
                resolve({ status: res.statusCode ?? 0, json });
            });
            res.on('error', reject);
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
    });
}
