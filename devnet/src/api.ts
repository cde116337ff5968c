// The toncenter v2 HTTP API over the devnet's chain: the JSON-RPC endpoint (POST /api/v2/jsonRPC,
// and POST /api/v2/ itself, which is what Blueprint's --custom URL posts to) and the REST form
// (GET /api/v2/METHOD?params), with toncenter's answer shapes: {ok: true, result} or
// {ok: false, error, code} with that HTTP status. The methods are the ones @ton/ton's TonClient,
// Blueprint and Cocoon's components call; anything else is answered 404 naming the method.
import Fastify, { FastifyInstance } from 'fastify';
import {
    Address,
    Cell,
    Message,
    Transaction,
    TupleItem,
    beginCell,
    loadMessage,
    storeMessage,
    storeTransaction,
    Dictionary,
} from '@ton/core';
import { GetMethodError } from '@ton/sandbox';
import { DevChain } from './chain';

export class ApiFailure extends Error {
    constructor(
        readonly code: number,
        message: string,
    ) {
        super(message);
    }
}

type Params = Record<string, unknown>;

const ZERO_HASH = Buffer.alloc(32).toString('base64');

function addressParam(p: Params, name = 'address'): Address {
    const v = p[name];
    if (typeof v !== 'string' || v === '') throw new ApiFailure(422, `${name}: field required`);
    try {
        return Address.parse(v);
    } catch {
        throw new ApiFailure(416, `Incorrect address: ${v}`);
    }
}

function intParam(p: Params, name: string, fallback?: number): number {
    const v = p[name];
    if (v === undefined || v === '') {
        if (fallback === undefined) throw new ApiFailure(422, `${name}: field required`);
        return fallback;
    }
    const n = Number(v);
    if (!Number.isInteger(n)) throw new ApiFailure(422, `${name}: value is not a valid integer`);
    return n;
}

function bocParam(p: Params, name: string): Cell {
    const v = p[name];
    if (typeof v !== 'string' || v === '') throw new ApiFailure(422, `${name}: field required`);
    try {
        return Cell.fromBase64(v);
    } catch {
        throw new ApiFailure(416, `${name}: not a base64 bag of cells`);
    }
}

// ---- answers in toncenter's shapes ----

const blockId = (seqno: number) => ({
    '@type': 'ton.blockIdExt',
    workchain: -1,
    shard: '-9223372036854775808',
    seqno,
    root_hash: ZERO_HASH,
    file_hash: ZERO_HASH,
});

const friendly = (a: Address) => a.toString({ bounceable: true, testOnly: true });

function messageJson(m: Message | undefined) {
    if (!m) return undefined;
    const body = m.body;
    const internal = m.info.type === 'internal' ? m.info : undefined;
    return {
        '@type': 'raw.message',
        source: m.info.src && m.info.type !== 'external-in' ? friendly(m.info.src as Address) : '',
        destination: m.info.dest && m.info.type !== 'external-out' ? friendly(m.info.dest as Address) : '',
        value: internal ? internal.value.coins.toString() : '0',
        fwd_fee: internal ? internal.forwardFee.toString() : '0',
        ihr_fee: internal ? internal.ihrFee.toString() : '0',
        created_lt: internal ? internal.createdLt.toString() : m.info.type === 'external-out' ? m.info.createdLt.toString() : '0',
        body_hash: body.hash().toString('base64'),
        msg_data: { '@type': 'msg.dataRaw', body: body.toBoc().toString('base64'), init_state: '' },
        message: beginCell().store(storeMessage(m)).endCell().toBoc().toString('base64'),
    };
}

export function transactionJson(tx: Transaction) {
    const d = tx.description;
    const storage = d.type === 'generic' && d.storagePhase ? d.storagePhase.storageFeesCollected : 0n;
    return {
        '@type': 'raw.transaction',
        address: {
            '@type': 'accountAddress',
            account_address: friendly(new Address(0, Buffer.from(tx.address.toString(16).padStart(64, '0'), 'hex'))),
        },
        utime: tx.now,
        data: beginCell().store(storeTransaction(tx)).endCell().toBoc().toString('base64'),
        transaction_id: { '@type': 'internal.transactionId', lt: tx.lt.toString(), hash: tx.hash().toString('base64') },
        fee: tx.totalFees.coins.toString(),
        storage_fee: storage.toString(),
        other_fee: (tx.totalFees.coins - storage).toString(),
        in_msg: messageJson(tx.inMessage ?? undefined),
        out_msgs: [...tx.outMessages.values()].map((m) => messageJson(m)),
    };
}

// A TVM stack as toncenter writes it: the top level as [type, value] pairs, what is inside tuples
// as tonlib's tvm.stackEntry* objects (an empty list stands for null there, as in TVM).
function stackJson(items: TupleItem[]): unknown[] {
    return items.map((i) => {
        switch (i.type) {
            case 'int':
                return ['num', i.value < 0n ? '-0x' + (-i.value).toString(16) : '0x' + i.value.toString(16)];
            case 'null':
                return ['null'];
            case 'cell':
                return ['cell', { bytes: i.cell.toBoc().toString('base64'), object: {} }];
            case 'slice':
                return ['slice', { bytes: i.cell.toBoc().toString('base64'), object: {} }];
            case 'builder':
                return ['builder', { bytes: i.cell.toBoc().toString('base64'), object: {} }];
            case 'tuple':
                return ['tuple', { '@type': 'tvm.tuple', elements: i.items.map(stackEntry) }];
            default:
                throw new ApiFailure(500, `a get method returned a stack item the API cannot write: ${i.type}`);
        }
    });
}

function stackEntry(i: TupleItem): unknown {
    switch (i.type) {
        case 'int':
            return { '@type': 'tvm.stackEntryNumber', number: { '@type': 'tvm.numberDecimal', number: i.value.toString() } };
        case 'null':
            return { '@type': 'tvm.stackEntryList', list: { '@type': 'tvm.list', elements: [] } };
        case 'cell':
            return { '@type': 'tvm.stackEntryCell', cell: { '@type': 'tvm.cell', bytes: i.cell.toBoc().toString('base64') } };
        case 'slice':
        case 'builder':
            return { '@type': 'tvm.stackEntrySlice', slice: { '@type': 'tvm.slice', bytes: i.cell.toBoc().toString('base64') } };
        case 'tuple':
            return { '@type': 'tvm.stackEntryTuple', tuple: { '@type': 'tvm.tuple', elements: i.items.map(stackEntry) } };
        default:
            throw new ApiFailure(500, `a get method returned a stack item the API cannot write: ${i.type}`);
    }
}

// A get method's arguments as TonClient sends them: ["num", "123" | "0x7b"], ["tvm.Cell", boc],
// ["tvm.Slice", boc], ["tvm.Builder", boc].
function stackArgs(raw: unknown): TupleItem[] {
    if (raw === undefined) return [];
    if (!Array.isArray(raw)) throw new ApiFailure(422, 'stack: value is not a valid list');
    return raw.map((e, i) => {
        if (!Array.isArray(e) || typeof e[0] !== 'string') throw new ApiFailure(422, `stack.${i}: not a [type, value] pair`);
        const [type, value] = e as [string, unknown];
        const cell = () => {
            try {
                return Cell.fromBase64(String(typeof value === 'object' && value !== null ? (value as { bytes: string }).bytes : value));
            } catch {
                throw new ApiFailure(422, `stack.${i}: not a base64 bag of cells`);
            }
        };
        switch (type) {
            case 'num':
            case 'number':
            case 'int': {
                const s = String(value);
                const negative = s.startsWith('-');
                const digits = negative ? s.slice(1) : s;
                try {
                    const n = BigInt(digits);
                    return { type: 'int', value: negative ? -n : n };
                } catch {
                    throw new ApiFailure(422, `stack.${i}: ${s} is not a number`);
                }
            }
            case 'tvm.Cell':
            case 'cell':
                return { type: 'cell', cell: cell() };
            case 'tvm.Slice':
            case 'slice':
                return { type: 'slice', cell: cell() };
            case 'tvm.Builder':
            case 'builder':
                return { type: 'builder', cell: cell() };
            case 'null':
                return { type: 'null' };
            default:
                throw new ApiFailure(422, `stack.${i}: unsupported type ${type}`);
        }
    });
}

// ---- the methods ----

export function toncenterMethods(chain: DevChain) {
    const bc = chain.blockchain;
    const account = async (a: Address) => {
        chain.tick();
        const c = await bc.getContract(a);
        const s = c.accountState;
        const state = !s || s.type === 'uninit' ? 'uninitialized' : s.type;
        const last = c.lastTransactionLt ? { lt: c.lastTransactionLt.toString(), hash: c.lastTransactionHash.toString() } : undefined;
        return { contract: c, state, last };
    };
    const lastTxId = (last?: { lt: string; hash: string }) => ({
        '@type': 'internal.transactionId',
        lt: last?.lt ?? '0',
        hash: last ? Buffer.from(BigInt(last.hash).toString(16).padStart(64, '0'), 'hex').toString('base64') : ZERO_HASH,
    });

    const methods: Record<string, (p: Params) => Promise<unknown>> = {
        async getMasterchainInfo() {
            chain.tick();
            return { '@type': 'blocks.masterchainInfo', last: blockId(chain.seqno), init: blockId(0), state_root_hash: ZERO_HASH };
        },

        async getAddressInformation(p) {
            const { contract, state, last } = await account(addressParam(p));
            const active = contract.accountState?.type === 'active' ? contract.accountState.state : undefined;
            return {
                '@type': 'raw.fullAccountState',
                balance: contract.balance.toString(),
                extra_currencies: [],
                code: active?.code ? active.code.toBoc().toString('base64') : '',
                data: active?.data ? active.data.toBoc().toString('base64') : '',
                last_transaction_id: lastTxId(last),
                block_id: blockId(chain.seqno),
                frozen_hash: '',
                sync_utime: chain.now(),
                state,
            };
        },

        async getAddressBalance(p) {
            return (await account(addressParam(p))).contract.balance.toString();
        },

        async getAddressState(p) {
            return (await account(addressParam(p))).state;
        },

        async getWalletInformation(p) {
            const address = addressParam(p);
            const { contract, state, last } = await account(address);
            let seqno: number | undefined;
            let walletId: number | undefined;
            if (state === 'active') {
                try {
                    seqno = Number((await bc.runGetMethod(address, 'seqno')).stackReader.readBigNumber());
                    walletId = Number((await bc.runGetMethod(address, 'get_subwallet_id')).stackReader.readBigNumber());
                } catch {
                    // not a wallet (or a wallet without these getters)
                }
            }
            return {
                '@type': 'ext.wallet.info',
                wallet: seqno !== undefined,
                balance: contract.balance.toString(),
                account_state: state,
                ...(seqno !== undefined ? { wallet_type: 'wallet v4 r2', seqno, wallet_id: walletId } : {}),
                last_transaction_id: lastTxId(last),
            };
        },

        async runGetMethod(p) {
            const address = addressParam(p);
            const method = p.method;
            if (typeof method !== 'string' && typeof method !== 'number') throw new ApiFailure(422, 'method: field required');
            const args = stackArgs(p.stack);
            chain.tick();
            const c = await bc.getContract(address);
            if (c.accountState?.type !== 'active') {
                // (what a liteserver answers for an account without code)
                return { '@type': 'smc.runResult', gas_used: 0, stack: [], exit_code: -13, block_id: blockId(chain.seqno) };
            }
            try {
                const r = await bc.runGetMethod(
                    address,
                    typeof method === 'string' && /^-?\d+$/.test(method) ? Number(method) : method,
                    args,
                );
                return {
                    '@type': 'smc.runResult',
                    gas_used: Number(r.gasUsed),
                    stack: stackJson(r.stack),
                    exit_code: r.exitCode,
                    block_id: blockId(chain.seqno),
                };
            } catch (e) {
                if (e instanceof GetMethodError) {
                    return {
                        '@type': 'smc.runResult',
                        gas_used: Number(e.gasUsed),
                        stack: [],
                        exit_code: e.exitCode,
                        block_id: blockId(chain.seqno),
                    };
                }
                throw e;
            }
        },

        async sendBoc(p) {
            await send(bocParam(p, 'boc'));
            return { '@type': 'ok' };
        },

        async sendBocReturnHash(p) {
            const cell = bocParam(p, 'boc');
            await send(cell);
            return { '@type': 'raw.extMessageInfo', hash: cell.hash().toString('base64') };
        },

        async getTransactions(p) {
            const address = addressParam(p);
            const limit = Math.min(intParam(p, 'limit', 10), 100);
            const lt = p.lt === undefined || p.lt === '' ? undefined : String(p.lt);
            const toLt = p.to_lt === undefined || p.to_lt === '' ? 0n : BigInt(String(p.to_lt));
            let hash = p.hash === undefined || p.hash === '' ? undefined : String(p.hash);
            if (hash && !/^[0-9a-fA-F]{64}$/.test(hash)) hash = Buffer.from(hash, 'base64').toString('hex'); // (base64 or hex)
            if ((lt === undefined) !== (hash === undefined)) throw new ApiFailure(422, 'lt and hash go together');
            chain.tick();
            // newest first, from (lt, hash) inclusive, down to to_lt (exclusive)
            const all = chain.transactionsOf(address);
            const from = lt ? all.findIndex((t) => t.lt.toString() === lt && t.hash().toString('hex') === hash!.toLowerCase()) : 0;
            if (from < 0) throw new ApiFailure(404, `transaction ${lt}:${hash} of ${address.toString()} was not found`);
            return all
                .slice(from)
                .filter((t) => t.lt > toLt)
                .slice(0, limit)
                .map(transactionJson);
        },

        async tryLocateResultTx(p) {
            return locate(addressParam(p, 'destination'), addressParam(p, 'source'), String(p.created_lt ?? ''), 'in');
        },
        async tryLocateTx(p) {
            return locate(addressParam(p, 'destination'), addressParam(p, 'source'), String(p.created_lt ?? ''), 'in');
        },
        async tryLocateSourceTx(p) {
            return locate(addressParam(p, 'source'), addressParam(p, 'destination'), String(p.created_lt ?? ''), 'out');
        },

        async estimateFee(p) {
            const address = addressParam(p);
            const body = bocParam(p, 'body');
            const code = typeof p.init_code === 'string' && p.init_code ? bocParam(p, 'init_code') : undefined;
            const data = typeof p.init_data === 'string' && p.init_data ? bocParam(p, 'init_data') : undefined;
            // runs the message on a copy of the state and reads its fees back
            chain.tick();
            const before = bc.snapshot();
            try {
                const r = await bc.sendMessage({
                    info: { type: 'external-in', src: null, dest: address, importFee: 0n },
                    init: code && data ? { code, data } : undefined,
                    body,
                });
                const tx = r.transactions[0];
                const d = tx.description;
                const gas = d.type === 'generic' && d.computePhase.type === 'vm' ? d.computePhase.gasFees : 0n;
                const storage = d.type === 'generic' && d.storagePhase ? d.storagePhase.storageFeesCollected : 0n;
                const fwd = d.type === 'generic' && d.actionPhase ? (d.actionPhase.totalFwdFees ?? 0n) : 0n;
                const inFwd = tx.totalFees.coins - gas - storage - fwd;
                return {
                    '@type': 'query.fees',
                    source_fees: {
                        '@type': 'fees',
                        in_fwd_fee: Number(inFwd > 0n ? inFwd : 0n),
                        storage_fee: Number(storage),
                        gas_fee: Number(gas),
                        fwd_fee: Number(fwd),
                    },
                    destination_fees: [],
                };
            } catch (e) {
                throw new ApiFailure(500, `cannot apply external message to current state: ${(e as Error).message}`);
            } finally {
                await bc.loadFrom(before);
            }
        },

        async getConfigParam(p) {
            const id = intParam(p, 'config_id');
            const params = Dictionary.loadDirect(
                Dictionary.Keys.Int(32),
                Dictionary.Values.Cell(),
                Cell.fromBase64(bc.config.toBoc().toString('base64')),
            );
            const param = params.get(id);
            if (!param) throw new ApiFailure(404, `config param ${id} is not set`);
            return { '@type': 'configInfo', config: { '@type': 'tvm.cell', bytes: param.toBoc().toString('base64') } };
        },

        async getConfigAll() {
            return { '@type': 'configInfo', config: { '@type': 'tvm.cell', bytes: bc.config.toBoc().toString('base64') } };
        },
    };

    // An external message, applied with everything it sets off; an external a contract does not
    // accept is refused as a liteserver refuses it.
    async function send(boc: Cell) {
        let message: Message;
        try {
            message = loadMessage(boc.beginParse());
        } catch {
            throw new ApiFailure(416, 'boc: not a message');
        }
        if (message.info.type !== 'external-in') throw new ApiFailure(416, 'boc: only external messages can be sent');
        chain.tick();
        try {
            await bc.sendMessage(message);
        } catch (e) {
            throw new ApiFailure(
                500,
                `LITE_SERVER_UNKNOWN: cannot apply external message to current state : External message was not accepted (${(e as Error).message.split('\n')[0]})`,
            );
        }
        chain.seqno += 1;
        chain.save();
    }

    async function locate(account: Address, other: Address, createdLt: string, direction: 'in' | 'out') {
        if (!/^\d+$/.test(createdLt)) throw new ApiFailure(422, 'created_lt: field required');
        chain.tick();
        for (const tx of chain.transactionsOf(account)) {
            const msgs = direction === 'in' ? [tx.inMessage] : [...tx.outMessages.values()];
            for (const m of msgs) {
                if (m?.info.type !== 'internal' || m.info.createdLt.toString() !== createdLt) continue;
                const counterpart = direction === 'in' ? m.info.src : m.info.dest;
                if (counterpart.equals(other)) return transactionJson(tx);
            }
        }
        throw new ApiFailure(404, 'transaction was not found');
    }

    return methods;
}

// The HTTP server: JSON-RPC and REST under /api/v2/, plus the admin routes of the devnet.
export async function buildToncenterApi(chain: DevChain, o: { logger?: boolean; supply?: bigint } = {}): Promise<FastifyInstance> {
    const app = Fastify({ logger: o.logger ?? false, bodyLimit: 4 * 1024 * 1024 });
    const methods = toncenterMethods(chain);
    // one call at a time: the emulator's state is one, and estimateFee restores a snapshot
    let queue: Promise<unknown> = Promise.resolve();
    const serialized = <T>(f: () => Promise<T>): Promise<T> => {
        const mine = queue.then(f);
        queue = mine.catch(() => {});
        return mine;
    };
    const answer = async (method: string, params: Params, id: unknown, reply: import('fastify').FastifyReply) => {
        const handler = Object.prototype.hasOwnProperty.call(methods, method) ? methods[method] : undefined;
        const idPart = id === undefined ? {} : { id };
        if (!handler)
            return reply.code(404).send({ ok: false, error: `Method ${method} is not supported by the devnet`, code: 404, ...idPart });
        try {
            const result = await serialized(() => handler(params));
            return reply.send({ ok: true, result, ...idPart, ...(id !== undefined ? { jsonrpc: '2.0' } : {}) });
        } catch (e) {
            const code = e instanceof ApiFailure ? e.code : 500;
            return reply.code(code).send({ ok: false, error: (e as Error).message, code, ...idPart });
        }
    };
    const rpc = async (req: import('fastify').FastifyRequest, reply: import('fastify').FastifyReply) => {
        const body = req.body as { method?: unknown; params?: unknown; id?: unknown } | undefined;
        if (!body || typeof body.method !== 'string')
            return reply.code(422).send({ ok: false, error: 'method: field required', code: 422 });
        return answer(body.method, (body.params ?? {}) as Params, body.id, reply);
    };
    app.post('/api/v2/jsonRPC', rpc);
    app.post('/api/v2/', rpc);
    app.post('/api/v2', rpc);
    app.get<{ Params: { method: string }; Querystring: Params }>('/api/v2/:method', (req, reply) =>
        answer(req.params.method, req.query, undefined, reply),
    );
    app.post<{ Params: { method: string } }>('/api/v2/:method', (req, reply) =>
        answer(req.params.method, (req.body ?? {}) as Params, undefined, reply),
    );

    // Admin: move the clock forward (deadlines, claim windows, unbonding, governance delays).
    app.post('/admin/advance', async (req, reply) => {
        const seconds = Number((req.body as { seconds?: unknown } | undefined)?.seconds);
        if (!Number.isInteger(seconds) || seconds <= 0)
            return reply.code(422).send({ ok: false, error: 'seconds: a positive integer', code: 422 });
        await serialized(async () => chain.advance(seconds));
        return { ok: true, result: { now: chain.now() } };
    });
    app.get('/admin/now', async () => ({ ok: true, result: { now: chain.now() } }));
    // Admin: every account's balance and every fee the network took, against the TON the devnet
    // minted at set-up (supply): what a test of conservation over the whole network reads. No TON
    // is created or destroyed after set-up, so balances + fees = supply, always.
    app.get('/admin/ledger', async (_req, reply) => {
        if (o.supply === undefined)
            return reply.code(404).send({ ok: false, error: 'this devnet was set up before it recorded its supply', code: 404 });
        const { accounts, balances, fees } = await serialized(async () => chain.ledger());
        return {
            ok: true,
            result: {
                supply: o.supply.toString(),
                balances: balances.toString(),
                fees: fees.toString(),
                imbalance: (balances + fees - o.supply).toString(),
                accounts: accounts.map((a) => ({ address: a.address, balance: a.balance.toString() })),
            },
        };
    });
    return app;
}
