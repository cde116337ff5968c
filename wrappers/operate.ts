// What every operator script does around one message: check its inputs before anything is sent,
// refuse a value below what the message needs, send it, wait for the destination to process it,
// and report the outcome: success, or the exit code with the contract's name for it, plus an
// explorer link for the network used. Scripts in scripts/ are thin wrappers around this.
import { NetworkProvider } from '@ton/blueprint';
import { Address, Cell, StateInit, Transaction, fromNano } from '@ton/core';
import { readFileSync } from 'fs';
import { describeExitCode } from './errors';
import { loadChangeClosedEvent } from './Root';
import {
    CHANGE_ADD_VERIFIER,
    CHANGE_PARAMS,
    CHANGE_REMOVE_VERIFIER,
    CHANGE_THRESHOLD,
    CHANGE_WITHDRAW_MEASUREMENT,
    GovernanceChange,
    Listing,
    ProtocolParams,
    Root,
    loadProtocolParams,
} from './Root';
import { buildListing, listingFromJson } from './listing';
import { paramsFromJson } from './params';

// A problem with what the operator asked for, found before anything was sent.
export class InputError extends Error {}

export interface Outcome {
    ok: boolean;
    exitCode: number | null; // of the destination's transaction; null when it could not be read
    message: string; // one line for the operator
    link: string; // explorer page of the destination
    transaction?: Transaction; // the destination's transaction, when it could be read
}

const CHANGE_CLOSED_EVENT = 0xc0c0900a;

// Named options of a script: `--name value`, `--flag`.
export function parseOptions(args: string[]): { get(name: string): string | undefined; has(name: string): boolean } {
    const values = new Map<string, string>();
    const flags = new Set<string>();
    for (let i = 0; i < args.length; i++) {
        const a = args[i];
        if (!a.startsWith('--')) throw new InputError(`unexpected argument ${a}: options are --name value`);
        const name = a.slice(2);
        if (i + 1 < args.length && !args[i + 1].startsWith('--')) values.set(name, args[++i]);
        else flags.add(name);
    }
    return { get: (n) => values.get(n), has: (n) => flags.has(n) || values.has(n) };
}

export async function requiredOption(
    provider: NetworkProvider,
    opts: ReturnType<typeof parseOptions>,
    name: string,
    question: string,
): Promise<string> {
    return opts.get(name) ?? (await provider.ui().input(question));
}

export function parseAddress(text: string, what: string): Address {
    try {
        return Address.parse(text.trim());
    } catch {
        throw new InputError(`${what}: "${text}" is not a TON address`);
    }
}

export function parseTon(text: string, what: string): bigint {
    if (!/^\d+(\.\d{1,9})?$/.test(text.trim())) throw new InputError(`${what}: "${text}" is not an amount of TON (like 1.5)`);
    const [whole, frac = ''] = text.trim().split('.');
    return BigInt(whole) * 1_000_000_000n + BigInt(frac.padEnd(9, '0'));
}

export function parseHex32(text: string, what: string): bigint {
    const hex = text.trim().replace(/^0x/, '');
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new InputError(`${what}: expected 32 bytes as 64 hex characters`);
    return BigInt('0x' + hex);
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
    const found = await destinationTransaction(provider, a.to, before?.lt ?? null);
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
    const tx =
        found.chain.find((t) => t.description.type === 'generic' && t.description.aborted && !isWalletBounceReceipt(t)) ??
        found.destination;
    const where = tx === found.destination ? '' : ` at ${accountOf(tx).toString()}`;
    const d = tx.description;
    const exitCode = d.type === 'generic' && d.computePhase.type === 'vm' ? d.computePhase.exitCode : null;
    const aborted = d.type === 'generic' ? d.aborted : false;
    if (!aborted) return report(ui, { ok: true, exitCode, message: `${a.what}: done`, link, transaction: found.destination });
    const why = (exitCode === null ? 'the transaction was aborted' : `${describeExitCode(exitCode)} (exit code ${exitCode})`) + where;
    return report(ui, { ok: false, exitCode, message: `${a.what} failed: ${why}`, link });
}

function report(ui: ReturnType<NetworkProvider['ui']>, o: Outcome): Outcome {
    ui.write(o.message);
    ui.write(`Explorer: ${o.link}`);
    return o;
}

// The (basechain) account a transaction ran on.
export function accountOf(t: Transaction): Address {
    return new Address(0, Buffer.from(t.address.toString(16).padStart(64, '0'), 'hex'));
}

// What transactions cost in network fees: each one's total fees plus the forward fees of the
// internal messages it sent (they leave the sender and never reach the receiver's balance).
export function feesOf(transactions: Iterable<Transaction>): bigint {
    let fees = 0n;
    for (const tx of transactions) {
        fees += tx.totalFees.coins;
        for (const m of tx.outMessages.values()) if (m.info.type === 'internal') fees += m.info.forwardFee;
    }
    return fees;
}

// A wallet receiving a bounce or an excess with too little value to run: not the operation's failure.
function isWalletBounceReceipt(t: Transaction): boolean {
    return t.inMessage?.info.type === 'internal' && t.inMessage.info.bounced === true;
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

// Values scripts attach, from `npm run bench` (bench/gas-snapshot.json) with headroom; whatever a
// message does not spend comes back. A governance message costs at most 0.008 TON.
export const GOVERNANCE_VALUE = 50_000_000n; // 0.05 TON
export const GOVERNANCE_MIN_VALUE = 20_000_000n; // 0.02 TON
// Registration: the chain's gas budget (GAS_PROVIDER_REGISTER and the Root leg), the Provider's
// storage reserve, and forward fees; the rest of the value becomes stake.
export const REGISTRATION_OVERHEAD = 150_000_000n; // 0.15 TON
export const STAKE_MIN_VALUE = 10_000_000n; // 0.01 TON: below it a top-up stakes (almost) nothing

// One governance message to Root from the connected (owner) wallet: --root ADDRESS [--value TON].
export async function sendToRoot(
    provider: NetworkProvider,
    opts: ReturnType<typeof parseOptions>,
    body: Cell,
    what: string,
): Promise<Outcome> {
    const root = await deployedTarget(provider, opts, 'root', 'Root');
    const value = opts.get('value') ? parseTon(opts.get('value')!, '--value') : GOVERNANCE_VALUE;
    return sendAndReport(provider, { to: root, value, minValue: GOVERNANCE_MIN_VALUE, body, what: `${what} to Root` });
}
// Submitting an attestation pays for Provider -> Root -> Provider with 60,000 gas at Root (a
// 16-signature proof); an excess comes back.
export const ATTESTATION_VALUE = 100_000_000n; // 0.1 TON
export const ATTESTATION_MIN_VALUE = 50_000_000n;
// Opening a session: the three handlers' gas, the Session's deploy (its code travels with the
// message), the terms reply and its 0.01 TON storage reserve; the rest of the value is budget.
export const SESSION_OPEN_OVERHEAD = 100_000_000n; // 0.1 TON
export const CLOSE_VALUE = 50_000_000n; // 0.05 TON: the close's gas; the rest comes back
export const CLAIM_VALUE = 15_000_000n; // 0.015 TON: the claim's gas and payout message; the rest goes to the payee
export const FINALIZE_VALUE = 200_000_000n; // 0.2 TON: fee deposit, collateral release (maybe a slash), refund
export const FINALIZE_MIN_VALUE = 100_000_000n;

// --<option>: the address of a deployed contract (kind names it in the error).
export async function deployedTarget(
    provider: NetworkProvider,
    opts: ReturnType<typeof parseOptions>,
    option: string,
    kind: string,
): Promise<Address> {
    const address = parseAddress(await requiredOption(provider, opts, option, `${kind} address`), `--${option}`);
    if (!(await provider.isContractDeployed(address))) throw new InputError(`no ${kind} is deployed at --${option} ${address.toString()}`);
    return address;
}

// A message that only needs gas (an owner operation, closing a session): GOVERNANCE_VALUE
// attached, the unused part comes back.
export function sendSmall(provider: NetworkProvider, to: Address, body: Cell, what: string): Promise<Outcome> {
    return sendAndReport(provider, { to, value: GOVERNANCE_VALUE, minValue: GOVERNANCE_MIN_VALUE, body, what });
}

// A JSON file named by --<option>, parsed by `parse`; any problem names the file.
async function jsonFileOption<T>(
    provider: NetworkProvider,
    opts: ReturnType<typeof parseOptions>,
    option: string,
    question: string,
    parse: (text: string) => T,
): Promise<T> {
    const file = await requiredOption(provider, opts, option, question);
    try {
        return parse(readFileSync(file, 'utf8'));
    } catch (e) {
        throw new InputError(`${file}: ${(e as Error).message}`);
    }
}

// --params FILE: protocol parameters (see deploy/params.testnet.json), validated.
export function paramsFileOption(provider: NetworkProvider, opts: ReturnType<typeof parseOptions>): Promise<ProtocolParams> {
    return jsonFileOption(provider, opts, 'params', 'Parameters file (JSON)', paramsFromJson);
}

// --listing FILE: a provider's listing (see deploy/listing.example.json), validated.
export function listingFileOption(provider: NetworkProvider, opts: ReturnType<typeof parseOptions>): Promise<Listing> {
    return jsonFileOption(provider, opts, 'listing', 'Listing file (JSON)', (text) => buildListing(listingFromJson(text)));
}

// ---------------------------------------------------------------------------------------------
// Timelocked governance: what a change does, in words, and whether a governance message applied
// at once or was proposed (Root's pending_changes before and after it).
// ---------------------------------------------------------------------------------------------

export const CHANGE_KIND_NAMES: Record<number, string> = {
    [Number(CHANGE_PARAMS)]: 'set parameters',
    [Number(CHANGE_ADD_VERIFIER)]: 'add verifier',
    [Number(CHANGE_REMOVE_VERIFIER)]: 'remove verifier',
    [Number(CHANGE_THRESHOLD)]: 'set threshold',
    [Number(CHANGE_WITHDRAW_MEASUREMENT)]: 'withdraw measurement',
};

// Changes that take trust away: while one waits, new attestations end when it can execute.
export function isRestrictingChange(kind: bigint): boolean {
    return kind === CHANGE_REMOVE_VERIFIER || kind === CHANGE_THRESHOLD || kind === CHANGE_WITHDRAW_MEASUREMENT;
}

export const isoTime = (unixSeconds: bigint | number) => new Date(Number(unixSeconds) * 1000).toISOString();

// "remove verifier 3f…", "set threshold to 3", "set parameters: revocationSlashBps 1000 -> 2000";
// parameters are compared with `current` (Root's parameters now) when given.
export function describeChange(change: GovernanceChange, current?: ProtocolParams): string {
    const kind = Number(change.kind);
    const hex = change.value.toString(16).padStart(64, '0');
    switch (change.kind) {
        case CHANGE_ADD_VERIFIER:
        case CHANGE_REMOVE_VERIFIER:
        case CHANGE_WITHDRAW_MEASUREMENT:
            return `${CHANGE_KIND_NAMES[kind]} ${hex}`;
        case CHANGE_THRESHOLD:
            return `set threshold to ${change.value}`;
        case CHANGE_PARAMS: {
            if (!change.params) return 'set parameters (none given)';
            const next = loadProtocolParams(change.params.beginParse());
            const fields = (Object.keys(next) as (keyof ProtocolParams)[]).filter((k) => k !== '$$type');
            const diff = current ? fields.filter((k) => next[k] !== current[k]) : fields;
            if (diff.length === 0) return 'set parameters (the same as the current ones)';
            return `set parameters: ${diff.map((k) => (current ? `${k} ${current[k]} -> ${next[k]}` : `${k} ${next[k]}`)).join(', ')}`;
        }
        default:
            return `unknown change kind ${change.kind}`;
    }
}

export interface GovernanceOutcome extends Outcome {
    applied?: boolean; // true: in force now; false: proposed, waiting for its executeAt
    proposed?: { id: number; executeAt: number };
}

export async function pendingChangeIds(provider: NetworkProvider, root: Address): Promise<Set<number>> {
    return new Set((await provider.open(Root.fromAddress(root)).getPendingChanges()).keys());
}

// After a successful governance message: tells the operator whether its change applied at once
// or was proposed (the new pending change of `kind` that was not in `before`), with its id and
// when anyone may execute it.
export async function reportGovernanceChange(
    provider: NetworkProvider,
    root: Address,
    before: Set<number>,
    kind: bigint,
    what: string,
): Promise<Pick<GovernanceOutcome, 'applied' | 'proposed'>> {
    const ui = provider.ui();
    const contract = provider.open(Root.fromAddress(root));
    const pending = await contract.getPendingChanges();
    const id = [...pending.keys()].filter((k) => !before.has(k) && pending.get(k)!.change.kind === kind).pop();
    if (id === undefined) {
        const bootstrap = (await contract.getProviderCount()) === 0n;
        ui.write(
            `${what}: applied at once${bootstrap ? ' (no provider has registered yet: until one does, changes need no timelock)' : ''}`,
        );
        return { applied: true };
    }
    const executeAt = Number(pending.get(id)!.executeAt);
    ui.write(`${what}: proposed as change #${id} (${describeChange(pending.get(id)!.change, await contract.getParams())})`);
    ui.write(
        `  it waits out the governance delay: anyone may execute it from ${isoTime(executeAt)} (executeChange --root ${root.toString()} --id ${id}); until it executes, the owner may cancel it (cancelChange)`,
    );
    if (isRestrictingChange(kind)) ui.write(`  while it waits, new attestations are valid until ${isoTime(executeAt)} at the latest`);
    return { applied: false, proposed: { id, executeAt } };
}

// sendToRoot for a timelocked governance message (SetParams, AddVerifier, RemoveVerifier,
// SetThreshold, WithdrawMeasurement), followed by reportGovernanceChange.
export async function sendGovernanceChange(
    provider: NetworkProvider,
    opts: ReturnType<typeof parseOptions>,
    body: Cell,
    what: string,
    kind: bigint,
): Promise<GovernanceOutcome> {
    const root = await deployedTarget(provider, opts, 'root', 'Root');
    const before = await pendingChangeIds(provider, root);
    const resolved = {
        get: (n: string) => (n === 'root' ? root.toString() : opts.get(n)),
        has: (n: string) => n === 'root' || opts.has(n),
    };
    const outcome = await sendToRoot(provider, resolved, body, what);
    if (!outcome.ok) return outcome;
    return { ...outcome, ...(await reportGovernanceChange(provider, root, before, kind, `${what} to Root`)) };
}

// --root ROOT --id N: a change waiting in Root's pending_changes (refused before sending otherwise).
export async function pendingChangeOption(provider: NetworkProvider, opts: ReturnType<typeof parseOptions>) {
    const root = await deployedTarget(provider, opts, 'root', 'Root');
    const text = await requiredOption(provider, opts, 'id', 'Change id');
    if (!/^[0-9]+$/.test(text) || Number(text) > 0xffffffff) throw new InputError(`--id must be a change id (a whole number), got ${text}`);
    const id = Number(text);
    const contract = provider.open(Root.fromAddress(root));
    const changes = await contract.getPendingChanges();
    const pending = changes.get(id);
    if (!pending) {
        const ids = [...changes.keys()].map((i) => `#${i}`);
        throw new InputError(
            `no change #${id} waits at Root ${root.toString()} (${ids.length ? `pending: ${ids.join(', ')}` : 'none is pending'})`,
        );
    }
    const description = describeChange(pending.change, await contract.getParams());
    provider.ui().write(`Change #${id}: ${description}; executable from ${isoTime(pending.executeAt)}`);
    return { root, id, pending, description };
}

// The value a script attaches to a small message: --value TON, or GOVERNANCE_VALUE.
export function valueOption(opts: ReturnType<typeof parseOptions>): bigint {
    return opts.get('value') ? parseTon(opts.get('value')!, '--value') : GOVERNANCE_VALUE;
}

// The ChangeClosedEvent Root emitted in this transaction, if any.
export function changeClosedEvent(tx: Transaction): { id: number; executed: boolean } | null {
    for (const m of tx.outMessages.values()) {
        if (m.info.type !== 'external-out') continue;
        const body = m.body.beginParse();
        if (body.remainingBits < 32 || body.preloadUint(32) !== CHANGE_CLOSED_EVENT) continue;
        const event = loadChangeClosedEvent(body);
        return { id: Number(event.id), executed: event.executed };
    }
    return null;
}
