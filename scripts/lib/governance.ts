// Timelocked governance from a script: what a change does, in words, whether a governance
// message applied at once or was proposed (Root's pending_changes before and after it), and the
// change an executeChange or cancelChange names.
import { NetworkProvider } from '@ton/blueprint';
import { Address, Cell, Transaction } from '@ton/core';
import {
    CHANGE_ADD_VERIFIER,
    CHANGE_PARAMS,
    CHANGE_REMOVE_VERIFIER,
    CHANGE_THRESHOLD,
    CHANGE_WITHDRAW_MEASUREMENT,
    GovernanceChange,
    ProtocolParams,
    Root,
    loadChangeClosedEvent,
    loadProtocolParams,
} from '../../wrappers';
import { InputError, Options, deployedTarget, requiredOption } from './cli';
import { Outcome, sendToRoot } from './send';

const CHANGE_CLOSED_EVENT = 0xc0c0900a;

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
    opts: Options,
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
export async function pendingChangeOption(provider: NetworkProvider, opts: Options) {
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
