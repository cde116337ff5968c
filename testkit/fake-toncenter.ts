// A fake TON HTTP API (toncenter v2 JSON-RPC) for tests of the production chain connection: it
// answers the few methods @ton/ton's TonClient calls with canned values, records what is sent, and
// can misbehave (fail, hang, lag behind) as real endpoints do.
import { createServer } from 'http';

export interface FakeToncenterOptions {
    getters?: Record<string, [string, string][]>; // runGetMethod answers: method -> TVM stack
    getterExitCode?: number; // runGetMethod answers with this exit code instead
    masterchainSeqno?: number; // getMasterchainInfo's latest block (default 1000)
    failWith?: number; // answer every call with this HTTP status
    hang?: boolean; // accept connections, never answer
    transfersLost?: boolean; // accept sendBoc, but the wallet's seqno never moves (the transfer never lands)
    accountState?: 'active' | 'uninitialized' | 'frozen'; // what getAddressInformation answers (default active)
    syncUtime?: () => number; // the latest block's time getAddressInformation reports (default 0: none)
    lastLt?: () => bigint; // the account's last transaction getAddressInformation reports (default 0: none)
}

export interface FakeToncenter {
    url: string;
    sent: string[]; // BoCs posted with sendBoc
    calls: string[]; // methods called, in order
    close(): Promise<void>;
}

export async function fakeToncenter(o: FakeToncenterOptions = {}): Promise<FakeToncenter> {
    const sent: string[] = [];
    const calls: string[] = [];
    const server = createServer((req, res) => {
        let body = '';
        req.on('data', (d) => (body += d));
        req.on('end', () => {
            const call = JSON.parse(body) as { method: string; params: { method?: string; boc?: string } };
            calls.push(call.method);
            if (o.hang) return; // the connection stays open, unanswered
            res.setHeader('content-type', 'application/json');
            if (o.failWith) {
                res.statusCode = o.failWith;
                return res.end(JSON.stringify({ ok: false, error: 'unavailable', code: o.failWith }));
            }
            const ok = (result: unknown) => res.end(JSON.stringify({ ok: true, result }));
            const block = (seqno: number) => ({
                '@type': 'ton.blockIdExt',
                workchain: -1,
                shard: '-9223372036854775808',
                seqno,
                root_hash: Buffer.alloc(32).toString('base64'),
                file_hash: Buffer.alloc(32).toString('base64'),
            });
            if (call.method === 'getMasterchainInfo') {
                return ok({
                    '@type': 'blocks.masterchainInfo',
                    last: block(o.masterchainSeqno ?? 1000),
                    init: block(0),
                    state_root_hash: '',
                });
            }
            if (call.method === 'runGetMethod' && o.getterExitCode !== undefined)
                return ok({ gas_used: 0, exit_code: o.getterExitCode, stack: [] });
            if (call.method === 'runGetMethod' && o.getters?.[call.params.method!])
                return ok({ gas_used: 0, exit_code: 0, stack: o.getters[call.params.method!] });
            if (call.method === 'getAddressInformation') {
                return ok({
                    balance: '1000000000',
                    state: o.accountState ?? 'active',
                    data: '',
                    code: '',
                    last_transaction_id: {
                        '@type': 'internal.transactionId',
                        lt: (o.lastLt?.() ?? 0n).toString(),
                        hash: Buffer.alloc(32).toString('base64'),
                    },
                    block_id: block(1),
                    sync_utime: o.syncUtime?.() ?? 0,
                });
            }
            if (call.method === 'sendBoc') {
                sent.push(call.params.boc!);
                // the wallet's transfer lands: its seqno moves on (mnemonicWallet waits for that)
                const seqno = o.getters?.seqno?.[0];
                if (seqno?.[0] === 'num' && !o.transfersLost) o.getters!.seqno = [['num', '0x' + (Number(seqno[1]) + 1).toString(16)]];
                return ok({ '@type': 'ok' });
            }
            res.statusCode = 500;
            res.end(JSON.stringify({ ok: false, error: `not emulated: ${call.method} ${call.params.method ?? ''}` }));
        });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return {
        url: `http://127.0.0.1:${(server.address() as { port: number }).port}/jsonRPC`,
        sent,
        calls,
        close: () =>
            new Promise<void>((r) => {
                server.closeAllConnections();
                server.close(() => r());
            }),
    };
}

// A URL where nothing listens: connections are refused.
export async function refusingEndpoint(): Promise<string> {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((r) => server.close(() => r()));
    return `http://127.0.0.1:${port}/jsonRPC`;
}
