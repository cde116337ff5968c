// Every handler of every contract is paid by its caller (issue 11, item 7). Each entry message,
// from whoever may send it and from strangers, is sent at its smallest accepted value, just below
// it, and at a range of small values; afterwards no contract may have less of its own money:
// Root's balance less its treasury, and a Provider's balance less its stake and unbonding
// requests, never go down (storage fees aside), and every Session still holds what it owes plus
// its storage reserve.
import { BlockchainSnapshot, SandboxContract, TreasuryContract } from '@ton/sandbox';
import { Address, Cell, beginCell, toNano } from '@ton/core';
import '@ton/test-utils';
import {
    SESSION_CLOSING,
    SESSION_NEW,
    SESSION_OPEN,
    SESSION_OPENING,
    SESSION_STORAGE_RESERVE,
    Session,
    buildListing,
    modelKey,
    paramsCell,
    sessionFor,
    storeAcceptOwnership,
    storeAddVerifier,
    storeAllowMeasurement,
    storeAttestationVerified,
    storeCancelChange,
    storeClaimUsage,
    storeCloseSession,
    storeDeployRoot,
    storeDepositTreasury,
    storeExecuteChange,
    storeExitProvider,
    storeFinalizeSession,
    storeLockCollateral,
    storeOpenSession,
    storePauseProvider,
    storeProposeOwner,
    storeRegister,
    storeRegisterProvider,
    storeRegistrationConfirmed,
    storeReleaseCollateral,
    storeRemoveVerifier,
    storeReportEquivocation,
    storeRequestUnstake,
    storeResumeProvider,
    storeRevocationVerified,
    storeSessionAccepted,
    storeSetParams,
    storeSetThreshold,
    storeSlashForEquivocation,
    storeStake,
    storeSubmitAttestation,
    storeSubmitRevocation,
    storeTopUpSession,
    storeUnjail,
    storeUnjailProvider,
    storeUpdateListing,
    storeVerifyAttestation,
    storeVerifyRevocation,
    storeWithdrawMeasurement,
    storeWithdrawStake,
    storeWithdrawTreasury,
    clientKeyHashOf,
} from '../wrappers';
import {
    AttestedProvider,
    CLIENT_SESSION_KEY,
    DAY,
    MEASUREMENT,
    MODEL,
    Protocol,
    TEST_LISTING,
    TEST_PARAMS,
    attestedProvider,
    deployProtocol,
    key256,
    makeEnclave,
    proofFields,
    sendOpenSession,
    signedProof,
    signedReceipt,
    signedRevocation,
    rentPaid,
} from '../testkit';

interface World {
    p: Protocol;
    prov: AttestedProvider;
    stranger: SandboxContract<TreasuryContract>;
    client: SandboxContract<TreasuryContract>;
    open: SandboxContract<Session>; // open, one receipt claimed
    closed: SandboxContract<Session>; // closed, its claim window over
    changeId: bigint; // a pending governance change
    revocation: { proof: Cell; signatures: Cell };
    snapshot: BlockchainSnapshot;
    ownBefore: Map<string, bigint>; // Root's and the Provider's own money in the saved world
}

// One world every message is tried against (reloaded before each send).
async function buildWorld(): Promise<World> {
    const p = await deployProtocol();
    const prov = await attestedProvider(p);
    const stranger = await p.blockchain.treasury('stranger');
    const closedOpening = await sendOpenSession(p, prov.owner.address, { client: 'client-closed' });
    const closed = closedOpening.session;
    const { client, session: open } = await sendOpenSession(p, prov.owner.address, { client: 'client', nonce: 2n });
    for (const s of [open, closed]) {
        await s.send(
            prov.owner.getSender(),
            { value: toNano('0.05') },
            {
                $$type: 'ClaimUsage',
                queryId: 0n,
                ...signedReceipt(p, s.address, prov.enclave, 1, 1_000_000n, 1_000_000n),
            },
        );
    }
    await closed.send(closedOpening.client.getSender(), { value: toNano('0.05') }, { $$type: 'CloseSession', queryId: 0n });
    // the treasury holds something, and a governance change waits
    await p.root.send(
        stranger.getSender(),
        { value: toNano('2') },
        { $$type: 'DepositTreasury', queryId: 0n, amount: toNano('1'), reason: 0n },
    );
    await p.root.send(p.governance.getSender(), { value: toNano('0.05') }, { $$type: 'SetParams', queryId: 0n, params: TEST_PARAMS });
    const changeId = [...(await p.root.getPendingChanges()).keys()][0];
    // an unstake request, due later
    await prov.provider.send(
        prov.owner.getSender(),
        { value: toNano('0.05') },
        { $$type: 'RequestUnstake', queryId: 0n, amount: toNano('10') },
    );
    p.blockchain.now! += Number(TEST_PARAMS.closeGracePeriod) + 10; // the closed session's window (closed at once) is over
    const revocation = signedRevocation(p, prov.provider.address, prov.enclave, Number((await prov.provider.getAttestation())!.issuedAt));
    const world = { p, prov, stranger, client, open, closed, changeId: BigInt(changeId), revocation, snapshot: p.blockchain.snapshot() };
    const ownBefore = new Map<string, bigint>();
    for (const c of [p.root.address, prov.provider.address]) {
        ownBefore.set(c.toRawString(), (await p.blockchain.getContract(c)).balance - (await owed({ ...world, ownBefore }, c)));
    }
    return { ...world, ownBefore };
}

interface Entry {
    name: string;
    from: (w: World) => SandboxContract<TreasuryContract>;
    to: (w: World) => Address | null;
    body: (w: World) => Cell;
    init?: (w: World) => Promise<{ code: Cell; data: Cell }>;
}

const cell = (store: (b: ReturnType<typeof beginCell>) => void) => {
    const b = beginCell();
    store(b);
    return b.endCell();
};

const ENTRIES: Entry[] = [
    // Root
    {
        name: 'Root DeployRoot (anyone)',
        from: (w) => w.stranger,
        to: (w) => w.p.root.address,
        body: () => cell(storeDeployRoot({ $$type: 'DeployRoot', queryId: 0n })),
    },
    { name: 'Root plain transfer', from: (w) => w.stranger, to: (w) => w.p.root.address, body: () => beginCell().endCell() },
    {
        name: 'Root ProposeOwner',
        from: (w) => w.p.governance,
        to: (w) => w.p.root.address,
        body: (w) => cell(storeProposeOwner({ $$type: 'ProposeOwner', queryId: 0n, newOwner: w.stranger.address })),
    },
    {
        name: 'Root AcceptOwnership (stranger)',
        from: (w) => w.stranger,
        to: (w) => w.p.root.address,
        body: () => cell(storeAcceptOwnership({ $$type: 'AcceptOwnership', queryId: 0n })),
    },
    {
        name: 'Root SetParams',
        from: (w) => w.p.governance,
        to: (w) => w.p.root.address,
        body: () => cell(storeSetParams({ $$type: 'SetParams', queryId: 0n, params: TEST_PARAMS })),
    },
    {
        name: 'Root AddVerifier',
        from: (w) => w.p.governance,
        to: (w) => w.p.root.address,
        body: () => cell(storeAddVerifier({ $$type: 'AddVerifier', queryId: 0n, publicKey: 5n })),
    },
    {
        name: 'Root RemoveVerifier',
        from: (w) => w.p.governance,
        to: (w) => w.p.root.address,
        body: (w) => cell(storeRemoveVerifier({ $$type: 'RemoveVerifier', queryId: 0n, publicKey: key256(w.p.verifiers[2].publicKey) })),
    },
    {
        name: 'Root SetThreshold',
        from: (w) => w.p.governance,
        to: (w) => w.p.root.address,
        body: () => cell(storeSetThreshold({ $$type: 'SetThreshold', queryId: 0n, threshold: 3n })),
    },
    {
        name: 'Root AllowMeasurement',
        from: (w) => w.p.governance,
        to: (w) => w.p.root.address,
        body: () => cell(storeAllowMeasurement({ $$type: 'AllowMeasurement', queryId: 0n, measurement: 9n })),
    },
    {
        name: 'Root WithdrawMeasurement',
        from: (w) => w.p.governance,
        to: (w) => w.p.root.address,
        body: () => cell(storeWithdrawMeasurement({ $$type: 'WithdrawMeasurement', queryId: 0n, measurement: key256(MEASUREMENT) })),
    },
    {
        name: 'Root ExecuteChange (anyone, not due)',
        from: (w) => w.stranger,
        to: (w) => w.p.root.address,
        body: (w) => cell(storeExecuteChange({ $$type: 'ExecuteChange', queryId: 0n, id: w.changeId })),
    },
    {
        name: 'Root CancelChange',
        from: (w) => w.p.governance,
        to: (w) => w.p.root.address,
        body: (w) => cell(storeCancelChange({ $$type: 'CancelChange', queryId: 0n, id: w.changeId })),
    },
    {
        name: 'Root WithdrawTreasury',
        from: (w) => w.p.governance,
        to: (w) => w.p.root.address,
        body: (w) =>
            cell(storeWithdrawTreasury({ $$type: 'WithdrawTreasury', queryId: 0n, amount: toNano('0.5'), to: w.stranger.address })),
    },
    {
        name: 'Root DepositTreasury amount 0',
        from: (w) => w.stranger,
        to: (w) => w.p.root.address,
        body: () => cell(storeDepositTreasury({ $$type: 'DepositTreasury', queryId: 0n, amount: 0n, reason: 0n })),
    },
    {
        name: 'Root DepositTreasury amount 1 TON',
        from: (w) => w.stranger,
        to: (w) => w.p.root.address,
        body: () => cell(storeDepositTreasury({ $$type: 'DepositTreasury', queryId: 0n, amount: toNano('1'), reason: 0n })),
    },
    {
        name: 'Root UnjailProvider (not jailed)',
        from: (w) => w.p.governance,
        to: (w) => w.p.root.address,
        body: (w) => cell(storeUnjailProvider({ $$type: 'UnjailProvider', queryId: 0n, provider: w.prov.provider.address })),
    },
    {
        name: 'Root RegisterProvider (stranger)',
        from: (w) => w.stranger,
        to: (w) => w.p.root.address,
        body: (w) =>
            cell(
                storeRegisterProvider({
                    $$type: 'RegisterProvider',
                    queryId: 0n,
                    stake: toNano('1000'),
                    owner: w.stranger.address,
                    totalStake: toNano('1000'),
                    firstTime: true,
                }),
            ),
    },
    {
        name: 'Root VerifyAttestation (stranger)',
        from: (w) => w.stranger,
        to: (w) => w.p.root.address,
        body: (w) =>
            cell(
                storeVerifyAttestation({
                    $$type: 'VerifyAttestation',
                    queryId: 0n,
                    excessTo: w.stranger.address,
                    ...signedProof(proofFields(w.p, w.stranger.address, makeEnclave('x')), w.p.verifiers.slice(0, 2)),
                }),
            ),
    },
    {
        name: 'Root VerifyRevocation (stranger)',
        from: (w) => w.stranger,
        to: (w) => w.p.root.address,
        body: (w) =>
            cell(storeVerifyRevocation({ $$type: 'VerifyRevocation', queryId: 0n, reporter: w.stranger.address, ...w.revocation })),
    },
    // Provider
    {
        name: 'Provider Register (owner, again)',
        from: (w) => w.prov.owner,
        to: (w) => w.prov.provider.address,
        body: () => cell(storeRegister({ $$type: 'Register', queryId: 0n, listing: buildListing(TEST_LISTING) })),
    },
    {
        name: 'Provider Stake (anyone)',
        from: (w) => w.stranger,
        to: (w) => w.prov.provider.address,
        body: () => cell(storeStake({ $$type: 'Stake', queryId: 0n })),
    },
    {
        name: 'Provider RequestUnstake',
        from: (w) => w.prov.owner,
        to: (w) => w.prov.provider.address,
        body: () => cell(storeRequestUnstake({ $$type: 'RequestUnstake', queryId: 0n, amount: toNano('1') })),
    },
    {
        name: 'Provider WithdrawStake (nothing due)',
        from: (w) => w.prov.owner,
        to: (w) => w.prov.provider.address,
        body: () => cell(storeWithdrawStake({ $$type: 'WithdrawStake', queryId: 0n })),
    },
    {
        name: 'Provider UpdateListing',
        from: (w) => w.prov.owner,
        to: (w) => w.prov.provider.address,
        body: () => cell(storeUpdateListing({ $$type: 'UpdateListing', queryId: 0n, listing: buildListing(TEST_LISTING) })),
    },
    {
        name: 'Provider PauseProvider',
        from: (w) => w.prov.owner,
        to: (w) => w.prov.provider.address,
        body: () => cell(storePauseProvider({ $$type: 'PauseProvider', queryId: 0n })),
    },
    {
        name: 'Provider ResumeProvider (not paused)',
        from: (w) => w.prov.owner,
        to: (w) => w.prov.provider.address,
        body: () => cell(storeResumeProvider({ $$type: 'ResumeProvider', queryId: 0n })),
    },
    {
        name: 'Provider ExitProvider',
        from: (w) => w.prov.owner,
        to: (w) => w.prov.provider.address,
        body: () => cell(storeExitProvider({ $$type: 'ExitProvider', queryId: 0n })),
    },
    {
        name: 'Provider SubmitAttestation (anyone)',
        from: (w) => w.stranger,
        to: (w) => w.prov.provider.address,
        body: (w) =>
            cell(
                storeSubmitAttestation({
                    $$type: 'SubmitAttestation',
                    queryId: 0n,
                    ...signedProof(
                        proofFields(w.p, w.prov.provider.address, makeEnclave('next'), {
                            issuedAt: w.p.blockchain.now!,
                            validUntil: w.p.blockchain.now! + DAY / 2,
                        }),
                        w.p.verifiers.slice(0, 2),
                    ),
                }),
            ),
    },
    {
        name: 'Provider SubmitRevocation (anyone)',
        from: (w) => w.stranger,
        to: (w) => w.prov.provider.address,
        body: (w) => cell(storeSubmitRevocation({ $$type: 'SubmitRevocation', queryId: 0n, ...w.revocation })),
    },
    {
        name: 'Provider LockCollateral (stranger)',
        from: (w) => w.stranger,
        to: (w) => w.prov.provider.address,
        body: (w) =>
            cell(
                storeLockCollateral({
                    $$type: 'LockCollateral',
                    queryId: 0n,
                    client: w.stranger.address,
                    nonce: 1n,
                    budget: toNano('10'),
                    modelKey: modelKey(MODEL),
                    deadline: BigInt(w.p.blockchain.now! + DAY),
                }),
            ),
    },
    {
        name: 'Provider ReleaseCollateral (stranger)',
        from: (w) => w.stranger,
        to: (w) => w.prov.provider.address,
        body: (w) =>
            cell(
                storeReleaseCollateral({
                    $$type: 'ReleaseCollateral',
                    queryId: 0n,
                    client: w.client.address,
                    nonce: 2n,
                    collateral: toNano('2'),
                    settled: 0n,
                    timedOut: true,
                    payer: w.stranger.address,
                }),
            ),
    },
    {
        name: 'Provider SlashForEquivocation (stranger)',
        from: (w) => w.stranger,
        to: (w) => w.prov.provider.address,
        body: (w) =>
            cell(
                storeSlashForEquivocation({
                    $$type: 'SlashForEquivocation',
                    queryId: 0n,
                    client: w.client.address,
                    nonce: 2n,
                    reporter: w.stranger.address,
                    compensationCap: toNano('100'),
                }),
            ),
    },
    {
        name: 'Provider RegistrationConfirmed (stranger)',
        from: (w) => w.stranger,
        to: (w) => w.prov.provider.address,
        body: () =>
            cell(
                storeRegistrationConfirmed({
                    $$type: 'RegistrationConfirmed',
                    queryId: 0n,
                    stake: toNano('1000'),
                    params: paramsCell(TEST_PARAMS),
                }),
            ),
    },
    {
        name: 'Provider AttestationVerified (stranger)',
        from: (w) => w.stranger,
        to: (w) => w.prov.provider.address,
        body: (w) =>
            cell(
                storeAttestationVerified({
                    $$type: 'AttestationVerified',
                    queryId: 0n,
                    excessTo: w.stranger.address,
                    verifierEpoch: 0n,
                    validUntil: 0n,
                    params: paramsCell(TEST_PARAMS),
                    proof: w.revocation.proof,
                }),
            ),
    },
    {
        name: 'Provider RevocationVerified (stranger)',
        from: (w) => w.stranger,
        to: (w) => w.prov.provider.address,
        body: (w) =>
            cell(
                storeRevocationVerified({
                    $$type: 'RevocationVerified',
                    queryId: 0n,
                    reporter: w.stranger.address,
                    proof: w.revocation.proof,
                }),
            ),
    },
    {
        name: 'Provider Unjail (stranger)',
        from: (w) => w.stranger,
        to: (w) => w.prov.provider.address,
        body: (w) => cell(storeUnjail({ $$type: 'Unjail', queryId: 0n, excessTo: w.stranger.address })),
    },
    // Sessions
    {
        name: 'Session OpenSession (a new one)',
        from: (w) => w.client,
        to: () => null, // the new Session's address, from its init
        body: (w) =>
            cell(
                storeOpenSession({
                    $$type: 'OpenSession',
                    queryId: 0n,
                    modelKey: modelKey(MODEL),
                    deadline: BigInt(w.p.blockchain.now! + DAY),
                    clientKeyHash: clientKeyHashOf(CLIENT_SESSION_KEY),
                }),
            ),
        init: async (w) => (await sessionFor(w.p.root.address, w.prov.owner.address, w.client.address, 77n)).init!,
    },
    {
        name: 'Session TopUpSession',
        from: (w) => w.client,
        to: (w) => w.open.address,
        body: () => cell(storeTopUpSession({ $$type: 'TopUpSession', queryId: 0n })),
    },
    {
        name: 'Session ClaimUsage (anyone)',
        from: (w) => w.stranger,
        to: (w) => w.open.address,
        body: (w) =>
            cell(
                storeClaimUsage({
                    $$type: 'ClaimUsage',
                    queryId: 0n,
                    ...signedReceipt(w.p, w.open.address, w.prov.enclave, 2, 2_000_000n, 2_000_000n),
                }),
            ),
    },
    {
        name: 'Session CloseSession',
        from: (w) => w.client,
        to: (w) => w.open.address,
        body: () => cell(storeCloseSession({ $$type: 'CloseSession', queryId: 0n })),
    },
    {
        name: 'Session FinalizeSession (anyone)',
        from: (w) => w.stranger,
        to: (w) => w.closed.address,
        body: () => cell(storeFinalizeSession({ $$type: 'FinalizeSession', queryId: 0n })),
    },
    {
        name: 'Session ReportEquivocation (anyone)',
        from: (w) => w.stranger,
        to: (w) => w.open.address,
        body: (w) => cell(storeReportEquivocation({ $$type: 'ReportEquivocation', queryId: 0n, ...pair(w) })),
    },
    {
        name: 'Session SubmitRevocation (anyone)',
        from: (w) => w.stranger,
        to: (w) => w.open.address,
        body: (w) => cell(storeSubmitRevocation({ $$type: 'SubmitRevocation', queryId: 0n, ...w.revocation })),
    },
    {
        name: 'Session SessionAccepted (stranger)',
        from: (w) => w.stranger,
        to: (w) => w.open.address,
        body: () => cell(storeSessionAccepted({ $$type: 'SessionAccepted', queryId: 0n, collateral: 0n, terms: beginCell().endCell() })),
    },
    {
        name: 'Session RevocationVerified (stranger)',
        from: (w) => w.stranger,
        to: (w) => w.open.address,
        body: (w) =>
            cell(
                storeRevocationVerified({
                    $$type: 'RevocationVerified',
                    queryId: 0n,
                    reporter: w.stranger.address,
                    proof: w.revocation.proof,
                }),
            ),
    },
];

function pair(w: World) {
    const a = signedReceipt(w.p, w.open.address, w.prov.enclave, 5, 0n, 1n);
    const b = signedReceipt(w.p, w.open.address, w.prov.enclave, 5, 0n, 2n);
    return { first: a.receipt, firstSignature: a.signature, second: b.receipt, secondSignature: b.signature };
}

// What a contract owes: Root its treasury, a Provider its stake and unbonding requests, a
// Session its unclaimed budget while it runs.
async function owed(w: World, address: Address): Promise<bigint> {
    const account = await w.p.blockchain.getContract(address);
    if (account.accountState?.type !== 'active') return 0n;
    if (address.equals(w.p.root.address)) return w.p.root.getTreasury();
    if (address.equals(w.prov.provider.address)) return (await w.prov.provider.getStake()) + (await w.prov.provider.getUnbonding()).total;
    const s = await w.p.blockchain.openContract(Session.fromAddress(address)).getState();
    const running = [SESSION_OPENING, SESSION_OPEN, SESSION_CLOSING].includes(s.status);
    return running ? s.budget - s.claimed : 0n;
}

// (a Session never opened owes nothing and keeps no reserve)
async function sessionStatus(w: World, address: Address): Promise<bigint> {
    if ((await w.p.blockchain.getContract(address)).accountState?.type !== 'active') return SESSION_NEW;
    return (await w.p.blockchain.openContract(Session.fromAddress(address)).getState()).status;
}

// Sends `e` with `value` from the saved world; returns whether the entry transaction succeeded,
// and adds to `problems` every contract that ended with less of its own money.
async function send(w: World, e: Entry, value: bigint, problems: string[]): Promise<boolean> {
    await w.p.blockchain.loadFrom(w.snapshot);
    const init = e.init ? await e.init(w) : undefined;
    const to = e.to(w) ?? (await sessionFor(w.p.root.address, w.prov.owner.address, w.client.address, 77n)).address;
    const r = await e.from(w).send({ to, value, body: e.body(w), init, bounce: true });
    // only the contracts this message reached can have changed
    const touched = new Set(r.transactions.map((t) => t.inMessage?.info.dest?.toString()));
    const contracts = [w.p.root.address, w.prov.provider.address, w.open.address, w.closed.address, ...(init ? [to] : [])];
    for (const c of contracts.filter((a) => touched.has(a.toString()))) {
        const balance = (await w.p.blockchain.getContract(c)).balance;
        if (c.equals(w.p.root.address) || c.equals(w.prov.provider.address)) {
            const lost = w.ownBefore.get(c.toRawString())! - (balance - (await owed(w, c))) - rentPaid(r.transactions, c);
            if (lost > 0n)
                problems.push(`${e.name} with ${value} nanotons: ${c.equals(w.p.root.address) ? 'Root' : 'the Provider'} lost ${lost}`);
        } else if (balance > 0n && (await sessionStatus(w, c)) !== SESSION_NEW && balance - (await owed(w, c)) < SESSION_STORAGE_RESERVE) {
            problems.push(`${e.name} with ${value} nanotons: a Session holds less beyond what it owes than its reserve`);
        }
    }
    const entry = r.transactions.find((t) => t.inMessage?.info.dest?.toString() === to.toString());
    return entry !== undefined && entry.description.type === 'generic' && !entry.description.aborted;
}

const SMALL_VALUES = [1n, 3_000_000n, 20_000_000n];

describe('every handler is paid by its caller', () => {
    let w: World;
    beforeAll(async () => {
        w = await buildWorld();
    });

    it.each(ENTRIES.map((e) => [e.name, e] as const))('%s', async (_, e) => {
        const problems: string[] = [];
        for (const value of SMALL_VALUES) await send(w, e, value, problems);
        // around the smallest value it accepts (to 0.002 TON); a session's budget needs at least 1 TON
        const ceiling = e.name.startsWith('Session OpenSession') || e.name.includes('1 TON') ? toNano('3') : toNano('0.5');
        if (await send(w, e, ceiling, problems)) {
            let low = 0n;
            let high = ceiling;
            while (high - low > 2_000_000n) {
                const mid = (low + high) / 2n;
                if (await send(w, e, mid, problems)) high = mid;
                else low = mid;
            }
        }
        expect(problems).toEqual([]);
    });
});
