// What every operator script does around one message: refuse a value below what the message
// needs, send it, wait for the destination to process it, and report the outcome (success, or
// the exit code with the contract's name for it, plus an explorer link for the network used).
import { NetworkProvider } from '@ton/blueprint';
import { Address, Cell, StateInit, Transaction, fromNano } from '@ton/core';
import { GOVERNANCE_MIN_VALUE, GOVERNANCE_VALUE, exitCodeOf, firstFailure } from '../../wrappers';
import { Progress, ProgressOutput, progress, withProgress } from '../../protocol/progress';
import { InputError, Options, deployedTarget, quietOption, valueOption } from './cli';

export interface Outcome {
    ok: boolean;
    exitCode: number | null; // of the failed (or the destination's) transaction; null when it could not be read
    message: string; // one line for the operator
    link: string; // explorer page of the destination
    transaction?: Transaction; // the destination's transaction, when it could be read
}

export function explorerLink(provider: NetworkProvider, address: Address): string {
    const testnet = provider.network() === 'testnet';
    const a = address.toString({ testOnly: testnet });
    switch (provider.explorer()) {
        case 'tonviewer':
            return `https://${testnet ? 'testnet.' : ''}tonviewer.com/${a}`;
        case 'toncx':
            return `https://${testnet ? 'testnet.' : ''}ton.cx/address/${a}`;
        case 'dton':
            return `https://${testnet ? 'testnet.' : ''}dton.io/a/${a}`;
        default:
            return `https://${testnet ? 'testnet.' : ''}tonscan.org/address/${a}`;
    }
}

export interface SendArgs {
    to: Address;
    value: bigint;
    minValue: bigint; // what the message and the chain it starts need; less is refused here
    body: Cell;
    init?: StateInit;
    what: string; // "AddVerifier to Root", for the operator
    quiet: boolean; // --quiet (quietOption): no progress while waiting
}

// A script's waits are shown through Blueprint's UI, not on stderr: under `blueprint run` its
// bottom bar (inquirer's) owns the terminal's last line and redraws it around every ui.write, so
// a spinner of our own on stderr would be torn by it; setActionPrompt is that bar, the one
// Blueprint shows its own waits in ("Awaiting transaction..."), and ui.write keeps the lines in
// order with the script's other output. The bar draws on stdout, so stdout says whether it is a
// terminal; elsewhere (CI, a pipe, the test harness) the plain lines go through ui.write.
export function scriptOutput(ui: ReturnType<NetworkProvider['ui']>, interactive = process.stdout.isTTY === true): ProgressOutput {
    return {
        interactive,
        line: (text) => ui.write(text),
        draw: (text) => ui.setActionPrompt(text),
        clear: () => ui.clearActionPrompt(),
    };
}

/** Shows a script's wait for `what`; quiet with --quiet or COCOON_QUIET=1. */
export function scriptProgress(provider: NetworkProvider, what: string, quiet: boolean): Progress {
    return progress(what, { output: scriptOutput(provider.ui()), quiet });
}

// Sends, waits for the destination's transaction and reports it. Sandbox senders return their
// transactions directly; on a real network the destination's transactions are polled.
export async function sendAndReport(provider: NetworkProvider, a: SendArgs): Promise<Outcome> {
    const ui = provider.ui();
    if (a.value < a.minValue) {
        throw new InputError(
            `${a.what} needs at least ${fromNano(a.minValue)} TON attached for gas and fees; ${fromNano(a.value)} TON was given`,
        );
    }
    const sender = provider.sender();
    const before = (await provider.getContractState(a.to)).last;
    ui.write(`Sending ${a.what} with ${fromNano(a.value)} TON…`);
    await sender.send({ to: a.to, value: a.value, body: a.body, init: a.init, bounce: true });
    // (started once the send returned: a TON Connect wallet shows its own prompt while it signs)
    const found = await withProgress(
        `Waiting for ${a.what} to be processed`,
        () => destinationTransaction(provider, a.to, before?.lt ?? null),
        { output: scriptOutput(provider.ui()), quiet: a.quiet },
    );
    const link = explorerLink(provider, a.to);
    if (!found) {
        return report(ui, {
            ok: true,
            exitCode: null,
            message: `${a.what} was applied; its outcome could not be read here, see ${link}`,
            link,
        });
    }
    // the first failure anywhere in the chain the message started, when the chain is visible
    const failure = firstFailure(found.chain);
    if (!failure) {
        return report(ui, {
            ok: true,
            exitCode: exitCodeOf(found.destination),
            message: `${a.what}: done`,
            link,
            transaction: found.destination,
        });
    }
    const where = failure.transaction === found.destination ? '' : ` at ${failure.account.toString()}`;
    const why = failure.reason + where;
    return report(ui, { ok: false, exitCode: failure.exitCode, message: `${a.what} failed: ${why}`, link });
}

function report(ui: ReturnType<NetworkProvider['ui']>, o: Outcome): Outcome {
    ui.write(o.message);
    ui.write(`Explorer: ${o.link}`);
    return o;
}

async function destinationTransaction(
    provider: NetworkProvider,
    to: Address,
    previousLt: bigint | null,
): Promise<{ destination: Transaction; chain: Transaction[] } | null> {
    const result = (provider.sender() as { lastSendResult?: unknown }).lastSendResult as { transactions?: Transaction[] } | undefined;
    if (result?.transactions) {
        const destination = result.transactions.find((t) => t.inMessage?.info.type === 'internal' && t.inMessage.info.dest.equals(to));
        return destination ? { destination, chain: result.transactions } : null;
    }
    const api = provider.api() as { getTransactions?: (a: Address, o: { limit: number }) => Promise<Transaction[]> };
    for (let attempt = 0; attempt < 30; attempt++) {
        await new Promise((r) => setTimeout(r, 2000));
        const state = await provider.getContractState(to);
        if (state.last && (previousLt === null || state.last.lt > previousLt)) {
            if (!api.getTransactions) return null;
            const txs = await api.getTransactions(to, { limit: 5 });
            const destination = txs.find((t) => previousLt === null || t.lt > previousLt);
            return destination ? { destination, chain: [destination] } : null;
        }
    }
    throw new Error(`no transaction at ${to.toString()} after 60 s: the message may still be in flight; check the explorer`);
}

// One governance message to Root from the connected (owner) wallet: --root ADDRESS [--value TON].
export async function sendToRoot(provider: NetworkProvider, opts: Options, body: Cell, what: string): Promise<Outcome> {
    const root = await deployedTarget(provider, opts, 'root', 'Root');
    return sendAndReport(provider, {
        to: root,
        value: valueOption(opts),
        minValue: GOVERNANCE_MIN_VALUE,
        body,
        what: `${what} to Root`,
        quiet: quietOption(opts),
    });
}

// A message that only needs gas (an owner operation, closing a session): GOVERNANCE_VALUE
// attached, the unused part comes back.
export function sendSmall(provider: NetworkProvider, opts: Options, to: Address, body: Cell, what: string): Promise<Outcome> {
    return sendAndReport(provider, { to, value: GOVERNANCE_VALUE, minValue: GOVERNANCE_MIN_VALUE, body, what, quiet: quietOption(opts) });
}
