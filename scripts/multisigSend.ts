// npx blueprint run multisigSend --testnet -- --order ORDER.json --key KEY_FILE
// An owner sends an order (multisigOrder) to the multisig as an external message signed with its
// key, carrying the signatures other owners added to the file (multisigSign). With enough
// signatures the multisig sends the order's message to Root at once, and the script reports what
// Root did (a timelocked change: proposed, with its id and executeAt). With fewer, the multisig
// records them: the order waits there for the other owners' multisigSend until it expires. No
// wallet is needed: the multisig pays the gas out of its own balance.
import { NetworkProvider } from '@ton/blueprint';
import { Address, Transaction, fromNano, toNano } from '@ton/core';
import { MultisigWallet } from '@ton/ton';
import * as w from '../wrappers';
import * as cli from './lib';
import { MIN_PARTIAL_TTL, ownerIdOf, ownerKeyOption, parseOrderAddress, readOrder } from './multisigOrder';

const TIMELOCKED: Record<string, bigint> = {
    SetParams: w.CHANGE_PARAMS,
    AddVerifier: w.CHANGE_ADD_VERIFIER,
    RemoveVerifier: w.CHANGE_REMOVE_VERIFIER,
    SetThreshold: w.CHANGE_THRESHOLD,
    WithdrawMeasurement: w.CHANGE_WITHDRAW_MEASUREMENT,
};

export async function run(provider: NetworkProvider, args: string[]) {
    provider = cli.withEndpoints(provider); // (reads through COCOON_ENDPOINTS when it is set)
    const ui = provider.ui();
    const opts = cli.parseOptions(args);
    const path = await cli.requiredOption(provider, opts, 'order', 'Order file');
    const { file, order } = readOrder(path);
    const key = await ownerKeyOption(provider, opts);
    const id = ownerIdOf(file, key);
    const address = parseOrderAddress(file, 'multisig');
    const to = parseOrderAddress(file, 'to');
    if (!(await provider.isContractDeployed(address))) throw new cli.InputError(`no multisig is deployed at ${address.toString()}`);
    const contract = provider.provider(address);
    const multisig = await MultisigWallet.fromAddress(address, { provider: contract });
    const onChainOwners = [...multisig.owners.keys()]
        .sort((a, b) => a - b)
        .map((i) => multisig.owners.get(i)!.subarray(0, 32).toString('hex'));
    if (multisig.walletId !== file.walletId || multisig.k !== file.k || onChainOwners.join() !== file.owners.join())
        throw new cli.InputError(`the multisig at ${address.toString()} is not the one this order was made for`);

    // what the multisig knows of this order already
    const queryId = BigInt(file.queryId);
    const before = await queryState(provider, address, queryId);
    if (before.state === -1n) throw new cli.InputError('this order was executed already');
    if ((before.mask >> BigInt(id)) & 1n)
        throw new cli.InputError(`owner ${id} signed this order on-chain already: another owner must send it`);
    const signers = new Set([id, ...Object.keys(order.signatures).map(Number), ...maskOwners(before.mask, file.owners.length)]);
    const now = Math.floor(Date.now() / 1000);
    const expiresAt = Number(queryId >> 32n);
    if (expiresAt <= now) throw new cli.InputError(`this order expired at ${file.expiresAt}: make a new one`);
    const complete = signers.size >= file.k;
    if (!complete && expiresAt - now <= MIN_PARTIAL_TTL)
        throw new cli.InputError(
            `with ${signers.size} of ${file.k} signatures the multisig would keep this order, but only while it has over an hour left; it expires at ${file.expiresAt}: collect the signatures in the file (multisigSign) and send them together`,
        );
    const balance = (await provider.getContractState(address)).balance;
    const needed = toNano(file.value) + toNano('0.05');
    if (complete && balance < needed)
        throw new cli.InputError(
            `the multisig holds ${fromNano(balance)} TON; the order needs about ${fromNano(needed)} TON: top it up first`,
        );

    ui.write(`Order: ${file.description} (${file.message} to ${file.to}, ${file.value} TON)`);
    ui.write(
        `Sending it to multisig ${address.toString()} as owner ${id}, with the signatures of owner(s) ${[...signers].sort().join(', ')}…`,
    );
    const kind = TIMELOCKED[file.message];
    const rootIsTarget = kind !== undefined || file.message === 'CancelChange';
    const pendingBefore = rootIsTarget ? await cli.pendingChangeIds(provider, to) : new Set<number>();
    const multisigLt = (await provider.getContractState(address)).last?.lt ?? 0n;
    const targetLt = (await provider.getContractState(to)).last?.lt ?? 0n;
    await multisig.sendOrder(order, key.secretKey, contract);

    const quiet = cli.quietOption(opts);
    await waitFor(
        provider,
        async () => ((await provider.getContractState(address)).last?.lt ?? 0n) > multisigLt,
        'the multisig',
        'Waiting for the multisig to process the order',
        quiet,
    );
    const after = await queryState(provider, address, queryId);
    if (after.state !== -1n) {
        const onChain = maskOwners(after.mask, file.owners.length);
        ui.write(
            `The multisig recorded the order, signed by owner(s) ${onChain.join(', ')}: ${onChain.length} of ${file.k}. Another owner runs multisigSend --order ${path} with their key before ${file.expiresAt}.`,
        );
        return { ok: true, executed: false, signers: onChain };
    }

    ui.write(`The multisig executed the order: it sent ${file.message} to ${to.toString()}`);
    await waitFor(
        provider,
        async () => ((await provider.getContractState(to)).last?.lt ?? 0n) > targetLt,
        file.to,
        `Waiting for ${file.to} to process ${file.message}`,
        quiet,
    );
    const tx = await transactionFrom(provider, to, address, targetLt);
    const failure = tx ? w.firstFailure([tx]) : undefined;
    const exitCode = tx ? w.exitCodeOf(tx) : null;
    const link = cli.explorerLink(provider, to);
    if (failure) {
        ui.write(`${file.message} failed at ${to.toString()}: ${failure.reason}`);
        ui.write(`Explorer: ${link}`);
        return { ok: false, executed: true, exitCode };
    }
    ui.write(`${file.message}: done`);
    ui.write(`Explorer: ${link}`);
    const governance = kind !== undefined ? await cli.reportGovernanceChange(provider, to, pendingBefore, kind, file.message) : {};
    return { ok: true, executed: true, exitCode, ...governance };
}

// The multisig's get_query_state: -1 executed, 0 waiting (mask: the owners who signed), 1 unknown.
async function queryState(provider: NetworkProvider, multisig: Address, queryId: bigint): Promise<{ state: bigint; mask: bigint }> {
    const r = await provider.provider(multisig).get('get_query_state', [{ type: 'int', value: queryId }]);
    return { state: r.stack.readBigNumber(), mask: r.stack.readBigNumber() };
}

function maskOwners(mask: bigint, n: number): number[] {
    return Array.from({ length: n }, (_, i) => i).filter((i) => (mask >> BigInt(i)) & 1n);
}

// Polls `done` for up to 60 s, showing `what` while it waits.
async function waitFor(provider: NetworkProvider, done: () => Promise<boolean>, at: string, what: string, quiet: boolean) {
    const wait = cli.scriptProgress(provider, what, quiet);
    for (let attempt = 0; attempt < 30; attempt++) {
        if (await done()) return wait.succeed();
        await new Promise((r) => setTimeout(r, 2000));
    }
    wait.fail(`${what}: failed`);
    throw new Error(`no new transaction at ${at} after 60 s: the message may still be in flight; check the explorer`);
}

// The transaction at `at`, after `afterLt`, that processed a message from `from`.
async function transactionFrom(provider: NetworkProvider, at: Address, from: Address, afterLt: bigint): Promise<Transaction | undefined> {
    const last = (await provider.getContractState(at)).last;
    if (!last) return undefined;
    const txs = await provider.provider(at).getTransactions(at, last.lt, last.hash, 10);
    return txs.find((t) => t.lt > afterLt && t.inMessage?.info.type === 'internal' && t.inMessage.info.src.equals(from));
}
