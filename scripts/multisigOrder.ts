// npx blueprint run multisigOrder --testnet -- --multisig MULTISIG --root ROOT --message NAME [message options]
//     [--value TON] [--ttl SECONDS] --out ORDER.json
// Governance through TON's multisig (@ton/ton MultisigWallet, owner of Root): writes an order, one
// message from the multisig to Root, to a file that the owners then sign (multisigSign) and send
// (multisigSend). Messages and their options, as the scripts of the same name take them:
//   setParams --params FILE | addVerifier --key HEX | removeVerifier --key HEX |
//   setThreshold --threshold M | withdrawMeasurement --measurement HEX |
//   allowMeasurement --measurement HEX | cancelChange --id N | proposeOwner --new-owner ADDRESS |
//   acceptOwnership | withdrawTreasury --amount TON --to ADDRESS | unjailProvider --provider ADDRESS
// The order expires after --ttl seconds (24 hours by default): collect the signatures before then.
import { NetworkProvider } from '@ton/blueprint';
import { Address, Builder, Cell, SendMode, beginCell, fromNano, internal } from '@ton/core';
import { KeyPair, mnemonicToPrivateKey, mnemonicValidate } from '@ton/crypto';
import { MultisigOrder, MultisigOrderBuilder, MultisigWallet } from '@ton/ton';
import { randomBytes } from 'crypto';
import { existsSync, readFileSync, writeFileSync } from 'fs';
import * as w from '../wrappers';
import * as cli from './lib';

export async function run(provider: NetworkProvider, args: string[]) {
    provider = cli.withEndpoints(provider); // (reads through COCOON_ENDPOINTS when it is set)
    const ui = provider.ui();
    const opts = cli.parseOptions(args);
    const multisigAddress = await cli.deployedTarget(provider, opts, 'multisig', 'multisig');
    const root = await cli.deployedTarget(provider, opts, 'root', 'Root');
    const out = await cli.requiredOption(provider, opts, 'out', 'Order file to write');
    if (existsSync(out)) throw new cli.InputError(`--out ${out} exists already: an order file is never overwritten`);
    const name = await cli.requiredOption(provider, opts, 'message', 'Root message (addVerifier, setParams, ...)');
    const message = await rootMessage(provider, opts, name);
    const value = cli.valueOption(opts);
    if (value < w.GOVERNANCE_MIN_VALUE)
        throw new cli.InputError(`--value: the message needs at least ${fromNano(w.GOVERNANCE_MIN_VALUE)} TON for gas and fees`);
    const ttl = Number(opts.get('ttl') ?? DEFAULT_TTL);
    if (!Number.isInteger(ttl) || ttl < MIN_TTL || ttl > MAX_TTL)
        throw new cli.InputError(`--ttl must be a whole number of seconds from ${MIN_TTL} to ${MAX_TTL}`);

    const multisig = await MultisigWallet.fromAddress(multisigAddress, { provider: provider.provider(multisigAddress) });
    const expiresAt = Math.floor(Date.now() / 1000) + ttl;
    const builder = new MultisigOrderBuilder(multisig.walletId);
    // mode 3: fees apart, and a failed send does not make the order replayable (it would burn the
    // multisig's balance in fees each time)
    builder.addMessage(
        internal({ to: root, value, bounce: true, body: message.body }),
        SendMode.PAY_GAS_SEPARATELY | SendMode.IGNORE_ERRORS,
    );
    // the query id is the expiry (high 32 bits) and, unlike MultisigOrderBuilder's own, random low
    // bits: two orders made in the same second must not share it
    builder.queryId = (BigInt(expiresAt) << 32n) | BigInt(randomBytes(4).readUInt32BE(0));
    const order = builder.build();
    const file: OrderFile = {
        multisig: multisigAddress.toString(),
        walletId: multisig.walletId,
        k: multisig.k,
        owners: [...multisig.owners.keys()].sort((a, b) => a - b).map((id) => multisig.owners.get(id)!.subarray(0, 32).toString('hex')),
        to: root.toString(),
        message: message.name,
        description: message.description,
        value: fromNano(value),
        queryId: builder.queryId.toString(),
        expiresAt: new Date(expiresAt * 1000).toISOString(),
        payload: order.payload.toBoc().toString('base64'),
        signatures: {},
    };
    writeFileSync(out, JSON.stringify(file, null, 2) + '\n');
    ui.write(`Order for multisig ${file.multisig} (${file.k} of ${file.owners.length} owners): ${file.description}`);
    ui.write(`  ${file.message} to Root ${file.to} with ${file.value} TON; expires ${file.expiresAt}`);
    ui.write(`  written to ${out}: each owner runs multisigSign --order ${out} --key KEY_FILE, then one of them multisigSend`);
    return { ok: true, file: out, order: file };
}

// ---------------------------------------------------------------------------------------------
// Shared by multisigSign and multisigSend
// ---------------------------------------------------------------------------------------------

const DEFAULT_TTL = 86_400;
// The multisig keeps an order that is not fully signed only if it has at least an hour left.
export const MIN_PARTIAL_TTL = 3600;
const MIN_TTL = 2 * MIN_PARTIAL_TTL;
const MAX_TTL = 30 * 86_400;

// An order as the owners pass it around: what it does, for whom, and the signatures so far.
export interface OrderFile {
    multisig: string;
    walletId: number;
    k: number;
    owners: string[]; // ed25519 public keys (hex), by owner id
    to: string;
    message: string;
    description: string;
    value: string; // TON
    queryId: string;
    expiresAt: string;
    payload: string; // base64 BOC: wallet id, query id, the message
    signatures: Record<string, string>; // owner id -> signature of the payload's hash (hex)
}

export function readOrder(path: string): { file: OrderFile; order: MultisigOrder } {
    let file: OrderFile;
    try {
        file = JSON.parse(readFileSync(path, 'utf8'));
    } catch (e) {
        throw new cli.InputError(`${path}: not an order file (${(e as Error).message})`);
    }
    const order = MultisigOrder.fromPayload(Cell.fromBase64(file.payload));
    for (const [id, signature] of Object.entries(file.signatures)) {
        const key = Buffer.from(file.owners[Number(id)] ?? '', 'hex');
        const sig = Buffer.from(signature, 'hex');
        if (key.length !== 32 || sig.length !== 64 || !w.ed25519Verify(order.payload.hash(), sig, key))
            throw new cli.InputError(`${path}: the signature of owner ${id} does not verify`);
        order.signatures[Number(id)] = sig;
    }
    return { file, order };
}

export function writeOrder(path: string, file: OrderFile, order: MultisigOrder) {
    file.signatures = Object.fromEntries(Object.entries(order.signatures).map(([id, s]) => [id, s.toString('hex')]));
    writeFileSync(path, JSON.stringify(file, null, 2) + '\n');
}

// --key FILE: an owner's key: 24 words (a TON mnemonic, as multisigKey writes), or 64 hex
// characters (a 32-byte ed25519 seed), or 128 (a 64-byte secret key).
export async function ownerKeyOption(provider: NetworkProvider, opts: cli.Options): Promise<KeyPair> {
    const path = await cli.requiredOption(provider, opts, 'key', 'Owner key file');
    let text: string;
    try {
        text = readFileSync(path, 'utf8').trim();
    } catch (e) {
        throw new cli.InputError(`--key ${path}: ${(e as Error).message}`);
    }
    const words = text.split(/\s+/);
    if (words.length === 24) {
        if (!(await mnemonicValidate(words))) throw new cli.InputError(`--key ${path}: not a valid TON mnemonic`);
        return mnemonicToPrivateKey(words);
    }
    if (/^[0-9a-fA-F]{64}$/.test(text)) return w.ed25519FromSeed(Buffer.from(text, 'hex'));
    if (/^[0-9a-fA-F]{128}$/.test(text)) {
        try {
            return w.ed25519FromSecretKey(Buffer.from(text, 'hex'));
        } catch (e) {
            throw new cli.InputError(`--key ${path}: ${(e as Error).message}`); // (its halves are of two keys)
        }
    }
    throw new cli.InputError(`--key ${path}: expected 24 mnemonic words or a hex ed25519 seed or secret key`);
}

export function ownerIdOf(file: OrderFile, key: KeyPair): number {
    const id = file.owners.indexOf(key.publicKey.toString('hex'));
    if (id < 0) throw new cli.InputError(`the key ${key.publicKey.toString('hex')} is not an owner of multisig ${file.multisig}`);
    return id;
}

// The Root message an order carries, built and checked as the script of the same name does.
async function rootMessage(
    provider: NetworkProvider,
    opts: cli.Options,
    name: string,
): Promise<{ name: string; body: Cell; description: string }> {
    const ask = (option: string, question: string) => cli.requiredOption(provider, opts, option, question);
    const hex = async (option: string, question: string) => cli.parseHex32(await ask(option, question), `--${option}`);
    const address = async (option: string, question: string) => cli.parseAddress(await ask(option, question), `--${option}`);
    const cell = (store: (b: Builder) => Builder) => store(beginCell()).endCell();
    const key = (k: bigint) => k.toString(16).padStart(64, '0');
    switch (name) {
        case 'setParams': {
            const params = await cli.paramsFileOption(provider, opts);
            const change = { $$type: 'GovernanceChange' as const, kind: w.CHANGE_PARAMS, value: 0n, params: w.paramsCell(params) };
            const current = await provider.open(w.Root.fromAddress(await cli.deployedTarget(provider, opts, 'root', 'Root'))).getParams();
            return {
                name: 'SetParams',
                body: cell((b) => b.store(w.storeSetParams({ $$type: 'SetParams', queryId: 0n, params }))),
                description: `${cli.describeChange(change, current)} (timelocked)`,
            };
        }
        case 'addVerifier': {
            const publicKey = await hex('key', 'Verifier public key (hex)');
            const body = cell((b) => b.store(w.storeAddVerifier({ $$type: 'AddVerifier', queryId: 0n, publicKey })));
            return { name: 'AddVerifier', body, description: `add verifier ${key(publicKey)} (timelocked)` };
        }
        case 'removeVerifier': {
            const publicKey = await hex('key', 'Verifier public key (hex)');
            const body = cell((b) => b.store(w.storeRemoveVerifier({ $$type: 'RemoveVerifier', queryId: 0n, publicKey })));
            return { name: 'RemoveVerifier', body, description: `remove verifier ${key(publicKey)} (timelocked)` };
        }
        case 'setThreshold': {
            const text = await ask('threshold', 'Threshold M');
            if (!/^[0-9]+$/.test(text) || Number(text) < 1 || Number(text) > Number(w.MAX_VERIFIERS))
                throw new cli.InputError(`--threshold must be a whole number from 1 to ${w.MAX_VERIFIERS}`);
            const body = cell((b) => b.store(w.storeSetThreshold({ $$type: 'SetThreshold', queryId: 0n, threshold: BigInt(text) })));
            return { name: 'SetThreshold', body, description: `set threshold to ${text} (timelocked)` };
        }
        case 'withdrawMeasurement': {
            const measurement = await hex('measurement', 'Measurement (hex)');
            const body = cell((b) => b.store(w.storeWithdrawMeasurement({ $$type: 'WithdrawMeasurement', queryId: 0n, measurement })));
            return { name: 'WithdrawMeasurement', body, description: `withdraw measurement ${key(measurement)} (timelocked)` };
        }
        case 'allowMeasurement': {
            const measurement = await hex('measurement', 'Measurement (hex)');
            const body = cell((b) => b.store(w.storeAllowMeasurement({ $$type: 'AllowMeasurement', queryId: 0n, measurement })));
            return { name: 'AllowMeasurement', body, description: `allow measurement ${key(measurement)} (applies at once)` };
        }
        case 'cancelChange': {
            const { id, description } = await cli.pendingChangeOption(provider, opts);
            const body = cell((b) => b.store(w.storeCancelChange({ $$type: 'CancelChange', queryId: 0n, id: BigInt(id) })));
            return { name: 'CancelChange', body, description: `cancel change #${id} (${description})` };
        }
        case 'proposeOwner': {
            const newOwner = await address('new-owner', 'New owner address');
            const body = cell((b) => b.store(w.storeProposeOwner({ $$type: 'ProposeOwner', queryId: 0n, newOwner })));
            return { name: 'ProposeOwner', body, description: `propose ${newOwner.toString()} as Root's owner` };
        }
        case 'acceptOwnership': {
            const body = cell((b) => b.store(w.storeAcceptOwnership({ $$type: 'AcceptOwnership', queryId: 0n })));
            return { name: 'AcceptOwnership', body, description: "accept Root's ownership" };
        }
        case 'withdrawTreasury': {
            const amount = cli.parseTon(await ask('amount', 'Amount (TON)'), '--amount');
            const to = await address('to', 'Recipient address');
            const body = cell((b) => b.store(w.storeWithdrawTreasury({ $$type: 'WithdrawTreasury', queryId: 0n, amount, to })));
            return { name: 'WithdrawTreasury', body, description: `pay ${fromNano(amount)} TON of the treasury to ${to.toString()}` };
        }
        case 'unjailProvider': {
            const target = await address('provider', 'Provider address');
            const body = cell((b) => b.store(w.storeUnjailProvider({ $$type: 'UnjailProvider', queryId: 0n, provider: target })));
            return { name: 'UnjailProvider', body, description: `unjail provider ${target.toString()}` };
        }
        default:
            throw new cli.InputError(
                `--message ${name}: one of setParams, addVerifier, removeVerifier, setThreshold, withdrawMeasurement, allowMeasurement, cancelChange, proposeOwner, acceptOwnership, withdrawTreasury, unjailProvider`,
            );
    }
}

export function parseOrderAddress(file: OrderFile, field: 'multisig' | 'to'): Address {
    return cli.parseAddress(file[field], `the order's ${field}`);
}
