// The devnet (devnet/): @ton/sandbox behind a toncenter v2 API that the stock TonClient,
// Cocoon's own chain access and Blueprint scripts use unchanged; wall-clock time an admin can move
// forward; state that survives a restart; toncenter's error shapes.
import { spawn } from 'child_process';
import { join } from 'path';
import { Address, Cell, beginCell, external, internal, storeMessage, toNano } from '@ton/core';
import { TonClient, WalletContractV4 } from '@ton/ton';
import { keyPairFromSeed, mnemonicNew, mnemonicToPrivateKey } from '@ton/crypto';
import { readFileSync, writeFileSync } from 'fs';
import { failoverChain, mnemonicWallet } from '../../protocol/chain';
import { readProvider } from '../../protocol/state';
import { Provider, Root, buildListing, providerForOwner, storeRegister } from '../../wrappers';
import { DEMO_MODEL, DEMO_MODEL_HASH } from '../../testkit/local-network';
import { DevChain, Devnet, startDevnet } from '../../devnet/src';
import { nodeArgs } from '../../testkit/compiled';
import { tempDir } from '../tmp';

const ROOT_DIR = join(__dirname, '..', '..');

function run(command: string, args: string[], o: { cwd: string; env: NodeJS.ProcessEnv }) {
    return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(command, args, o);
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        child.on('close', (status) => resolve({ status, stdout, stderr }));
    });
}

describe('devnet', () => {
    const dir = tempDir('devnet');
    let net: Devnet;
    let rpc: string; // the JSON-RPC URL TonClient is given
    const call = async (method: string, params: Record<string, unknown>) => {
        const res = await fetch(rpc, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ id: 1, jsonrpc: '2.0', method, params }),
        });
        return { status: res.status, body: (await res.json()) as { ok: boolean; result?: unknown; error?: string; code?: number } };
    };
    const wallet = (i: number) =>
        mnemonicWallet(failoverChain([{ url: rpc }], { followChainClock: true }), net.info.wallets[i].mnemonic.split(' '), { pollMs: 50 });

    beforeAll(async () => {
        net = await startDevnet({ dir, port: 0, modelHash: DEMO_MODEL_HASH });
        rpc = net.url + 'jsonRPC';
    });
    afterAll(() => net.close());

    it('starts with funded wallets and the protocol deployed for development, readable by the stock TonClient', async () => {
        expect(net.fresh).toBe(true);
        expect(net.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/v2\/$/);
        const client = new TonClient({ endpoint: net.url }); // (Blueprint's --custom URL: JSON-RPC posted to /api/v2/ itself)
        const root = client.open(Root.fromAddress(Address.parse(net.info.root!)));
        expect(await root.getGlobalId()).toBe(-3n);
        const set = await root.getVerifierSet();
        expect([set.count, set.threshold]).toEqual([2n, 2n]);
        expect(await root.getIsMeasurementAllowed(BigInt('0x' + net.info.measurement))).toBe(true);
        expect(net.info.wallets.map((w) => w.name)).toEqual(['governance', 'provider', 'verifier', 'client']);
        expect(await client.getBalance(Address.parse(net.info.wallets[3].address))).toBe(toNano('1000000'));
        const mc = await client.getMasterchainInfo();
        expect(mc.latestSeqno).toBeGreaterThan(0);
    });

    it("sends a wallet's transfer and reads a Provider's nested state, which the stock TonClient cannot", async () => {
        const owner = await wallet(1);
        const chain = failoverChain([{ url: rpc }]);
        const root = Address.parse(net.info.root!);
        const provider = await providerForOwner(root, owner.address);
        const listing = buildListing({
            gpuModel: 'NVIDIA H100 80GB HBM3',
            gpuCount: 1,
            vramGb: 80,
            endpoint: 'https://worker.example',
            models: [
                { name: DEMO_MODEL, prices: { prompt: 1n, cachedPrompt: 1n, completion: 1n, reasoning: 1n }, modelHash: DEMO_MODEL_HASH },
            ],
        });
        const body = beginCell()
            .store(storeRegister({ $$type: 'Register', queryId: 1n, listing }))
            .endCell();
        await owner.sender.send({ to: provider.address, value: toNano('150'), init: provider.init, body, bounce: false });
        const state = await readProvider(chain, provider.address);
        expect(state).toMatchObject({ status: 2 }); // active
        expect(state!.stake).toBeGreaterThan(toNano('149'));
        expect(state!.listing?.gpuCount).toBe(1n);
        // (@ton/ton reads only the top level of a stack: ton-org/ton issue 31; protocol/get-method.ts)
        const stock = new TonClient({ endpoint: rpc }).open(Provider.fromAddress(provider.address));
        await expect(stock.getSummary()).rejects.toThrow('Not a number');
        // the transactions, newest first, pageable, and the one a message caused
        const txs = await chain.transactions(provider.address, 0n);
        expect(txs.length).toBeGreaterThanOrEqual(1);
        const first = await call('getTransactions', { address: provider.address.toString(), limit: 1 });
        const tx = (first.body.result as { transaction_id: { lt: string }; in_msg: { created_lt: string; source: string } }[])[0];
        const located = await call('tryLocateResultTx', {
            source: tx.in_msg.source,
            destination: provider.address.toString(),
            created_lt: tx.in_msg.created_lt,
        });
        expect((located.body.result as { transaction_id: { lt: string } }).transaction_id.lt).toBe(tx.transaction_id.lt);
    });

    it('estimates fees without changing anything, and reads config params', async () => {
        const client = new TonClient({ endpoint: rpc });
        const key = await mnemonicToPrivateKey(net.info.wallets[2].mnemonic.split(' '));
        const w = WalletContractV4.create({ workchain: 0, publicKey: key.publicKey });
        const before = await client.getBalance(w.address);
        const transfer = w.createTransfer({ seqno: 0, secretKey: key.secretKey, messages: [internal({ to: w.address, value: 1n })] });
        const fees = await client.estimateExternalMessageFee(w.address, {
            body: transfer,
            initCode: w.init.code,
            initData: w.init.data,
            ignoreSignature: true,
        });
        expect(fees.source_fees.gas_fee).toBeGreaterThan(0);
        expect(await client.getBalance(w.address)).toBe(before);
        const param = await call('getConfigParam', { config_id: 19 });
        const bytes = (param.body.result as { config: { bytes: string } }).config.bytes;
        expect(Cell.fromBase64(bytes).beginParse().loadInt(32)).toBe(-3); // (config param 19: the global id)
    });

    it("answers in toncenter's error shapes", async () => {
        expect(await call('getAddressInformation', { address: 'nope' })).toEqual({
            status: 416,
            body: { ok: false, error: 'Incorrect address: nope', code: 416, id: 1 },
        });
        expect((await call('lookupBlock', {})).body).toMatchObject({
            ok: false,
            code: 404,
            error: 'Method lookupBlock is not supported by the devnet',
        });
        expect((await call('sendBoc', { boc: 'AAAA' })).status).toBe(416);
        // an external message its wallet does not accept (signed with another key)
        const stranger = await mnemonicToPrivateKey(await mnemonicNew(24));
        const w = WalletContractV4.create({
            workchain: 0,
            publicKey: (await mnemonicToPrivateKey(net.info.wallets[3].mnemonic.split(' '))).publicKey,
        });
        const forged = w.createTransfer({ seqno: 0, secretKey: stranger.secretKey, messages: [internal({ to: w.address, value: 1n })] });
        const msg = beginCell()
            .store(storeMessage(external({ to: w.address, init: w.init, body: forged })))
            .endCell();
        const refused = await call('sendBoc', { boc: msg.toBoc().toString('base64') });
        expect(refused.status).toBe(500);
        expect(refused.body.error).toMatch(/^LITE_SERVER_UNKNOWN: cannot apply external message to current state/);
        // REST form of a method
        const rest = await (await fetch(`${net.url}getAddressBalance?address=${net.info.wallets[3].address}`)).json();
        expect(rest).toEqual({ ok: true, result: toNano('1000000').toString() });
    });

    it('refuses malformed calls, naming the field', async () => {
        const w = net.info.wallets[0].address;
        const cases: [string, Record<string, unknown>, number, string][] = [
            ['getAddressInformation', {}, 422, 'address: field required'],
            ['getTransactions', { address: w, lt: '1' }, 422, 'lt and hash go together'],
            ['getTransactions', { address: w, limit: 'x' }, 422, 'limit: value is not a valid integer'],
            ['runGetMethod', { address: net.info.root }, 422, 'method: field required'],
            ['runGetMethod', { address: net.info.root, method: 'seqno', stack: 'x' }, 422, 'stack: value is not a valid list'],
            ['runGetMethod', { address: net.info.root, method: 'seqno', stack: [['num', 'zz']] }, 422, 'stack.0: zz is not a number'],
            ['runGetMethod', { address: net.info.root, method: 'seqno', stack: [['float', '1']] }, 422, 'stack.0: unsupported type float'],
            [
                'runGetMethod',
                { address: net.info.root, method: 'seqno', stack: [['tvm.Cell', '!!']] },
                422,
                'stack.0: not a base64 bag of cells',
            ],
            ['getConfigParam', { config_id: 4242 }, 404, 'config param 4242 is not set'],
            ['tryLocateResultTx', { source: w, destination: w, created_lt: 'x' }, 422, 'created_lt: field required'],
            ['tryLocateResultTx', { source: w, destination: w, created_lt: '1' }, 404, 'transaction was not found'],
        ];
        for (const [method, params, code, error] of cases) {
            expect(await call(method, params)).toEqual({ status: code, body: { ok: false, code, error, id: 1 } });
        }
        // an internal message cannot be sent from outside
        const to = Address.parse(w);
        const internalMessage = beginCell()
            .store(
                storeMessage({
                    info: {
                        type: 'internal',
                        src: to,
                        dest: to,
                        value: { coins: 1n },
                        bounce: false,
                        bounced: false,
                        ihrDisabled: true,
                        ihrFee: 0n,
                        forwardFee: 0n,
                        createdLt: 0n,
                        createdAt: 0,
                    },
                    body: Cell.EMPTY,
                }),
            )
            .endCell();
        expect((await call('sendBoc', { boc: internalMessage.toBoc().toString('base64') })).body.error).toBe(
            'boc: only external messages can be sent',
        );
        const noMethod = await fetch(rpc, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
        expect([noMethod.status, ((await noMethod.json()) as { error: string }).error]).toEqual([422, 'method: field required']);
        // a get method of an account without code: exit code -13, as a liteserver answers
        const none = await call('runGetMethod', { address: new Address(0, Buffer.alloc(32, 9)).toString(), method: 'seqno', stack: [] });
        expect(none.body.result).toMatchObject({ exit_code: -13, stack: [] });
    });

    it('keeps wall-clock time, moves it forward on an admin call, and carries everything over a restart', async () => {
        const base = net.url.replace('/api/v2/', '');
        const { result } = (await (await fetch(`${base}/admin/now`)).json()) as { result: { now: number } };
        expect(Math.abs(result.now - Math.floor(Date.now() / 1000))).toBeLessThanOrEqual(2);
        const moved = await fetch(`${base}/admin/advance`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ seconds: 86_400 }),
        });
        expect(((await moved.json()) as { result: { now: number } }).result.now).toBeGreaterThanOrEqual(result.now + 86_400);
        const bad = await fetch(`${base}/admin/advance`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ seconds: -1 }),
        });
        expect(bad.status).toBe(422);

        const client = new TonClient({ endpoint: rpc });
        const owner = Address.parse(net.info.wallets[1].address);
        const balance = await client.getBalance(owner);
        await net.close();
        net = await startDevnet({ dir, port: 0, modelHash: DEMO_MODEL_HASH });
        rpc = net.url + 'jsonRPC';
        expect(net.fresh).toBe(false);
        const again = new TonClient({ endpoint: rpc });
        expect(await again.getBalance(owner)).toBe(balance);
        expect(await again.open(Root.fromAddress(Address.parse(net.info.root!))).getGlobalId()).toBe(-3n);
        expect(net.chain.now()).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000) + 86_400); // (the move is kept)
        const chain = failoverChain([{ url: rpc }], { followChainClock: true });
        expect((await readProvider(chain, (await providerForOwner(Address.parse(net.info.root!), owner)).address))?.status).toBe(2);
        // Cocoon's tools in development mode follow the chain's clock: a wallet transfer signed a
        // day "early" by this machine's clock would have expired on arrival
        expect(Math.abs(chain.now() - net.chain.now())).toBeLessThanOrEqual(2);
        const sender = await wallet(3);
        const to = Address.parse(net.info.wallets[2].address);
        const before = await again.getBalance(to);
        await sender.sender.send({ to, value: toNano('1'), bounce: false });
        const received = (await again.getBalance(to)) - before;
        expect(received).toBeGreaterThan(toNano('0.999')); // (less the day's storage fee of the receiver)
        expect(received).toBeLessThanOrEqual(toNano('1'));

        // Root's transactions after the reload: newest first, paged from a transaction on
        type Tx = { transaction_id: { lt: string; hash: string } };
        const page = async (params: Record<string, unknown>) =>
            ((await call('getTransactions', { address: net.info.root!, ...params })).body.result as Tx[]).map((t) => t.transaction_id);
        const all = await page({ limit: 100 });
        expect(all.length).toBeGreaterThan(3);
        expect(all.map((t) => BigInt(t.lt))).toEqual(all.map((t) => BigInt(t.lt)).sort((a, b) => (a > b ? -1 : 1)));
        const first = await page({ limit: 2 });
        const next = await page({ limit: 2, lt: first[1].lt, hash: first[1].hash });
        expect(next).toEqual(all.slice(1, 3)); // (from the cursor, inclusive)
        // an account of another workchain with the same hash has its own transactions
        const twin = new Address(-1, Address.parse(net.info.root!).hash);
        await sender.sender.send({ to: twin, value: toNano('0.5'), bounce: false });
        expect(await page({ limit: 100 })).toEqual(all);
        expect((await call('getTransactions', { address: twin.toRawString(), limit: 10 })).body.result).toHaveLength(1);
        const missing = await call('getTransactions', {
            address: net.info.root!,
            limit: 2,
            lt: first[1].lt,
            hash: Buffer.alloc(32).toString('base64'),
        });
        expect(missing.status).toBe(404);
    });

    it('accounts for every nanoton: the balances of all accounts plus the fees of all transactions are the TON minted', async () => {
        const base = net.url.replace('/api/v2/', '');
        const ledger = (await (await fetch(`${base}/admin/ledger`)).json()) as {
            result: { supply: string; balances: string; fees: string; imbalance: string; accounts: { address: string }[] };
        };
        // (four wallets and the faucet's own, and the fees of the faucet's deployment)
        expect(BigInt(ledger.result.supply) / toNano('1')).toBe(1_000_000n * 5n);
        expect(BigInt(ledger.result.fees)).toBeGreaterThan(0n);
        expect(ledger.result.imbalance).toBe('0');
        expect(ledger.result.accounts.map((a) => a.address)).toContain(net.info.root!);
    });

    it('runs a Blueprint script unchanged: --custom URL --custom-version v2 --custom-type testnet --mnemonic', async () => {
        const r = await blueprint(net, 1, ['showProvider', '--', '--root', net.info.root!, '--owner', net.info.wallets[1].address]);
        expect({ status: r.status, stderr: r.stderr, stdout: r.stdout }).toEqual({
            status: 0,
            stderr: expect.not.stringMatching(/Error/),
            stdout: expect.stringMatching(/Provider \S+: active/),
        });
        expect(r.stdout).toMatch(/1 x NVIDIA H100 80GB HBM3/);
    }, 150_000);
});

describe('devnet refusals', () => {
    it('answers 404 for the ledger of a devnet set up before it recorded its supply', async () => {
        const dir = tempDir('devnet-old');
        let net = await startDevnet({ dir, port: 0, deploy: false, wallets: 1, modelHash: DEMO_MODEL_HASH });
        await net.close();
        const info = JSON.parse(readFileSync(join(dir, 'devnet.json'), 'utf8')) as Record<string, unknown>;
        delete info.supply;
        writeFileSync(join(dir, 'devnet.json'), JSON.stringify(info));
        net = await startDevnet({ dir, port: 0, modelHash: DEMO_MODEL_HASH });
        try {
            const res = await fetch(net.url.replace('/api/v2/', '/admin/ledger'));
            expect([res.status, ((await res.json()) as { error: string }).error]).toEqual([
                404,
                'this devnet was set up before it recorded its supply',
            ]);
        } finally {
            await net.close();
        }
    });

    it('refuses a state directory holding something else than a devnet state, and a bad --model-hash', async () => {
        const dir = tempDir('devnet-bad');
        writeFileSync(join(dir, 'chain.json'), 'not json');
        await expect(DevChain.open(dir, -3)).rejects.toThrow(`${join(dir, 'chain.json')} is not a devnet state`);
        writeFileSync(join(dir, 'chain.json'), JSON.stringify({ version: 2 }));
        await expect(DevChain.open(dir, -3)).rejects.toThrow('was written by another devnet version (2)');
        const r = await run(process.execPath, [...nodeArgs('devnet/src/cli.ts'), '--model-hash', 'xyz', '--state', dir], {
            cwd: ROOT_DIR,
            env: process.env,
        });
        expect([r.status, r.stderr.trim()]).toEqual([64, 'error: --model-hash must be 64 hex digits (npm run worker -- model-hash DIR)']);
    }, 60_000);
});

describe('devnet start-up progress', () => {
    // (stderr is a pipe here: the plain lines CI sees)
    it('says what it starts, and that it failed, before the reason; with --quiet only that it failed', async () => {
        const dir = tempDir('devnet-progress');
        writeFileSync(join(dir, 'chain.json'), 'not json');
        const start = (...flags: string[]) =>
            run(process.execPath, [...nodeArgs('devnet/src/cli.ts'), '--state', dir, ...flags], {
                cwd: ROOT_DIR,
                env: { ...process.env, COCOON_QUIET: '' },
            });
        const starting = `Starting the devnet in ${dir} (a new one funds 4 wallets and deploys the protocol)`;
        const reason = `error: ${join(dir, 'chain.json')} is not a devnet state`;
        const shown = await start();
        expect(shown.status).toBe(1);
        expect(shown.stderr.split('\n')).toEqual([
            `${starting}…`,
            expect.stringMatching(new RegExp(`^${literally(starting)}: failed \\(\\d+ s\\)$`)),
            expect.stringContaining(reason),
            '',
        ]);
        const quiet = await start('--quiet');
        expect(quiet.stderr.split('\n')).toEqual([expect.stringMatching(/: failed \(\d+ s\)$/), expect.stringContaining(reason), '']);
    }, 60_000);
});

const literally = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('devnet without the protocol: a testnet deployment rehearsed with the Blueprint scripts', () => {
    let net: Devnet;
    beforeAll(async () => {
        net = await startDevnet({ dir: tempDir('devnet-rehearsal'), port: 0, deploy: false, wallets: 1, modelHash: DEMO_MODEL_HASH });
    });
    afterAll(() => net.close());

    it('deploys Root from deploy/params.testnet.json and adds a verifier, as docs/guides/deploy.md shows', async () => {
        expect(net.info.root).toBeUndefined();
        const deployed = await blueprint(net, 0, ['deployRoot', '--', '--params', 'deploy/params.testnet.json', '--yes']);
        expect(deployed.status).toBe(0);
        const root = /Root (\S+) on testnet \(global id -3\)/.exec(deployed.stdout)?.[1];
        expect(root).toBeDefined();
        const key = readFileSync(net.info.verifierKeyFiles[0], 'utf8').trim();
        const verifierKey = keyPairFromSeed(Buffer.from(key, 'hex')).publicKey.toString('hex');
        const added = await blueprint(net, 0, ['addVerifier', '--', '--root', root!, '--key', verifierKey]);
        expect(added.status).toBe(0);
        const chain = failoverChain([{ url: net.url + 'jsonRPC' }]);
        const opened = chain.open(Root.fromAddress(Address.parse(root!)));
        expect(await opened.getGlobalId()).toBe(-3n);
        expect(await opened.getIsVerifier(BigInt('0x' + verifierKey))).toBe(true);
    }, 150_000);
});

// `npx blueprint run ARGS --custom URL --custom-version v2 --custom-type testnet --mnemonic` with
// the devnet wallet `wallet` (asynchronously: the devnet answers from this process).
function blueprint(net: Devnet, wallet: number, args: string[]) {
    const [script, ...rest] = args;
    return run(
        process.execPath,
        [
            join(ROOT_DIR, 'node_modules', '@ton', 'blueprint', 'dist', 'cli', 'cli.js'),
            'run',
            script,
            '--custom',
            net.url,
            '--custom-version',
            'v2',
            '--custom-type',
            'testnet',
            '--mnemonic',
            ...rest,
        ],
        { cwd: ROOT_DIR, env: { ...process.env, WALLET_MNEMONIC: net.info.wallets[wallet].mnemonic, WALLET_VERSION: 'v4' } },
    );
}
