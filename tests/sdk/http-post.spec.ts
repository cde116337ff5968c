// The HTTP client the SDK and the worker post with (protocol/http-post.ts, on undici): one timeout
// from the connection to the last piece of the body, errors that carry nothing of the answer, no
// connection held by a body nobody reads.
import { spawn } from 'child_process';
import { AddressInfo, Server, Socket, connect, createServer as createTcpServer } from 'net';
import { createServer } from 'http';
import { postForStream, postJson } from '../../protocol/http-post';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// A TCP server that answers every connection with `respond` once the request's first bytes arrive.
async function rawServer(respond: (socket: Socket) => void) {
    const sockets = new Set<Socket>();
    const server: Server = createTcpServer((socket) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        socket.on('error', () => undefined);
        socket.once('data', () => respond(socket));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return {
        url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/x`),
        sockets,
        close: () => {
            for (const s of sockets) s.destroy();
            return new Promise<void>((r) => server.close(() => r()));
        },
    };
}

async function failureOf(p: Promise<unknown>) {
    const started = Date.now();
    try {
        await p;
    } catch (e) {
        return { error: e as Error & Record<string, unknown>, ms: Date.now() - started };
    }
    throw new Error('it did not fail');
}

describe('posting (protocol/http-post.ts)', () => {
    it('gives up on a connection that is never made within the timeout, with the usual message', async () => {
        // A listener that never accepts, its backlog full: the kernel drops further SYNs, so the
        // connection hangs (node accepts at once, so the listener is Python's).
        const listener = spawn('python3', [
            '-c',
            'import socket,time\ns=socket.socket();s.bind(("127.0.0.1",0));s.listen(0);print(s.getsockname()[1],flush=True);time.sleep(60)',
        ]);
        const fillers: Socket[] = [];
        try {
            const port = Number(await new Promise<string>((r) => listener.stdout.once('data', (d: Buffer) => r(String(d).trim()))));
            for (let i = 0; i < 3; i++) fillers.push(connect(port, '127.0.0.1').on('error', () => undefined));
            await sleep(300);
            const { error, ms } = await failureOf(postJson({ url: new URL(`http://127.0.0.1:${port}/`) }, '{}', {}, 500));
            expect(error.message).toBe('no answer within 500 ms');
            expect(ms).toBeGreaterThanOrEqual(450);
            expect(ms).toBeLessThan(2500); // (undici's own connect timeout is 10 s)
        } finally {
            fillers.forEach((f) => f.destroy());
            listener.kill();
        }
    });

    it('gives up on silence before the headers on time, and between two pieces of the body', async () => {
        const mute = await rawServer(() => undefined);
        const stalls = await rawServer((s) =>
            s.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"a":'),
        );
        try {
            const before = await failureOf(postJson({ url: mute.url }, '{}', {}, 300));
            expect(before.error.message).toBe('no answer within 300 ms');
            expect(before.ms).toBeLessThan(450);
            const between = await failureOf(postJson({ url: stalls.url }, '{}', {}, 300));
            expect(between.error.message).toBe('no answer within 300 ms');
            expect(between.ms).toBeLessThan(1500); // (undici's timer, which ticks every 500 ms)
            await sleep(1200);
            expect([mute.sockets.size, stalls.sockets.size]).toEqual([0, 0]); // both ended, no spare connection opened
        } finally {
            await mute.close();
            await stalls.close();
        }
    });

    it('lets go of an answer whose headers come just after the caller was told there was none', async () => {
        const late = await rawServer(async (s) => {
            await sleep(400);
            s.write('HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n\r\n');
            const line = 'x'.repeat(100) + '\n';
            while (!s.destroyed) {
                s.write(`${line.length.toString(16)}\r\n${line}\r\n`);
                await sleep(50);
            }
        });
        try {
            const { error } = await failureOf(postForStream({ url: late.url }, '{}', {}, 300));
            expect(error.message).toBe('no answer within 300 ms');
            await sleep(1500);
            expect(late.sockets.size).toBe(0);
        } finally {
            await late.close();
        }
    });

    it('keeps waiting while the body trickles in, each piece within the timeout', async () => {
        const trickles = await rawServer(async (s) => {
            s.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 7\r\n\r\n');
            for (const piece of ['{"a"', ':', '1', '}']) {
                await sleep(150);
                s.write(piece);
            }
        });
        try {
            await expect(postJson({ url: trickles.url }, '{}', {}, 300)).resolves.toEqual({ status: 200, json: { a: 1 } });
        } finally {
            await trickles.close();
        }
    });

    it('closes the connection of an answer whose body nobody reads once the timeout passes', async () => {
        const endless = await rawServer(async (s) => {
            s.write('HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n\r\n');
            const line = 'x'.repeat(1000) + '\n';
            while (!s.destroyed) {
                if (!s.write(`${line.length.toString(16)}\r\n${line}\r\n`)) await sleep(20);
            }
        });
        try {
            const res = await postForStream({ url: endless.url }, '{}', {}, 300);
            res.lines(); // made, never read (as a caller that throws before iterating)
            expect(endless.sockets.size).toBe(1);
            await sleep(1500);
            expect(endless.sockets.size).toBe(0);
        } finally {
            await endless.close();
        }
    });

    it('fails with the message and code only: nothing of an answer that did not parse', async () => {
        const broken = await rawServer((s) =>
            s.end(
                'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n' +
                    '10\r\n{"secret":"PROMP\r\nZZ\r\nT-PLAINTEXT-SECRET"}\r\n0\r\n\r\n',
            ),
        );
        try {
            const { error } = await failureOf(postJson({ url: broken.url }, '{}', {}, 1000));
            expect(JSON.stringify({ ...error, message: error.message, stack: error.stack })).not.toMatch(/SECRET/);
            expect(Object.keys(error).filter((k) => k !== 'code')).toEqual([]);
        } finally {
            await broken.close();
        }
        const refused = await rawServer(() => undefined);
        await refused.close();
        const { error } = await failureOf(postJson({ url: refused.url }, '{}', {}, 1000));
        expect(error.code).toBe('ECONNREFUSED'); // (the SDK retries a request that never left)
    });

    it('sends credentials in the URL as basic authentication, as node:http did', async () => {
        let authorization: string | undefined;
        const server = createServer((req, res) => {
            authorization = req.headers.authorization;
            req.resume();
            req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
        });
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
        try {
            const port = (server.address() as AddressInfo).port;
            await postJson({ url: new URL(`http://us%20er:p%40ss@127.0.0.1:${port}/`) }, '{}', {}, 1000);
            expect(authorization).toBe(`Basic ${Buffer.from('us er:p@ss').toString('base64')}`);
            await postJson({ url: new URL(`http://user:pw@127.0.0.1:${port}/`) }, '{}', { Authorization: 'Bearer k' }, 1000);
            expect(authorization).toBe('Bearer k'); // a header the caller set wins
        } finally {
            server.closeAllConnections();
            await new Promise<void>((r) => server.close(() => r()));
        }
    });
});
