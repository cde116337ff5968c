// POST of a JSON body over a unix socket (fetch cannot reach one without undici's Agent); answers
// as fetch would: the status and the parsed body (null when it is not JSON).
import { request } from 'http';

export function postJsonOverUnixSocket(
    socketPath: string,
    path: string,
    body: string,
    headers: Record<string, string>,
    timeoutMs: number,
): Promise<{ status: number; json: unknown }> {
    return new Promise((resolve, reject) => {
        const req = request(
            { socketPath, path, method: 'POST', headers: { ...headers, 'content-length': Buffer.byteLength(body) }, timeout: timeoutMs },
            (res) => {
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
            },
        );
        req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
        req.on('error', reject);
        req.end(body);
    });
}
