// Governance that providers and clients can trust (issue 11): hard caps on every parameter, a
// timelock on every change that takes trust away or changes the rules, restricted_from, time to
// leave before a change applies, and TON's multisig (@ton/ton's MultisigWallet) as Root's owner.
import { Blockchain, BlockchainTransaction, SandboxContract, SendMessageResult, TreasuryContract } from '@ton/sandbox';
import { Address, Cell, ContractProvider, SendMode, StateInit, beginCell, external, internal, toNano } from '@ton/core';
import { MultisigOrder, MultisigOrderBuilder, MultisigWallet } from '@ton/ton';
import { KeyPair } from '@ton/crypto';
import '@ton/test-utils';
import {
    CHANGE_ADD_VERIFIER,
    CHANGE_PARAMS,
    CHANGE_REMOVE_VERIFIER,
    CHANGE_THRESHOLD,
    CHANGE_WITHDRAW_MEASUREMENT,
    CHANGE_EXECUTION_WINDOW,
    ERR_CHANGE_NOT_DUE,
    ERR_CHANGE_OUT_OF_ORDER,
    ERR_CHANGE_UNKNOWN,
    ERR_INVALID_PARAMS,
    ERR_NOT_ATTESTED,
    ERR_NOT_OWNER,
    ERR_PROOF_EXPIRED,
    ERR_TOO_MANY_CHANGES,
    ERR_UNKNOWN_SIGNER,
    GLOBAL_ID_MAINNET,
    MAX_GOVERNANCE_DELAY,
    MAX_PENDING_CHANGES,
    MAX_REVOCATION_SLASH_BPS,
    PARAM_RANGES,
    ProtocolParams,
    Root,
    SESSION_FINALIZED,
    SESSION_OPEN,
    STATUS_EXITING,
    claimWindowEnd,
    loadChangeClosedEvent,
    loadChangeProposedEvent,
    paramsCell,
    paramsProblems,
    rootForDeployment,
    storeAcceptOwnership,
    storeAddVerifier,
    storeCancelChange,
    storeSetParams,
} from '../wrappers';
import {
    AttestedProvider,
    DAY,
    MEASUREMENT,
    Protocol,
    START_TIME,
    TEST_PARAMS,
    attestedProvider,
    deployProtocol,
    eventOpcodes,
    findTx,
    key256,
    makeEnclave,
    proofFields,
    registerProvider,
    seededKey,
    sendOpenSession,
    signedProof,
    signedReceipt,
    submitAttestation,
    storageFee,
} from '../testkit';

const CHANGE_PROPOSED_EVENT = 0xc0c09009;
const CHANGE_CLOSED_EVENT = 0xc0c0900a;
const DELAY = Number(TEST_PARAMS.governanceDelay);

type RootMessage = Parameters<Root['send']>[3];
type ParamName = keyof typeof PARAM_RANGES;

// Bodies of the events (external out messages) with `opcode` the transactions emitted.
function eventBodies(transactions: BlockchainTransaction[], opcode: number): Cell[] {
    const out: Cell[] = [];
    for (const tx of transactions)
        for (const m of tx.outMessages.values())
            if (m.info.type === 'external-out' && m.body.beginParse().preloadUint(32) === opcode) out.push(m.body);
    return out;
}

const proposedEvents = (txs: BlockchainTransaction[]) =>
    eventBodies(txs, CHANGE_PROPOSED_EVENT).map((b) => loadChangeProposedEvent(b.beginParse()));
const closedEvents = (txs: BlockchainTransaction[]) =>
    eventBodies(txs, CHANGE_CLOSED_EVENT).map((b) => loadChangeClosedEvent(b.beginParse()));

// ---------------------------------------------------------------------------------------------
// Hard caps
// ---------------------------------------------------------------------------------------------

const maxBig = (...xs: bigint[]) => xs.reduce((a, b) => (a > b ? a : b));
const minBig = (...xs: bigint[]) => xs.reduce((a, b) => (a < b ? a : b));

// TEST_PARAMS with one field set to `value`, the governance delay adjusted so that only that
// field can make the set invalid.
function withParam(name: ParamName, value: bigint): ProtocolParams {
    const p = { ...TEST_PARAMS, [name]: value };
    if (name === 'governanceDelay') {
        const fit = maxBig(value, 1n);
        p.unbondingPeriod = minBig(p.unbondingPeriod, fit);
        p.attestationMaxAge = minBig(p.attestationMaxAge, fit);
    } else {
        p.governanceDelay = minBig(maxBig(p.governanceDelay, p.unbondingPeriod, p.attestationMaxAge), MAX_GOVERNANCE_DELAY);
    }
    return p;
}

interface ParamCase {
    name: string;
    params: ProtocolParams;
    valid: boolean;
}

const paramCases: ParamCase[] = [];
for (const [field, range] of Object.entries(PARAM_RANGES) as [ParamName, (typeof PARAM_RANGES)[ParamName]][]) {
    if (range.max !== undefined) {
        paramCases.push({ name: `${field} at its cap ${range.max}`, params: withParam(field, range.max), valid: true });
        paramCases.push({ name: `${field} at cap + 1`, params: withParam(field, range.max + 1n), valid: false });
    }
    if (range.min > 0n) {
        paramCases.push({ name: `${field} at its minimum ${range.min}`, params: withParam(field, range.min), valid: true });
        paramCases.push({ name: `${field} at minimum - 1`, params: withParam(field, range.min - 1n), valid: false });
    }
}
paramCases.push(
    {
        name: 'governanceDelay equal to unbondingPeriod',
        params: { ...TEST_PARAMS, unbondingPeriod: 10n * BigInt(DAY), governanceDelay: 10n * BigInt(DAY) },
        valid: true,
    },
    {
        name: 'governanceDelay one second shorter than unbondingPeriod',
        params: { ...TEST_PARAMS, unbondingPeriod: 10n * BigInt(DAY), governanceDelay: 10n * BigInt(DAY) - 1n },
        valid: false,
    },
    {
        name: 'governanceDelay equal to attestationMaxAge',
        params: {
            ...TEST_PARAMS,
            unbondingPeriod: 2n * BigInt(DAY),
            attestationMaxAge: 7n * BigInt(DAY),
            governanceDelay: 7n * BigInt(DAY),
        },
        valid: true,
    },
    {
        name: 'governanceDelay one second shorter than attestationMaxAge',
        params: {
            ...TEST_PARAMS,
            unbondingPeriod: 2n * BigInt(DAY),
            attestationMaxAge: 7n * BigInt(DAY),
            governanceDelay: 7n * BigInt(DAY) - 1n,
        },
        valid: false,
    },
);

describe('Hard caps on the protocol parameters', () => {
    it('covers every bounded field: each slash, fee and bounded duration has a cap case and a cap + 1 case', () => {
        const capped = Object.entries(PARAM_RANGES).filter(([, r]) => r.max !== undefined);
        expect(capped.map(([k]) => k).sort()).toEqual(
            [
                'unbondingPeriod',
                'attestationMaxAge',
                'protocolFeeBps',
                'collateralBps',
                'timeoutSlashBps',
                'revocationSlashBps',
                'equivocationSlashBps',
                'reporterRewardBps',
                'maxSessionDuration',
                'closeGracePeriod',
                'jailDuration',
                'governanceDelay',
            ].sort(),
        );
        for (const [k] of capped) expect(paramCases.filter((c) => c.name.startsWith(`${k} at`)).length).toBeGreaterThanOrEqual(2);
    });

    describe('at deployment', () => {
        let blockchain: Blockchain;
        let governance: SandboxContract<TreasuryContract>;

        beforeAll(async () => {
            blockchain = await Blockchain.create();
            blockchain.now = START_TIME;
            governance = await blockchain.treasury('governance');
        });

        it.each(paramCases)('$name: accepted $valid', async ({ params, valid }) => {
            // the off-chain mirror agrees with Root
            expect(paramsProblems(params).length === 0).toBe(valid);
            const root = blockchain.openContract(
                await rootForDeployment({ owner: governance.address, globalId: GLOBAL_ID_MAINNET, params }),
            );
            const r = await root.send(governance.getSender(), { value: toNano('1') }, { $$type: 'DeployRoot', queryId: 0n });
            if (valid) {
                expect(r.transactions).toHaveTransaction({ to: root.address, deploy: true, success: true });
                expect(await root.getParams()).toEqual(params);
            } else {
                expect(r.transactions).toHaveTransaction({ to: root.address, aborted: true, exitCode: Number(ERR_INVALID_PARAMS) });
                // the deploy value bounced back
                expect(r.transactions).toHaveTransaction({ from: root.address, to: governance.address, inMessageBounced: true });
            }
        });
    });

    describe('at SetParams', () => {
        let p: Protocol;
        let snapshot: ReturnType<Blockchain['snapshot']>;

        beforeAll(async () => {
            p = await deployProtocol();
            snapshot = p.blockchain.snapshot();
        });
        beforeEach(async () => {
            await p.blockchain.loadFrom(snapshot);
        });

        it.each(paramCases)('$name: accepted $valid', async ({ params, valid }) => {
            const r = await p.root.send(p.governance.getSender(), { value: toNano('0.05') }, { $$type: 'SetParams', queryId: 0n, params });
            if (valid) {
                expect(r.transactions).toHaveTransaction({ to: p.root.address, success: true });
                expect(await p.root.getParams()).toEqual(params);
            } else {
                expect(r.transactions).toHaveTransaction({ to: p.root.address, aborted: true, exitCode: Number(ERR_INVALID_PARAMS) });
                expect(await p.root.getParams()).toEqual(TEST_PARAMS);
            }
        });

        it('once timelocked, an out-of-range SetParams is refused when proposed, not recorded to fail later', async () => {
            await registerProvider(p);
            const over = { ...TEST_PARAMS, revocationSlashBps: MAX_REVOCATION_SLASH_BPS + 1n };
            const r = await p.root.send(
                p.governance.getSender(),
                { value: toNano('0.05') },
                { $$type: 'SetParams', queryId: 0n, params: over },
            );
            expect(r.transactions).toHaveTransaction({ to: p.root.address, exitCode: Number(ERR_INVALID_PARAMS) });
            expect((await p.root.getPendingChanges()).size).toBe(0);
            const atCap = { ...TEST_PARAMS, revocationSlashBps: MAX_REVOCATION_SLASH_BPS };
            await p.root.send(p.governance.getSender(), { value: toNano('0.05') }, { $$type: 'SetParams', queryId: 0n, params: atCap });
            expect((await p.root.getPendingChanges()).size).toBe(1);
        });
    });
});

// ---------------------------------------------------------------------------------------------
// The timelock
// ---------------------------------------------------------------------------------------------

interface Kind {
    name: string;
    kind: bigint;
    value: (p: Protocol) => bigint;
    message: (p: Protocol) => RootMessage;
    applied: (p: Protocol) => Promise<boolean>;
    restricting: boolean;
}

const NEW_VERIFIER = seededKey('verifier-new');
const RAISED = { ...TEST_PARAMS, revocationSlashBps: MAX_REVOCATION_SLASH_BPS };

const KINDS: Kind[] = [
    {
        name: 'SetParams',
        kind: CHANGE_PARAMS,
        value: () => 0n,
        message: () => ({ $$type: 'SetParams', queryId: 0n, params: RAISED }),
        applied: async (p) => (await p.root.getParams()).revocationSlashBps === MAX_REVOCATION_SLASH_BPS,
        restricting: false,
    },
    {
        name: 'AddVerifier',
        kind: CHANGE_ADD_VERIFIER,
        value: () => key256(NEW_VERIFIER.publicKey),
        message: () => ({ $$type: 'AddVerifier', queryId: 0n, publicKey: key256(NEW_VERIFIER.publicKey) }),
        applied: (p) => p.root.getIsVerifier(key256(NEW_VERIFIER.publicKey)),
        restricting: false,
    },
    {
        name: 'RemoveVerifier',
        kind: CHANGE_REMOVE_VERIFIER,
        value: (p) => key256(p.verifiers[2].publicKey),
        message: (p) => ({ $$type: 'RemoveVerifier', queryId: 0n, publicKey: key256(p.verifiers[2].publicKey) }),
        applied: async (p) => !(await p.root.getIsVerifier(key256(p.verifiers[2].publicKey))),
        restricting: true,
    },
    {
        name: 'SetThreshold',
        kind: CHANGE_THRESHOLD,
        value: () => 3n,
        message: () => ({ $$type: 'SetThreshold', queryId: 0n, threshold: 3n }),
        applied: async (p) => (await p.root.getVerifierSet()).threshold === 3n,
        restricting: true,
    },
    {
        name: 'WithdrawMeasurement',
        kind: CHANGE_WITHDRAW_MEASUREMENT,
        value: () => key256(MEASUREMENT),
        message: () => ({ $$type: 'WithdrawMeasurement', queryId: 0n, measurement: key256(MEASUREMENT) }),
        applied: async (p) => !(await p.root.getIsMeasurementAllowed(key256(MEASUREMENT))),
        restricting: true,
    },
];

const sendRoot = (p: Protocol, from: SandboxContract<TreasuryContract>, msg: RootMessage) =>
    p.root.send(from.getSender(), { value: toNano('0.05') }, msg);
const execute = (p: Protocol, from: SandboxContract<TreasuryContract>, id: number | bigint) =>
    sendRoot(p, from, { $$type: 'ExecuteChange', queryId: 0n, id: BigInt(id) });
const cancel = (p: Protocol, from: SandboxContract<TreasuryContract>, id: number | bigint) =>
    sendRoot(p, from, { $$type: 'CancelChange', queryId: 0n, id: BigInt(id) });

// Proposes `msg` from governance and returns the new change's id and executeAt (from its event).
async function propose(p: Protocol, msg: RootMessage) {
    const r = await sendRoot(p, p.governance, msg);
    expect(r.transactions).toHaveTransaction({ to: p.root.address, success: true });
    const [event] = proposedEvents(r.transactions);
    expect(event).toBeDefined();
    return { id: Number(event.id), executeAt: Number(event.executeAt), event, result: r };
}

describe('Timelocked governance', () => {
    describe('before the first provider registers', () => {
        it('every kind of change applies at once, with no pending change and no ChangeProposedEvent', async () => {
            const p = await deployProtocol(); // three AddVerifier, a SetThreshold and an AllowMeasurement applied already
            expect((await p.root.getVerifierSet()).count).toBe(3n);
            expect((await p.root.getVerifierSet()).threshold).toBe(2n);
            expect(await p.root.getProviderCount()).toBe(0n);
            for (const k of KINDS) {
                const r = await sendRoot(p, p.governance, k.message(p));
                expect(r.transactions).toHaveTransaction({ to: p.root.address, success: true });
                expect(await k.applied(p)).toBe(true);
                expect(eventOpcodes(r.transactions)).not.toContain(CHANGE_PROPOSED_EVENT);
            }
            expect((await p.root.getPendingChanges()).size).toBe(0);
            expect(await p.root.getRestrictedFrom()).toBe(0n);
        });
    });

    describe('once a provider has registered', () => {
        let p: Protocol;
        let stranger: SandboxContract<TreasuryContract>;

        beforeEach(async () => {
            p = await deployProtocol();
            await registerProvider(p);
            expect(await p.root.getProviderCount()).toBe(1n);
            stranger = await p.blockchain.treasury('stranger');
        });

        it.each(KINDS)('$name is proposed, refused before executeAt, executed by a stranger at executeAt, then gone', async (k) => {
            const t0 = p.blockchain.now!;
            const { id, executeAt, event } = await propose(p, k.message(p));
            // nothing changed yet; the change is announced and visible
            expect(await k.applied(p)).toBe(false);
            expect(executeAt).toBe(t0 + DELAY);
            expect(event.change.kind).toBe(k.kind);
            expect(event.change.value).toBe(k.value(p));
            if (k.kind === CHANGE_PARAMS) expect(event.change.params!.equals(paramsCell(RAISED))).toBe(true);
            const pending = (await p.root.getPendingChanges()).get(id)!;
            expect(pending.executeAt).toBe(BigInt(executeAt));
            expect([pending.change.kind, pending.change.value]).toEqual([event.change.kind, event.change.value]);
            expect(pending.change.params?.hash()).toEqual(event.change.params?.hash());
            expect(await p.root.getRestrictedFrom()).toBe(k.restricting ? BigInt(executeAt) : 0n);

            // one second early: refused, still pending
            p.blockchain.now = executeAt - 1;
            let r = await execute(p, stranger, id);
            expect(r.transactions).toHaveTransaction({ to: p.root.address, aborted: true, exitCode: Number(ERR_CHANGE_NOT_DUE) });
            expect(await k.applied(p)).toBe(false);
            expect((await p.root.getPendingChanges()).has(id)).toBe(true);

            // at executeAt anyone executes it, paying for it: Root's balance does not go down
            // by more than its own storage fee
            p.blockchain.now = executeAt;
            const rootBefore = (await p.blockchain.getContract(p.root.address)).balance;
            r = await execute(p, stranger, id);
            const tx = findTx(r.transactions, stranger.address, p.root.address);
            expect(tx.description.type === 'generic' && !tx.description.aborted).toBe(true);
            expect((await p.blockchain.getContract(p.root.address)).balance + storageFee(tx)).toBeGreaterThanOrEqual(rootBefore);
            expect(await k.applied(p)).toBe(true);
            expect(closedEvents(r.transactions)).toEqual([{ $$type: 'ChangeClosedEvent', id: BigInt(id), executed: true }]);
            expect((await p.root.getPendingChanges()).size).toBe(0);
            expect(await p.root.getRestrictedFrom()).toBe(0n);

            // and it is gone: it cannot execute twice
            r = await execute(p, stranger, id);
            expect(r.transactions).toHaveTransaction({ to: p.root.address, exitCode: Number(ERR_CHANGE_UNKNOWN) });
        });

        it('AllowMeasurement still applies at once (it only adds options)', async () => {
            const m = key256(Buffer.alloc(32, 0x77));
            const r = await sendRoot(p, p.governance, { $$type: 'AllowMeasurement', queryId: 0n, measurement: m });
            expect(r.transactions).toHaveTransaction({ to: p.root.address, success: true });
            expect(await p.root.getIsMeasurementAllowed(m)).toBe(true);
            expect((await p.root.getPendingChanges()).size).toBe(0);
        });

        it('only the owner proposes', async () => {
            for (const k of KINDS) {
                const r = await sendRoot(p, stranger, k.message(p));
                expect(r.transactions).toHaveTransaction({ to: p.root.address, exitCode: Number(ERR_NOT_OWNER) });
            }
            expect((await p.root.getPendingChanges()).size).toBe(0);
        });

        it('the owner cancels a pending change (a stranger cannot); it then never applies', async () => {
            const remove = KINDS.find((k) => k.kind === CHANGE_REMOVE_VERIFIER)!;
            const { id, executeAt } = await propose(p, remove.message(p));
            let r = await cancel(p, stranger, id);
            expect(r.transactions).toHaveTransaction({ to: p.root.address, aborted: true, exitCode: Number(ERR_NOT_OWNER) });
            expect((await p.root.getPendingChanges()).has(id)).toBe(true);

            r = await cancel(p, p.governance, id);
            expect(r.transactions).toHaveTransaction({ to: p.root.address, success: true });
            expect(closedEvents(r.transactions)).toEqual([{ $$type: 'ChangeClosedEvent', id: BigInt(id), executed: false }]);
            expect((await p.root.getPendingChanges()).size).toBe(0);
            expect(await p.root.getRestrictedFrom()).toBe(0n);

            p.blockchain.now = executeAt;
            r = await execute(p, stranger, id);
            expect(r.transactions).toHaveTransaction({ to: p.root.address, aborted: true, exitCode: Number(ERR_CHANGE_UNKNOWN) });
            expect(await remove.applied(p)).toBe(false);
        });

        it('an unknown id is refused by ExecuteChange and CancelChange', async () => {
            await propose(p, KINDS[0].message(p));
            for (const r of [await execute(p, stranger, 99), await cancel(p, p.governance, 99)])
                expect(r.transactions).toHaveTransaction({ to: p.root.address, aborted: true, exitCode: Number(ERR_CHANGE_UNKNOWN) });
            expect((await p.root.getPendingChanges()).size).toBe(1);
        });

        it(`at most MAX_PENDING_CHANGES (${MAX_PENDING_CHANGES}) changes wait at once`, async () => {
            const key = (i: number) => key256(seededKey(`candidate-${i}`).publicKey);
            const ids: number[] = [];
            for (let i = 0; i < Number(MAX_PENDING_CHANGES); i++)
                ids.push((await propose(p, { $$type: 'AddVerifier', queryId: 0n, publicKey: key(i) })).id);
            expect(new Set(ids).size).toBe(Number(MAX_PENDING_CHANGES));
            const extra: RootMessage = { $$type: 'AddVerifier', queryId: 0n, publicKey: key(99) };
            let r = await sendRoot(p, p.governance, extra);
            expect(r.transactions).toHaveTransaction({ to: p.root.address, aborted: true, exitCode: Number(ERR_TOO_MANY_CHANGES) });
            expect((await p.root.getPendingChanges()).size).toBe(Number(MAX_PENDING_CHANGES));
            // a cancellation makes room
            await cancel(p, p.governance, ids[0]);
            r = await sendRoot(p, p.governance, extra);
            expect(r.transactions).toHaveTransaction({ to: p.root.address, success: true });
            expect((await p.root.getPendingChanges()).size).toBe(Number(MAX_PENDING_CHANGES));
        });

        // Executing it drops it instead: a restricting change left due and pending would stop every
        // new attestation until governance cancelled it.
        it('a change that no longer applies at execution is dropped by whoever executes it, and attestations go on', async () => {
            const remove = KINDS.find((k) => k.kind === CHANGE_REMOVE_VERIFIER)!;
            const first = await propose(p, remove.message(p));
            const second = await propose(p, remove.message(p)); // the same key: valid when proposed
            p.blockchain.now = second.executeAt;
            await execute(p, stranger, first.id);
            expect(await remove.applied(p)).toBe(true);
            const describeSet = async () => {
                const set = await p.root.getVerifierSet();
                return { keys: [...set.keys.keys()], count: set.count, threshold: set.threshold, epoch: set.epoch };
            };
            const set = await describeSet();

            const r = await execute(p, stranger, second.id);
            expect(r.transactions).toHaveTransaction({ to: p.root.address, success: true });
            expect(await describeSet()).toEqual(set);
            expect((await p.root.getPendingChanges()).size).toBe(0);
            expect(await p.root.getRestrictedFrom()).toBe(0n);
            // ChangeClosedEvent{id, executed: false}
            const closed = r.transactions
                .flatMap((t) => [...t.outMessages.values()])
                .find((m) => m.info.type === 'external-out' && m.body.beginParse().preloadUint(32) === 0xc0c0900a)!;
            const body = closed.body.beginParse().skip(32);
            expect([body.loadUintBig(32), body.loadBit()]).toEqual([BigInt(second.id), false]);
        });

        it('restricted_from is the earliest waiting restricting change; cancelling or executing recomputes it', async () => {
            // SetParams and AddVerifier only add or change rules with notice: they do not restrict
            const params = await propose(p, KINDS[0].message(p));
            const add = await propose(p, KINDS[1].message(p));
            expect(await p.root.getRestrictedFrom()).toBe(0n);
            const remove = await propose(p, KINDS[2].message(p));
            p.blockchain.now! += 100;
            const threshold = await propose(p, KINDS[3].message(p));
            expect(await p.root.getRestrictedFrom()).toBe(BigInt(remove.executeAt));
            await cancel(p, p.governance, remove.id);
            expect(await p.root.getRestrictedFrom()).toBe(BigInt(threshold.executeAt));
            p.blockchain.now = threshold.executeAt;
            // changes execute in the order proposed
            const early = await execute(p, stranger, threshold.id);
            expect(early.transactions).toHaveTransaction({ to: p.root.address, exitCode: Number(ERR_CHANGE_OUT_OF_ORDER) });
            await execute(p, stranger, params.id);
            await execute(p, stranger, add.id);
            await execute(p, stranger, threshold.id);
            expect(await p.root.getRestrictedFrom()).toBe(0n);
            expect((await p.root.getPendingChanges()).size).toBe(0);
        });

        it('a due change not executed within CHANGE_EXECUTION_WINDOW is dropped, whoever executes it', async () => {
            const change = await propose(p, KINDS[3].message(p));
            p.blockchain.now = change.executeAt + Number(CHANGE_EXECUTION_WINDOW) + 1;
            const threshold = (await p.root.getVerifierSet()).threshold;
            const r = await execute(p, stranger, change.id);
            expect(r.transactions).toHaveTransaction({ to: p.root.address, success: true });
            expect((await p.root.getVerifierSet()).threshold).toBe(threshold);
            expect((await p.root.getPendingChanges()).size).toBe(0);
            expect(await p.root.getRestrictedFrom()).toBe(0n);
        });
    });
});

// ---------------------------------------------------------------------------------------------
// restricted_from at work, and leaving before a change applies
// ---------------------------------------------------------------------------------------------

describe('While a restricting change waits', () => {
    let p: Protocol;
    let prov: AttestedProvider;
    let stranger: SandboxContract<TreasuryContract>;

    beforeEach(async () => {
        p = await deployProtocol();
        prov = await attestedProvider(p); // attested for 12 hours by verifiers a and b
        stranger = await p.blockchain.treasury('stranger');
    });

    it("a fresh attestation ends at the RemoveVerifier's executeAt; after it, the removed verifier's attestation opens no session", async () => {
        const removed = p.verifiers[0];
        const { id, executeAt } = await propose(p, { $$type: 'RemoveVerifier', queryId: 0n, publicKey: key256(removed.publicKey) });

        // an hour before executeAt, a proof co-signed by the verifier being removed, valid for 12 h
        p.blockchain.now = executeAt - 3600;
        const fields = proofFields(p, prov.provider.address, prov.enclave, { nonce: 2n });
        expect(fields.validUntil).toBe(executeAt + 11 * 3600);
        let r = await submitAttestation(p, prov, signedProof(fields, [removed, p.verifiers[1]]));
        expect(r.transactions).toHaveTransaction({ from: p.root.address, to: prov.provider.address, success: true });
        const attestation = (await prov.provider.getAttestation())!;
        expect(attestation.issuedAt).toBe(BigInt(fields.issuedAt));
        expect(attestation.validUntil).toBe(BigInt(executeAt)); // capped, not executeAt + 11 h

        // until executeAt it still opens sessions
        const before = await sendOpenSession(p, prov.owner.address, { client: 'early-client' });
        expect(await before.session.getStatus()).toBe(SESSION_OPEN);

        // at executeAt the change executes; the attestation has ended
        p.blockchain.now = executeAt;
        await execute(p, stranger, id);
        expect(await p.root.getIsVerifier(key256(removed.publicKey))).toBe(false);
        const after = await sendOpenSession(p, prov.owner.address, { client: 'late-client' });
        expect(after.result.transactions).toHaveTransaction({ to: prov.provider.address, exitCode: Number(ERR_NOT_ATTESTED) });
        expect(after.result.transactions).toHaveTransaction({
            from: prov.provider.address,
            to: after.session.address,
            inMessageBounced: true,
        });
        // the budget went back to the client
        expect(after.result.transactions).toHaveTransaction({
            from: after.session.address,
            to: after.client.address,
            value: (v) => v! > toNano('9.9'),
        });

        // the removed verifier's signature no longer counts; the two left attest again
        const fresh = proofFields(p, prov.provider.address, prov.enclave, { nonce: 3n });
        r = await submitAttestation(p, prov, signedProof(fresh, [removed, p.verifiers[1]]));
        expect(r.transactions).toHaveTransaction({ to: p.root.address, exitCode: Number(ERR_UNKNOWN_SIGNER) });
        r = await submitAttestation(p, prov, signedProof(fresh, [p.verifiers[1], p.verifiers[2]]));
        expect(r.transactions).toHaveTransaction({ from: p.root.address, to: prov.provider.address, success: true });
        expect((await prov.provider.getAttestation())!.validUntil).toBe(BigInt(fresh.validUntil)); // no longer capped
        const served = await sendOpenSession(p, prov.owner.address, { client: 'next-client' });
        expect(await served.session.getStatus()).toBe(SESSION_OPEN);
    });

    // The delay is at least the longest validity an attestation can ever have (7 days), whatever
    // attestationMaxAge is now: an attestation issued under a longer max age, just before that
    // max age was lowered, cannot outlive a removal proposed after.
    it('an attestation issued before attestationMaxAge was lowered cannot outlive a later removal of its signer', async () => {
        const lowered = { ...TEST_PARAMS, unbondingPeriod: BigInt(DAY), attestationMaxAge: BigInt(DAY), governanceDelay: 7n * BigInt(DAY) };
        const q = await deployProtocol({ ...TEST_PARAMS, attestationMaxAge: 7n * BigInt(DAY), governanceDelay: 8n * BigInt(DAY) });
        const provider = await attestedProvider(q);
        const lowering = await propose(q, { $$type: 'SetParams', queryId: 0n, params: lowered });
        // a 7-day attestation, co-signed by the verifier to be removed, a second before the max age drops
        q.blockchain.now = lowering.executeAt - 1;
        const removed = q.verifiers[0];
        const fields = proofFields(q, provider.provider.address, provider.enclave, {
            nonce: 2n,
            validUntil: lowering.executeAt - 1 + 7 * DAY,
        });
        await submitAttestation(q, provider, signedProof(fields, [removed, q.verifiers[1]]));
        expect((await provider.provider.getAttestation())!.validUntil).toBe(BigInt(fields.validUntil));
        q.blockchain.now = lowering.executeAt;
        await execute(q, stranger, lowering.id);
        const removal = await propose(q, { $$type: 'RemoveVerifier', queryId: 0n, publicKey: key256(removed.publicKey) });
        expect(removal.executeAt).toBeGreaterThan(fields.validUntil);
        q.blockchain.now = removal.executeAt;
        await execute(q, stranger, removal.id);
        const s = await sendOpenSession(q, provider.owner.address);
        expect(s.result.transactions).toHaveTransaction({ to: provider.provider.address, exitCode: Number(ERR_NOT_ATTESTED) });
    });

    it('an attestation that ends before executeAt is not shortened; a due but unexecuted change admits none', async () => {
        const { executeAt } = await propose(p, { $$type: 'SetThreshold', queryId: 0n, threshold: 3n });
        const fields = proofFields(p, prov.provider.address, makeEnclave('other'), { nonce: 2n });
        await submitAttestation(p, prov, signedProof(fields, p.verifiers.slice(0, 2)));
        expect((await prov.provider.getAttestation())!.validUntil).toBe(BigInt(fields.validUntil));
        expect(fields.validUntil).toBeLessThan(executeAt);

        p.blockchain.now = executeAt;
        const late = proofFields(p, prov.provider.address, makeEnclave('other'), { nonce: 3n });
        const r = await submitAttestation(p, prov, signedProof(late, p.verifiers));
        expect(r.transactions).toHaveTransaction({ to: p.root.address, exitCode: Number(ERR_PROOF_EXPIRED) });
    });
});

describe('Leaving before a change applies', () => {
    const exit = (prov: AttestedProvider) =>
        prov.provider.send(prov.owner.getSender(), { value: toNano('0.05') }, { $$type: 'ExitProvider', queryId: 0n });
    const unstake = (prov: AttestedProvider, amount: bigint) =>
        prov.provider.send(prov.owner.getSender(), { value: toNano('0.05') }, { $$type: 'RequestUnstake', queryId: 0n, amount });
    const withdraw = (prov: AttestedProvider) =>
        prov.provider.send(prov.owner.getSender(), { value: toNano('0.05') }, { $$type: 'WithdrawStake', queryId: 0n });
    const raise = (params: ProtocolParams): RootMessage => ({
        $$type: 'SetParams',
        queryId: 0n,
        params: { ...params, revocationSlashBps: MAX_REVOCATION_SLASH_BPS },
    });

    it('governanceDelay == unbondingPeriod (the tightest the caps allow): a provider that exits at the proposal has its stake out at executeAt, before the change', async () => {
        const params = { ...TEST_PARAMS, unbondingPeriod: TEST_PARAMS.governanceDelay };
        const p = await deployProtocol(params);
        const prov = await attestedProvider(p);
        const stranger = await p.blockchain.treasury('stranger');
        const { id, executeAt } = await propose(p, raise(params));

        await exit(prov);
        expect(await prov.provider.getStatus()).toBe(STATUS_EXITING);
        const stake = await prov.provider.getStake();
        expect(await prov.provider.getFreeStake()).toBe(stake); // an exiting provider may take everything unlocked
        await unstake(prov, stake);
        const [request] = [...(await prov.provider.getUnbonding()).requests.values()];
        expect(Number(request.releaseAt)).toBe(executeAt);

        // at executeAt, before anyone executes the change, the stake comes out
        p.blockchain.now = executeAt;
        expect((await p.root.getPendingChanges()).has(id)).toBe(true);
        const ownerBefore = (await p.blockchain.getContract(prov.owner.address)).balance;
        const r = await withdraw(prov);
        expect(r.transactions).toHaveTransaction({ from: prov.provider.address, to: prov.owner.address, success: true });
        expect((await p.blockchain.getContract(prov.owner.address)).balance - ownerBefore).toBeGreaterThan(stake - toNano('0.05'));
        expect(await prov.provider.getStake()).toBe(0n);
        expect((await prov.provider.getUnbonding()).total).toBe(0n);

        await execute(p, stranger, id);
        expect((await p.root.getParams()).revocationSlashBps).toBe(MAX_REVOCATION_SLASH_BPS);
    });

    it('with a session open: the client closes and is refunded, the provider withdraws its free stake and then the released collateral, all before executeAt', async () => {
        const p = await deployProtocol(); // governanceDelay 8 days, unbondingPeriod 7 days
        const prov = await attestedProvider(p);
        const { client, session } = await sendOpenSession(p, prov.owner.address);
        expect(await session.getStatus()).toBe(SESSION_OPEN);
        const collateral = await prov.provider.getLocked();
        expect(collateral).toBeGreaterThan(0n);
        // the worker acknowledges the session (a zero receipt), as an honest provider does
        await session.send(
            prov.owner.getSender(),
            { value: toNano('0.05') },
            { $$type: 'ClaimUsage', queryId: 0n, ...signedReceipt(p, session.address, prov.enclave, 1, 0n, 0n) },
        );

        const { id, executeAt } = await propose(p, raise(TEST_PARAMS));

        // the provider exits at once and asks for everything that is not locked
        await exit(prov);
        const free = await prov.provider.getFreeStake();
        expect(free).toBe((await prov.provider.getStake()) - collateral);
        await unstake(prov, free);

        // the client stops at once and settles after the grace period: its budget comes back
        await session.send(client.getSender(), { value: toNano('0.05') }, { $$type: 'CloseSession', queryId: 0n });
        p.blockchain.now =
            claimWindowEnd(
                Number(await session.getStatus()),
                Number(await session.getDeadline()),
                Number(await session.getClosedAt()),
                Number(TEST_PARAMS.closeGracePeriod),
            ) + 1;
        const clientBefore = (await p.blockchain.getContract(client.address)).balance;
        await session.send(client.getSender(), { value: toNano('0.2') }, { $$type: 'FinalizeSession', queryId: 0n });
        expect(await session.getStatus()).toBe(SESSION_FINALIZED);
        expect((await p.blockchain.getContract(client.address)).balance - clientBefore).toBeGreaterThan(toNano('9.9'));
        expect(p.blockchain.now).toBeLessThan(executeAt);

        // the collateral is free again: the provider asks for it too
        expect(await prov.provider.getLocked()).toBe(0n);
        await unstake(prov, await prov.provider.getFreeStake());
        expect(await prov.provider.getStake()).toBe(0n);
        const requests = [...(await prov.provider.getUnbonding()).requests.values()];
        expect(requests.length).toBe(2);
        const last = Math.max(...requests.map((q) => Number(q.releaseAt)));
        expect(last).toBeLessThan(executeAt);

        p.blockchain.now = last;
        const total = (await prov.provider.getUnbonding()).total;
        const ownerBefore = (await p.blockchain.getContract(prov.owner.address)).balance;
        await withdraw(prov);
        expect((await p.blockchain.getContract(prov.owner.address)).balance - ownerBefore).toBeGreaterThan(total - toNano('0.05'));
        expect((await prov.provider.getUnbonding()).total).toBe(0n);
        expect((await p.root.getPendingChanges()).has(id)).toBe(true); // the change has not applied yet
    });
});

// ---------------------------------------------------------------------------------------------
// TON's multisig (@ton/ton MultisigWallet: the multisig-code.fc of the TON repository) as owner
// ---------------------------------------------------------------------------------------------

// A ContractProvider on the sandbox whose external() runs the message at once and keeps the
// result. The sandbox's own provider only queues an external message: its queue runs when a
// method named send* is called on a contract opened with openContract, and openContract cannot
// wrap MultisigWallet, whose methods take the provider as their last (optional) argument, not the
// first. An external the contract does not accept makes sendMessage throw.
function runningProvider(blockchain: Blockchain, address: Address, init?: StateInit) {
    const base = blockchain.provider(address, init);
    const results: SendMessageResult[] = [];
    const provider: ContractProvider = {
        getState: () => base.getState(),
        get: (name, args) => base.get(name, args),
        internal: (via, args) => base.internal(via, args),
        open: (contract) => base.open(contract),
        getTransactions: (a, lt, hash, limit) => base.getTransactions(a, lt, hash, limit),
        external: async (body: Cell) => {
            const active = (await base.getState()).state.type === 'active';
            results.push(await blockchain.sendMessage(external({ to: address, init: active ? undefined : init, body })));
        },
    };
    return { provider, last: () => results[results.length - 1] };
}

describe("TON's multisig as Root's owner", () => {
    const WALLET_ID = 42;
    let p: Protocol;
    let owners: KeyPair[];
    let multisig: MultisigWallet;
    let runner: ReturnType<typeof runningProvider>;
    let stranger: SandboxContract<TreasuryContract>;
    let orders = 0;

    // An order of one message to Root: `body` with 0.05 TON, bounceable, mode 3 (fees paid apart,
    // and a failed send does not leave the order replayable).
    // MultisigOrderBuilder derives the query id (and so the order's expiry) from the machine's
    // clock plus an offset; the multisig refuses ids below now << 32 (exit 33) and, for an order
    // that is not complete yet, ids less than an hour ahead (exit 41). The sandbox's clock is not
    // the machine's, so the offset is taken relative to the sandbox's time.
    function rootOrder(body: Cell): MultisigOrder {
        const offset = p.blockchain.now! - Math.floor(Date.now() / 1000) + 2 * 3600;
        const builder = new MultisigOrderBuilder(WALLET_ID, offset);
        builder.addMessage(
            internal({ to: p.root.address, value: toNano('0.05'), bounce: true, body }),
            SendMode.PAY_GAS_SEPARATELY | SendMode.IGNORE_ERRORS,
        );
        // The builder's query id is (expiry << 32) with zero low bits: two orders built in the same
        // second would share it, and the multisig would take the second for the first (exit 35
        // once the first executed, 36 while it waits). The low 32 bits tell them apart.
        builder.queryId |= BigInt(++orders);
        return builder.build();
    }

    async function queryState(order: MultisigOrder): Promise<{ state: bigint; mask: bigint }> {
        const queryId = order.payload.beginParse().skip(32).loadUintBig(64);
        const r = await runner.provider.get('get_query_state', [{ type: 'int', value: queryId }]);
        return { state: r.stack.readBigNumber(), mask: r.stack.readBigNumber() };
    }

    beforeEach(async () => {
        p = await deployProtocol();
        await registerProvider(p); // from now on every change waits out the delay
        stranger = await p.blockchain.treasury('stranger');
        owners = ['alice', 'bob', 'carol'].map((n) => seededKey(`multisig-${n}`));
        const probe = new MultisigWallet(
            owners.map((k) => k.publicKey),
            0,
            WALLET_ID,
            2,
        );
        runner = runningProvider(p.blockchain, probe.address, probe.init);
        multisig = new MultisigWallet(
            owners.map((k) => k.publicKey),
            0,
            WALLET_ID,
            2,
            { provider: runner.provider },
        );

        // deployExternal: fund the address, then the empty external message deploys it
        await stranger.send({ to: multisig.address, value: toNano('5'), bounce: false });
        await multisig.deployExternal();
        expect((await p.blockchain.getContract(multisig.address)).accountState?.type).toBe('active');

        // ownership moves to the multisig in two steps; the second comes from the multisig: a
        // 2-of-3 order signed offline by alice and sent by bob with his own signature
        await sendRoot(p, p.governance, { $$type: 'ProposeOwner', queryId: 0n, newOwner: multisig.address });
        const accept = rootOrder(
            beginCell()
                .store(storeAcceptOwnership({ $$type: 'AcceptOwnership', queryId: 0n }))
                .endCell(),
        );
        accept.sign(0, owners[0].secretKey);
        await multisig.sendOrder(accept, owners[1].secretKey);
        expect(runner.last().transactions).toHaveTransaction({ from: multisig.address, to: p.root.address, success: true });
        expect((await p.root.getOwner()).equals(multisig.address)).toBe(true);
        expect(await p.root.getPendingOwner()).toBeNull();
    });

    it('the former owner key can no longer govern', async () => {
        const r = await sendRoot(p, p.governance, { $$type: 'SetThreshold', queryId: 0n, threshold: 3n });
        expect(r.transactions).toHaveTransaction({ to: p.root.address, exitCode: Number(ERR_NOT_OWNER) });
    });

    it('a SetParams proposal needs two of the three owners; then anyone executes it after the delay', async () => {
        const raised = { ...TEST_PARAMS, revocationSlashBps: MAX_REVOCATION_SLASH_BPS };
        const order = rootOrder(
            beginCell()
                .store(storeSetParams({ $$type: 'SetParams', queryId: 0n, params: raised }))
                .endCell(),
        );
        const msBefore = (await p.blockchain.getContract(multisig.address)).balance;

        // alice alone: the multisig records her signature and sends nothing
        await multisig.sendOrder(order, owners[0].secretKey);
        expect(runner.last().transactions).not.toHaveTransaction({ from: multisig.address });
        expect(await queryState(order)).toEqual({ state: 0n, mask: 1n }); // pending, signed by owner 0
        expect((await p.root.getPendingChanges()).size).toBe(0);
        // her signature does not count twice
        await expect(multisig.sendOrder(order, owners[0].secretKey)).rejects.toThrow(/Exit code: 34/);
        // an outsider's key is not an owner
        expect(() => multisig.getOwnerIdByPubkey(seededKey('outsider').publicKey)).toThrow('public key is not an owner');
        expect((await p.root.getPendingChanges()).size).toBe(0);

        // carol adds hers: the multisig sends SetParams and Root proposes it
        const t0 = p.blockchain.now!;
        await multisig.sendOrder(order, owners[2].secretKey);
        const txs = runner.last().transactions;
        expect(txs).toHaveTransaction({ from: multisig.address, to: p.root.address, success: true });
        expect(await queryState(order)).toEqual({ state: -1n, mask: 0n }); // executed
        const [event] = proposedEvents(txs);
        expect(Number(event.executeAt)).toBe(t0 + DELAY);
        expect((await p.root.getParams()).revocationSlashBps).toBe(TEST_PARAMS.revocationSlashBps);
        // the multisig paid the message; Root sent back what it did not spend
        expect(txs).toHaveTransaction({ from: p.root.address, to: multisig.address });
        expect(msBefore - (await p.blockchain.getContract(multisig.address)).balance).toBeLessThan(toNano('0.05'));

        // a completed order cannot run again
        await expect(multisig.sendOrder(order, owners[1].secretKey)).rejects.toThrow(/Exit code: 35/);

        p.blockchain.now = Number(event.executeAt);
        await execute(p, stranger, event.id);
        expect((await p.root.getParams()).revocationSlashBps).toBe(MAX_REVOCATION_SLASH_BPS);
    });

    it('the owners cancel a proposal through the multisig; one signature cannot', async () => {
        const add = rootOrder(
            beginCell()
                .store(storeAddVerifier({ $$type: 'AddVerifier', queryId: 0n, publicKey: key256(NEW_VERIFIER.publicKey) }))
                .endCell(),
        );
        add.sign(1, owners[1].secretKey);
        await multisig.sendOrder(add, owners[2].secretKey);
        const [event] = proposedEvents(runner.last().transactions);
        const id = Number(event.id);
        expect((await p.root.getPendingChanges()).get(id)!.change.kind).toBe(CHANGE_ADD_VERIFIER);

        const cancelOrder = rootOrder(
            beginCell()
                .store(storeCancelChange({ $$type: 'CancelChange', queryId: 0n, id: BigInt(id) }))
                .endCell(),
        );
        await multisig.sendOrder(cancelOrder, owners[0].secretKey);
        expect((await p.root.getPendingChanges()).has(id)).toBe(true);
        await multisig.sendOrder(cancelOrder, owners[1].secretKey);
        expect(runner.last().transactions).toHaveTransaction({ from: multisig.address, to: p.root.address, success: true });
        expect((await p.root.getPendingChanges()).size).toBe(0);
        p.blockchain.now = Number(event.executeAt);
        await execute(p, stranger, id);
        expect(await p.root.getIsVerifier(key256(NEW_VERIFIER.publicKey))).toBe(false);
    });
});
