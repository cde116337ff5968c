// Outside security review of the Cocoon contracts (after issue 11). See tests/review/README.md.
//
// Every test replays one attack against the contracts through the wrappers and the fixtures of
// testkit/, and asserts what MUST hold. Run with `npx jest tests/review` after
// `npm run build` (the tests use build/).
//
//   * `FINDING F1…F6` failed against the contracts they were found on (0842341): each was a
//     confirmed hole; its comment gives the class, the steps, expected vs actual and the funds
//     that were at stake. They pass since the fixes that followed the review.
//   * `F7 (fixed)`, `F8 (fixed)` failed against the contracts of 885aa60/884fec5 and pass since
//     0842341, which fixed them while this review ran.
//   * `HELD …` pass: attacks tried that the contracts withstood, kept as regression tests.
//
// Runtime: one protocol (Root, 3 verifiers with threshold 2, a Provider registered with 300 TON and
// attested for 12 hours) is built once and restored from a sandbox snapshot before each test.
import { BlockchainSnapshot, BlockchainTransaction, SandboxContract, TreasuryContract, internal } from '@ton/sandbox';
import { Address, Cell, beginCell, contractAddress, toNano } from '@ton/core';
import '@ton/test-utils';
import {
    CHANGE_EXECUTION_WINDOW,
    ERR_ALREADY_REPORTED,
    ERR_CHANGE_NOT_DUE,
    ERR_CHANGE_OUT_OF_ORDER,
    ERR_CHANGE_UNKNOWN,
    ERR_INSUFFICIENT_FREE_STAKE,
    ERR_INVALID_STATUS,
    ERR_NOT_ATTESTED,
    ERR_NOT_OWNER,
    ERR_NOT_PENDING_OWNER,
    ERR_NOT_SESSION,
    ERR_PROVIDER_UNAVAILABLE,
    ERR_SESSION_STATUS,
    ERR_STILL_JAILED,
    ERR_TOO_EARLY,
    ERR_TREASURY_INSUFFICIENT,
    ERR_UNKNOWN_SIGNER,
    ERR_VALUE_TOO_SMALL,
    MIN_GOVERNANCE_DELAY,
    MAX_ATTESTATION_MAX_AGE,
    OPENING_TIMEOUT,
    ProtocolParams,
    Provider,
    Root,
    SESSION_CLOSING,
    SESSION_FINALIZED,
    SESSION_OPEN,
    SESSION_OPENING,
    STATUS_ACTIVE,
    STATUS_EXITING,
    STATUS_JAILED,
    STATUS_PENDING,
    Session,
    clientKeyHashOf,
    modelKey,
    sessionFor,
    storeLockCollateral,
    storeOpenSession,
    SMALL_MESSAGE_FEE,
    gasFee,
} from '../../wrappers';
import {
    AttestedProvider,
    CLIENT_SESSION_KEY,
    DAY,
    MODEL,
    Protocol,
    TEST_PARAMS,
    attestedProvider,
    deployProtocol,
    installStandIn,
    key256,
    proofFields,
    sendOpenSession,
    sendRegister,
    sendReportEquivocation,
    signedProof,
    signedReceipt,
    submitAttestation,
    signedRevocation,
    rentPaid,
} from '../../testkit';

const BPS = 10_000n;
const DAYS = (n: number) => BigInt(n * DAY);

let p: Protocol;
let prov: AttestedProvider;
let base: BlockchainSnapshot;
let T0: number;

beforeAll(async () => {
    p = await deployProtocol();
    prov = await attestedProvider(p);
    base = p.blockchain.snapshot();
    T0 = p.blockchain.now!;
});

beforeEach(async () => {
    await p.blockchain.loadFrom(base);
    p.blockchain.now = T0;
    p.openedAt.clear();
});

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

type Wallet = SandboxContract<TreasuryContract>;
const wallet = (name: string, workchain = 0) => p.blockchain.treasury(name, workchain === 0 ? undefined : { workchain });
const balanceOf = async (a: Address) => (await p.blockchain.getContract(a)).balance;
const slashable = async (provider = prov.provider) => (await provider.getStake()) + (await provider.getUnbonding()).total;

const claim = (session: SandboxContract<Session>, from: Wallet, r: { receipt: Cell; signature: Buffer }, value = toNano('0.05')) =>
    session.send(from.getSender(), { value }, { $$type: 'ClaimUsage', queryId: 0n, ...r });
const finalize = (session: SandboxContract<Session>, from: Wallet, value = toNano('0.2')) =>
    session.send(from.getSender(), { value }, { $$type: 'FinalizeSession', queryId: 0n });
const closeSession = (session: SandboxContract<Session>, client: Wallet) =>
    session.send(client.getSender(), { value: toNano('0.05') }, { $$type: 'CloseSession', queryId: 0n });
const ownerSend = (
    msg: Parameters<Provider['send']>[3],
    value = toNano('0.05'),
    reg: { owner: Wallet; provider: SandboxContract<Provider> } = prov,
) => reg.provider.send(reg.owner.getSender(), { value }, msg);

// min(deadline, closedAt) + closeGracePeriod: the last second a claim is taken.
async function windowEnd(session: SandboxContract<Session>): Promise<number> {
    const s = await session.getState();
    let end = Number(s.deadline);
    if (s.status === SESSION_CLOSING && Number(s.closedAt) < end) end = Number(s.closedAt);
    return end + Number(s.terms!.closeGracePeriod);
}

const currentIssuedAt = async () => Number((await prov.provider.getAttestation())!.issuedAt);

// A revocation of the attestation issued at `attestationIssuedAt` of prov's enclave key, signed by
// a verifier threshold.
function revocation(attestationIssuedAt: number, nonce = 1n) {
    return signedRevocation(p, prov.provider.address, prov.enclave, attestationIssuedAt, { nonce });
}
const revokeAt = (target: SandboxContract<Provider> | SandboxContract<Session>, from: Wallet, rev: { proof: Cell; signatures: Cell }) =>
    (target as SandboxContract<Provider>).send(
        from.getSender(),
        { value: toNano('0.3') },
        { $$type: 'SubmitRevocation', queryId: 0n, ...rev },
    );

// Governance proposes a change (timelocked: a provider is registered); returns its id and time.
async function propose(msg: Parameters<Root['send']>[3]) {
    const before = new Set((await p.root.getPendingChanges()).keys());
    const r = await p.root.send(p.governance.getSender(), { value: toNano('0.05') }, msg);
    const changes = await p.root.getPendingChanges();
    const id = [...changes.keys()].find((k) => !before.has(k));
    if (id === undefined) throw new Error(`nothing proposed: exit code ${exitCodeOf(r.transactions, p.root.address)}`);
    return { id: BigInt(id), executeAt: Number(changes.get(id)!.executeAt), r };
}
const execute = async (id: bigint, from?: Wallet) =>
    p.root.send((from ?? (await wallet('executor'))).getSender(), { value: toNano('0.05') }, { $$type: 'ExecuteChange', queryId: 0n, id });

function exitCodeOf(transactions: BlockchainTransaction[], to: Address): number | undefined {
    const tx = transactions.find(
        (t) => t.inMessage?.info.dest?.toString() === to.toString() && !(t.inMessage?.info.type === 'internal' && t.inMessage.info.bounced),
    );
    if (!tx || tx.description.type !== 'generic' || tx.description.computePhase.type !== 'vm') return undefined;
    return tx.description.computePhase.exitCode;
}

// =============================================================================================
// FINDINGS: these tests failed against the contracts they were found on (0842341); they pass since
// the fixes that followed the review.
// =============================================================================================

describe('FINDINGS of the review, fixed (each failed against the contracts it was found on)', () => {
    // F1 — HIGH — classes 1, 5 (and the verifier-majority cap of docs/security.md).
    // A revocation submitted to a Session settles it at once with `timedOut = (seqno == 0)`
    // (session.tact, RevocationVerified -> settle). A session the worker has not acknowledged yet
    // (it has closeGracePeriod, at least 10 minutes, to do so) is therefore slashed as a TIMEOUT:
    // timeoutSlashBps (100%) of its collateral, on top of the revocation slash.
    // Steps: a client opens a session whose budget makes the collateral equal to the whole stake
    // (5 x 299.9 TON, escrowed for a few seconds only); one second later, before the worker's
    // acknowledgement, it submits a verifier-signed revocation of the provider's attestation to its
    // Session, then to the Provider.
    // Expected (docs/security.md, "Verifiers" and "Governance"): a verifier majority slashes at
    // most revocationSlashBps (10%, capped at 20%) of the stake per attestation; the claim window
    // that the revocation cuts is not held against the provider.
    // Actual: the provider's stake goes from 299.91 TON to 0.0065 TON; 299.90 TON go to the
    // treasury (governance), stats.timeoutCount = 1. The client gets its whole budget back, so the
    // griefing costs it only fees. The same happens without any malice to every session opened
    // shortly before a routine revocation (e.g. a TCB downgrade) that anyone relays to Sessions.
    // At stake: 100% of any attested provider's stake, for whoever holds one revocation proof.
    it('FINDING F1: a revocation relayed to a not-yet-acknowledged session slashes it as a timeout (100% of stake, beyond the revocation cap)', async () => {
        const stake = await prov.provider.getStake();
        const cap = (stake * TEST_PARAMS.revocationSlashBps) / BPS;
        const griefer = await wallet('griefer');
        const { session } = await sendOpenSession(p, prov.owner.address, {
            client: 'griefer',
            value: (stake * BPS) / TEST_PARAMS.collateralBps,
        });
        expect(await session.getStatus()).toBe(SESSION_OPEN);
        expect(await prov.provider.getLocked()).toBeGreaterThan((stake * 99n) / 100n);
        const rev = revocation(await currentIssuedAt());
        p.blockchain.now! += 1; // the worker acknowledges within its window; the revocation comes first
        await revokeAt(session, griefer, rev);
        expect(await session.getStatus()).toBe(SESSION_FINALIZED);
        await revokeAt(prov.provider, griefer, rev);
        expect(await prov.provider.getStatus()).toBe(STATUS_JAILED);

        const lost = stake - (await prov.provider.getStake());
        expect(lost).toBeLessThanOrEqual(cap); // actual: lost = 299.904 TON, cap = 29.99 TON
        expect((await prov.provider.getStats()).timeoutCount).toBe(0n); // actual: 1n
    });

    // F2 — HIGH — classes 3 and 4 (owner addresses in other workchains; TON stranded forever).
    // RegistrationConfirmed carries a fixed value (rootLeg, basechain prices) and ends with an
    // Excesses to the owner. To a masterchain owner that message costs the masterchain lump price
    // (0.01 TON), more than what is left: the action phase fails (result 37). The message is not
    // bounceable and an action-phase failure does not bounce anyway (no +16 mode), so nobody learns
    // of it: the Provider stays PENDING forever with the whole stake in its balance, not counted.
    // Register is refused while PENDING (1402), every other owner message needs a registered
    // status, and no message refunds a PENDING provider.
    // Steps: a wallet in workchain -1 sends Register with 300 TON.
    // Expected: registered (ACTIVE, stake bonded) or refunded. Actual: status PENDING, stake 0,
    // 299.98 TON held by the Provider with no way out.
    it('FINDING F2: a provider owner in the masterchain registers into PENDING forever, its 300 TON stranded', async () => {
        const owner = await wallet('mc-owner', -1);
        const { provider } = await sendRegister(p, owner, toNano('300'));
        p.blockchain.now! += DAY;
        await sendRegister(p, owner, toNano('1')); // and no second try can complete it
        const status = await provider.getStatus();
        const held = await balanceOf(provider.address);
        // (the second Register above is refused with 1402 ERR_REGISTRATION_PENDING: no way out)
        expect(status).not.toBe(STATUS_PENDING); // actual: STATUS_PENDING (1n)
        if (status !== STATUS_ACTIVE) expect(held).toBeLessThan(toNano('1')); // actual: 299.98 TON held, stake 0
    });

    // F3 — HIGH — classes 3, 4, 8, 9 (collateral locked forever; stake held forever).
    // SessionAccepted reaches the Session with the fixed value the Session gave LockCollateral; the
    // Session's reply ends with an Excesses to the client. For a client in the masterchain that
    // costs 0.01 TON, more than is left: the Session's action phase fails (result 37), which does
    // not bounce, so the Provider never learns that the acceptance failed and keeps the collateral
    // locked. The Session stays OPENING; its client takes the whole escrow back after
    // OPENING_TIMEOUT; no ReleaseCollateral is ever sent.
    // Steps: a masterchain wallet opens a session with budget 5 x stake (collateral = all stake),
    // waits 10 minutes, cancels.
    // Expected: locked collateral returns to 0 once the escrow is gone.
    // Actual: 299.9 TON stay locked forever: no new session can be accepted, nothing can be
    // unstaked even after ExitProvider (ERR_INSUFFICIENT_FREE_STAKE). The griefer pays ~0.82 TON
    // (mostly masterchain fees of its own wallet) and 10 minutes of capital; any provider, any amount.
    it("FINDING F3: a client in the masterchain locks a provider's collateral forever (SessionAccepted fails silently)", async () => {
        const griefer = await wallet('mc-griefer', -1);
        const stake = await prov.provider.getStake();
        const session = p.blockchain.openContract(await sessionFor(p.root.address, prov.owner.address, griefer.address, 1n));
        const grieferBefore = await balanceOf(griefer.address);
        await session.send(
            griefer.getSender(),
            { value: (stake * BPS) / TEST_PARAMS.collateralBps },
            {
                $$type: 'OpenSession',
                queryId: 0n,
                modelKey: modelKey(MODEL),
                deadline: BigInt(p.blockchain.now! + DAY),
                clientKeyHash: clientKeyHashOf(CLIENT_SESSION_KEY),
            },
        );
        if (
            (await p.blockchain.getContract(session.address)).accountState?.type === 'active' &&
            (await session.getStatus()) === SESSION_OPENING
        ) {
            p.blockchain.now! += Number(OPENING_TIMEOUT);
            await finalize(session, griefer, toNano('0.05')); // the escrow goes back
        }
        expect(grieferBefore - (await balanceOf(griefer.address))).toBeLessThan(toNano('1')); // holds: escrow refunded
        p.blockchain.now! += 365 * DAY;
        await ownerSend({ $$type: 'ExitProvider', queryId: 0n });
        const unstake = await ownerSend({ $$type: 'RequestUnstake', queryId: 0n, amount: await prov.provider.getStake() });
        expect(await prov.provider.getLocked()).toBe(0n); // actual: 299.9 TON locked
        expect(exitCodeOf(unstake.transactions, prov.provider.address)).toBe(0); // actual: 1405
    });
    // F4 — MEDIUM — class 5 (a slash escaped; a slash recycled through a client the provider controls).
    // A revocation slashes only if the attestation it names is the one the Provider holds and
    // validUntil != 0. Any jail sets validUntil = 0 and bumps issuedAt, so a provider that expects
    // a revocation (its platform is in Intel's public revocation list, say) pre-empts it with an
    // equivocation of its own, reported in a session with a client it controls: the equivocation
    // slash goes back to it (reporter reward to the owner, compensation up to `claimed` to its
    // client, who paid that amount to the owner), and the revocation then slashes nothing.
    // Steps: sock client opens 70 TON; the enclave signs a 55 TON receipt, claimed (paid to the
    // owner); the enclave signs two receipts with seqno 2; the owner reports them: 59.98 TON
    // slashed, 6.00 back to the owner, 53.98 to the sock, 0 to the treasury; jailed. The verifiers'
    // revocation of the attestation then slashes 0.
    // Expected: the coalition (owner + sock + stake) loses at least what the revocation should still
    // take after the equivocation (10% of the 239.9 TON left: 23.99 TON; without the manoeuvre the
    // revocation takes 29.99 TON).
    // Actual: it loses ~1.48 TON in all (the 2.5% protocol fee on 55 TON, and gas).
    it('FINDING F4: a self-reported equivocation through a sock client recycles its slash and pre-empts the revocation slash', async () => {
        const owner = prov.owner;
        const sock = await wallet('sock');
        const attestationIssuedAt = await currentIssuedAt();
        const wealth = async () => (await balanceOf(owner.address)) + (await balanceOf(sock.address)) + (await slashable());
        const before = await wealth();

        const { session } = await sendOpenSession(p, owner.address, { client: 'sock', value: toNano('70') });
        await claim(session, owner, signedReceipt(p, session.address, prov.enclave, 1, 0n, 275_000_000n)); // 55 TON
        await sendReportEquivocation(
            session,
            owner,
            signedReceipt(p, session.address, prov.enclave, 2, 0n, 275_000_001n),
            signedReceipt(p, session.address, prov.enclave, 2, 0n, 275_000_002n),
        );
        expect(await prov.provider.getStatus()).toBe(STATUS_JAILED);
        // the verifiers' revocation arrives: it should still take revocationSlashBps of what is left
        const bite = ((await slashable()) * TEST_PARAMS.revocationSlashBps) / BPS; // 23.99 TON
        await revokeAt(prov.provider, await wallet('verifier-relay'), revocation(attestationIssuedAt));
        await closeSession(session, sock);
        p.blockchain.now = (await windowEnd(session)) + 1;
        await finalize(session, sock);

        const lost = before - (await wealth());
        expect(lost).toBeGreaterThanOrEqual(bite); // actual: ~1.48 TON < 23.99 TON (the revocation alone would have taken 29.99)
    });

    // F5 — MEDIUM — classes 6 and 10 (the timelock executed in an order governance did not choose).
    // Introduced by 0842341's fix of F8 (below): ExecuteChange now DROPS a due change that does
    // not apply at that moment, and anyone picks the order in which due changes execute. A change
    // that applies only after another one (a RemoveVerifier that needs a lower threshold first) is
    // dropped when executed before it; before 0842341 it failed, stayed pending and could be retried.
    // Steps: verifiers A, B, C with threshold 2; A and B are compromised. Governance proposes, at
    // once, SetThreshold(1), RemoveVerifier(A), RemoveVerifier(B) (each valid when proposed),
    // meaning to keep C alone. When they are due, B executes RemoveVerifier(A) (applies: 2 >= 2),
    // RemoveVerifier(B) (does not apply: 1 < 2, DROPPED), SetThreshold(1) (applies). Anyone then
    // executes whatever is still pending.
    // Expected: B is no verifier once every due change has run; a revocation B signs alone is
    // refused (ERR_UNKNOWN_SIGNER, 1310).
    // Actual: B is a verifier and the threshold is 1: B alone revokes the provider's attestation,
    // slashing 10% of its stake (29.99 TON here, up to 20% by the caps, for every provider) and
    // jailing it, and attests anything, until governance re-proposes and waits >= 7 days again.
    it('FINDING F5: a compromised verifier orders due changes so that its own removal is dropped, and is left as a 1-of-2 signer', async () => {
        const [a, bKey] = p.verifiers;
        const t = await propose({ $$type: 'SetThreshold', queryId: 0n, threshold: 1n });
        const ra = await propose({ $$type: 'RemoveVerifier', queryId: 0n, publicKey: key256(a.publicKey) });
        const rb = await propose({ $$type: 'RemoveVerifier', queryId: 0n, publicKey: key256(bKey.publicKey) });
        p.blockchain.now = Math.max(t.executeAt, ra.executeAt, rb.executeAt);
        const b = await wallet('verifier-b');
        for (const id of [ra.id, rb.id, t.id]) await execute(id, b);
        // anyone executes what is still pending (before 0842341: RemoveVerifier(B), which then applies)
        for (const id of (await p.root.getPendingChanges()).keys()) await execute(BigInt(id));

        const stake = await slashable();
        const r = await revokeAt(
            prov.provider,
            b,
            signedRevocation(p, prov.provider.address, prov.enclave, await currentIssuedAt(), {}, [bKey]),
        );
        expect(await p.root.getIsVerifier(key256(bKey.publicKey))).toBe(false); // actual: true (threshold 1)
        expect(exitCodeOf(r.transactions, p.root.address)).toBe(Number(ERR_UNKNOWN_SIGNER)); // actual: 0
        expect(await slashable()).toBe(stake); // actual: 29.99 TON slashed on B's word alone
    });

    // F6 — LOW — class 6 (executing a stale change).
    // A pending change never expires and executes in whatever order strangers choose. A SetParams
    // proposed, then superseded by a later SetParams that governance executed, stays executable
    // forever: anyone can apply it weeks later, reverting the newer parameters with no fresh
    // notice (the timelock's notice was given once, long ago, for a change everyone took as dead).
    // Steps: governance proposes A {timeoutSlashBps 0}, then B {protocolFeeBps 300}; executes B.
    // 30 days later a stranger executes A.
    // Expected: A no longer applies (expired, or older than the parameters in force).
    // Actual: params revert to A's (timeout slash off, fee back to 2.5%).
    // Fixed: changes execute in the order proposed, and a change not executed within
    // CHANGE_EXECUTION_WINDOW after its executeAt is dropped.
    it('FINDING F6: a stale SetParams, superseded long ago, can still be executed by anyone and reverts newer parameters', async () => {
        const a = await propose({ $$type: 'SetParams', queryId: 0n, params: { ...TEST_PARAMS, timeoutSlashBps: 0n } });
        p.blockchain.now! += 3600;
        const b = await propose({ $$type: 'SetParams', queryId: 0n, params: { ...TEST_PARAMS, protocolFeeBps: 300n } });
        p.blockchain.now = b.executeAt;
        // the newer one cannot overtake the older one
        const early = await execute(b.id, p.governance);
        expect(exitCodeOf(early.transactions, p.root.address)).toBe(Number(ERR_CHANGE_OUT_OF_ORDER));
        // the older one, left unexecuted past its window, is dropped whoever executes it
        p.blockchain.now = a.executeAt + Number(CHANGE_EXECUTION_WINDOW) + 1;
        const stale = await execute(a.id, await wallet('stranger'));
        expect(exitCodeOf(stale.transactions, p.root.address)).toBe(0);
        expect((await p.root.getParams()).timeoutSlashBps).toBe(TEST_PARAMS.timeoutSlashBps);
        // then the newer one applies, within its own window
        await execute(b.id, p.governance);
        expect((await p.root.getParams()).protocolFeeBps).toBe(300n);
    });
});

// =============================================================================================
// HELD: attacks tried that the contracts withstood (regression tests).
// =============================================================================================

describe('HELD: timeouts and the claim window (classes 1, 2)', () => {
    // deadline now + 1, two top-ups, close at once; the worker acknowledges in the very last second
    // of the window; finalize is refused in that second and allowed one second later, no slash.
    it('HELD: an acknowledgement in the last second of min(deadline, closedAt) + grace keeps the stake; the client ends no richer', async () => {
        const client = await wallet('client');
        const clientBefore = await balanceOf(client.address);
        const stake = await prov.provider.getStake();
        const free = stake - TEST_PARAMS.minProviderStake;
        const { session } = await sendOpenSession(p, prov.owner.address, {
            value: (free * BPS) / TEST_PARAMS.collateralBps,
            deadline: p.blockchain.now! + 1,
        });
        expect(await session.getStatus()).toBe(SESSION_OPEN);
        for (let i = 0; i < 2; i++) await session.send(client.getSender(), { value: toNano('5') }, { $$type: 'TopUpSession', queryId: 0n });
        await closeSession(session, client);
        const end = await windowEnd(session);
        expect(end - Number(await session.getClosedAt())).toBe(Number(TEST_PARAMS.closeGracePeriod));
        p.blockchain.now = end;
        let r = await finalize(session, client);
        expect(exitCodeOf(r.transactions, session.address)).toBe(Number(ERR_TOO_EARLY));
        r = await claim(session, prov.owner, signedReceipt(p, session.address, prov.enclave, 1, 0n, 0n));
        expect(exitCodeOf(r.transactions, session.address)).toBe(0);
        p.blockchain.now = end + 1;
        await finalize(session, client);
        expect(await session.getStatus()).toBe(SESSION_FINALIZED);
        expect(await prov.provider.getStake()).toBe(stake);
        expect(await prov.provider.getLocked()).toBe(0n);
        expect(await p.root.getTreasury()).toBe(0n);
        expect(await balanceOf(client.address)).toBeLessThan(clientBefore);
    });

    // Nothing the client or a stranger does shortens the window: a second OpenSession, a close
    // after the deadline, a revocation of an older attestation, an equivocation report of
    // identical receipts.
    it('HELD: re-open, a late close, a stale revocation and a bogus equivocation report leave the window at deadline + grace', async () => {
        const oldIssuedAt = await currentIssuedAt();
        p.blockchain.now! += 60;
        await submitAttestation(
            p,
            prov,
            signedProof(proofFields(p, prov.provider.address, prov.enclave, { nonce: 2n }), p.verifiers.slice(0, 2)),
        );
        const { session, client } = await sendOpenSession(p, prov.owner.address, { deadline: p.blockchain.now! + 120 });
        const deadline = Number(await session.getDeadline());
        const again = await sendOpenSession(p, prov.owner.address, { deadline: p.blockchain.now! + 120 });
        expect(exitCodeOf(again.result.transactions, session.address)).toBe(Number(ERR_SESSION_STATUS));
        await revokeAt(session, client, revocation(oldIssuedAt));
        const r0 = signedReceipt(p, session.address, prov.enclave, 1, 0n, 0n);
        await sendReportEquivocation(session, client, r0, r0);
        p.blockchain.now = deadline + 30;
        await closeSession(session, client);
        expect(await windowEnd(session)).toBe(deadline + Number(TEST_PARAMS.closeGracePeriod));
        p.blockchain.now = deadline + Number(TEST_PARAMS.closeGracePeriod);
        const r = await claim(session, prov.owner, signedReceipt(p, session.address, prov.enclave, 1, 1_000_000n, 0n));
        expect(exitCodeOf(r.transactions, session.address)).toBe(0);
        expect(await session.getSeqno()).toBe(1n);
        expect(await prov.provider.getStatus()).toBe(STATUS_ACTIVE);
    });

    // The acknowledged session, revoked afterwards: ended at once, refunded, no timeout slash.
    it('HELD: a revocation relayed to a session after its acknowledgement slashes nothing there', async () => {
        const { session, client } = await sendOpenSession(p, prov.owner.address);
        await claim(session, prov.owner, signedReceipt(p, session.address, prov.enclave, 1, 0n, 0n));
        const stake = await prov.provider.getStake();
        await revokeAt(session, client, revocation(await currentIssuedAt()));
        expect(await session.getStatus()).toBe(SESSION_FINALIZED);
        expect(await prov.provider.getStake()).toBe(stake);
        expect(await prov.provider.getLocked()).toBe(0n);
    });
});

describe('HELD: derivation and forged contracts (class 3)', () => {
    // The genuine Session code and data deployed in the masterchain, and a Session of a Root that
    // does not exist: the Provider is never fooled and the client is refunded.
    it('HELD: a Session deployed in the masterchain never reaches the Provider; one under a made-up Root refunds its client', async () => {
        const client = await wallet('client');
        const genuine = await sessionFor(p.root.address, prov.owner.address, client.address, 5n);
        const mc = p.blockchain.openContract(new Session(contractAddress(-1, genuine.init!), genuine.init));
        const open = {
            $$type: 'OpenSession' as const,
            queryId: 0n,
            modelKey: modelKey(MODEL),
            deadline: BigInt(p.blockchain.now! + DAY),
            clientKeyHash: clientKeyHashOf(CLIENT_SESSION_KEY),
        };
        // (In the masterchain the Session's own action phase fails on masterchain prices, so its
        // LockCollateral never leaves and the escrow stays in that account: a loss the client
        // inflicts on itself by deploying outside the basechain, which sessionFor never does.)
        let r = await mc.send(client.getSender(), { value: toNano('10') }, open);
        const reached = exitCodeOf(r.transactions, prov.provider.address);
        expect(reached === undefined || reached === Number(ERR_NOT_SESSION)).toBe(true);
        expect(await prov.provider.getLocked()).toBe(0n);
        const before = await balanceOf(client.address);
        const fakeRoot = new Address(0, Buffer.alloc(32, 0x77));
        const orphan = p.blockchain.openContract(await sessionFor(fakeRoot, prov.owner.address, client.address, 6n));
        r = await orphan.send(client.getSender(), { value: toNano('10') }, open);
        expect(r.transactions).not.toHaveTransaction({ to: prov.provider.address });
        expect(before - (await balanceOf(client.address))).toBeLessThan(toNano('0.1'));
        expect(await prov.provider.getLocked()).toBe(0n);
    });

    // A masterchain reporter is refused outright (every payout leg is priced for the basechain);
    // a basechain reporter at the smallest value the Session accepts gets the slash through.
    it('HELD: an equivocation reported from the masterchain is refused; from the basechain at the minimum value it slashes and jails', async () => {
        const { session } = await sendOpenSession(p, prov.owner.address);
        const masterchain = await wallet('mc-reporter', -1);
        const reporter = await wallet('reporter');
        const min = gasFee(14_000n + 65_000n + 8_000n) + 8n * SMALL_MESSAGE_FEE;
        const before = await slashable();
        const pair = () =>
            [
                signedReceipt(p, session.address, prov.enclave, 1, 0n, 1n),
                signedReceipt(p, session.address, prov.enclave, 1, 0n, 2n),
            ] as const;
        const mc = await sendReportEquivocation(session, masterchain, ...pair(), toNano('1'));
        expect(exitCodeOf(mc.transactions, session.address)).toBe(138); // not a basechain address
        const low = await sendReportEquivocation(session, reporter, ...pair(), min - 1n);
        expect(exitCodeOf(low.transactions, session.address)).toBe(Number(ERR_VALUE_TOO_SMALL));
        await sendReportEquivocation(session, reporter, ...pair(), min);
        expect(await prov.provider.getStatus()).toBe(STATUS_JAILED);
        expect(await slashable()).toBe(before - (before * TEST_PARAMS.equivocationSlashBps) / BPS);
    });
});

describe('HELD: escrow and legs that fail (class 4)', () => {
    // The Session fails when SessionAccepted arrives (a throwing stand-in, installed mid-flight):
    // the bounce unlocks the collateral, and the client takes its escrow back after OPENING_TIMEOUT.
    it('HELD: a SessionAccepted that bounces unlocks the collateral; the escrow comes back after OPENING_TIMEOUT', async () => {
        const client = await wallet('client');
        const session = p.blockchain.openContract(await sessionFor(p.root.address, prov.owner.address, client.address, 1n));
        const body = beginCell()
            .store(
                storeOpenSession({
                    $$type: 'OpenSession',
                    queryId: 0n,
                    modelKey: modelKey(MODEL),
                    deadline: BigInt(p.blockchain.now! + DAY),
                    clientKeyHash: clientKeyHashOf(CLIENT_SESSION_KEY),
                }),
            )
            .endCell();
        const before = await balanceOf(client.address);
        const iter = await p.blockchain.sendMessageIter(
            internal({ from: client.address, to: session.address, value: toNano('10'), bounce: true, body, stateInit: session.init }),
        );
        await iter.next(); // the Session escrows and sends LockCollateral
        await iter.next(); // the Provider locks and answers
        expect(await prov.provider.getLocked()).toBeGreaterThan(0n);
        const restore = await installStandIn(p.blockchain, session.address, 'throw');
        for (let step = await iter.next(); !step.done; step = await iter.next()); // the stand-in throws; the bounce reaches the Provider
        await restore(); // the Session as it was: OPENING
        expect(await prov.provider.getLocked()).toBe(0n);
        expect(await session.getStatus()).toBe(SESSION_OPENING);
        p.blockchain.now! += Number(OPENING_TIMEOUT);
        await finalize(session, client, toNano('0.05'));
        expect(await session.getStatus()).toBe(SESSION_FINALIZED);
        // everything came back but fees (the client paid 10 TON; the stand-in's 1 TON is sandbox-made)
        expect(before - (await balanceOf(client.address))).toBeLessThan(toNano('0.1'));
    });

    // A LockCollateral bounce that arrives after the client already took the escrow back: the
    // Session (FINALIZED, a tombstone) passes the bounce's value to the client and stays.
    it('HELD: a late LockCollateral bounce after the cancel goes to the client; the tombstone stays', async () => {
        const restore = await installStandIn(p.blockchain, prov.provider.address, 'swallow');
        const { session, client } = await sendOpenSession(p, prov.owner.address);
        p.blockchain.now! += Number(OPENING_TIMEOUT);
        await finalize(session, client, toNano('0.05'));
        await restore();
        const budget = await session.getBudget();
        const before = await balanceOf(client.address);
        const bouncedBody = beginCell()
            .storeUint(0xffffffff, 32)
            .store(
                storeLockCollateral({
                    $$type: 'LockCollateral',
                    queryId: 0n,
                    client: client.address,
                    nonce: 1n,
                    budget,
                    modelKey: modelKey(MODEL),
                    deadline: BigInt(p.blockchain.now! + DAY),
                }),
            )
            .endCell();
        await p.blockchain.sendMessage(
            internal({
                from: prov.provider.address,
                to: session.address,
                value: toNano('0.02'),
                bounce: false,
                bounced: true,
                body: bouncedBody,
            }),
        );
        expect(await session.getStatus()).toBe(SESSION_FINALIZED);
        expect(await balanceOf(client.address)).toBeGreaterThan(before);
        expect(await prov.provider.getLocked()).toBe(0n);
    });
});

describe('HELD: revocations and equivocations apply once (class 5)', () => {
    it('HELD: one revocation slashes once; a second signing of it, and a second equivocation report of one session, slash nothing', async () => {
        const issuedAt = await currentIssuedAt();
        const { session, client } = await sendOpenSession(p, prov.owner.address);
        const reporter = await wallet('reporter');
        await revokeAt(prov.provider, reporter, revocation(issuedAt, 1n));
        const afterFirst = await slashable();
        expect(afterFirst).toBeLessThan(toNano('280'));
        await revokeAt(prov.provider, reporter, revocation(issuedAt, 2n));
        expect(await slashable()).toBe(afterFirst);
        // governance unjails; an equivocation of the session slashes once, then never again
        await p.root.send(
            p.governance.getSender(),
            { value: toNano('0.05') },
            { $$type: 'UnjailProvider', queryId: 0n, provider: prov.provider.address },
        );
        const a = signedReceipt(p, session.address, prov.enclave, 1, 0n, 1n);
        const b = signedReceipt(p, session.address, prov.enclave, 1, 0n, 2n);
        await sendReportEquivocation(session, client, a, b);
        const afterEquivocation = await slashable();
        expect(afterEquivocation).toBeLessThan(afterFirst);
        await p.root.send(
            p.governance.getSender(),
            { value: toNano('0.05') },
            { $$type: 'UnjailProvider', queryId: 0n, provider: prov.provider.address },
        );
        const c = signedReceipt(p, session.address, prov.enclave, 1, 0n, 3n);
        const r = await sendReportEquivocation(session, reporter, a, c);
        expect(exitCodeOf(r.transactions, session.address)).toBe(Number(ERR_ALREADY_REPORTED));
        expect(await slashable()).toBe(afterEquivocation);
    });
});

describe('HELD: governance timelock (classes 6, 10)', () => {
    // A shorter governanceDelay applies only after the old delay, and a change proposed before it
    // keeps its own executeAt.
    it('HELD: shortening governanceDelay waits the old delay, and earlier proposals cannot execute early', async () => {
        const fast: ProtocolParams = { ...TEST_PARAMS, governanceDelay: MIN_GOVERNANCE_DELAY };
        const shorten = await propose({ $$type: 'SetParams', queryId: 0n, params: fast });
        expect(shorten.executeAt - p.blockchain.now!).toBe(Number(TEST_PARAMS.governanceDelay));
        p.blockchain.now! += 3600;
        const other = await propose({ $$type: 'SetThreshold', queryId: 0n, threshold: 3n });
        let r = await execute(shorten.id);
        expect(exitCodeOf(r.transactions, p.root.address)).toBe(Number(ERR_CHANGE_NOT_DUE));
        p.blockchain.now = shorten.executeAt;
        await execute(shorten.id);
        r = await execute(other.id);
        expect(exitCodeOf(r.transactions, p.root.address)).toBe(Number(ERR_CHANGE_NOT_DUE));
        expect((await p.root.getVerifierSet()).threshold).toBe(2n);
    });

    it('HELD: ownership races: a replaced proposed owner cannot accept; the new owner is still timelocked; the old one has no say', async () => {
        const [alice, bob] = [await wallet('alice'), await wallet('bob')];
        await p.root.send(
            p.governance.getSender(),
            { value: toNano('0.05') },
            { $$type: 'ProposeOwner', queryId: 0n, newOwner: alice.address },
        );
        await p.root.send(
            p.governance.getSender(),
            { value: toNano('0.05') },
            { $$type: 'ProposeOwner', queryId: 0n, newOwner: bob.address },
        );
        let r = await p.root.send(alice.getSender(), { value: toNano('0.05') }, { $$type: 'AcceptOwnership', queryId: 0n });
        expect(exitCodeOf(r.transactions, p.root.address)).toBe(Number(ERR_NOT_PENDING_OWNER));
        await p.root.send(bob.getSender(), { value: toNano('0.05') }, { $$type: 'AcceptOwnership', queryId: 0n });
        expect((await p.root.getOwner()).equals(bob.address)).toBe(true);
        await p.root.send(
            bob.getSender(),
            { value: toNano('0.05') },
            { $$type: 'SetParams', queryId: 0n, params: { ...TEST_PARAMS, revocationSlashBps: 2000n } },
        );
        expect((await p.root.getParams()).revocationSlashBps).toBe(TEST_PARAMS.revocationSlashBps);
        const [id] = [...(await p.root.getPendingChanges()).keys()];
        r = await p.root.send(p.governance.getSender(), { value: toNano('0.05') }, { $$type: 'CancelChange', queryId: 0n, id: BigInt(id) });
        expect(exitCodeOf(r.transactions, p.root.address)).toBe(Number(ERR_NOT_OWNER));
        r = await p.root.send(bob.getSender(), { value: toNano('0.05') }, { $$type: 'ExecuteChange', queryId: 0n, id: 99n });
        expect(exitCodeOf(r.transactions, p.root.address)).toBe(Number(ERR_CHANGE_UNKNOWN));
    });

    it("HELD: the treasury pays out exactly what fees and slashes put there, never Root's operating balance", async () => {
        const { session, client } = await sendOpenSession(p, prov.owner.address);
        await claim(session, prov.owner, signedReceipt(p, session.address, prov.enclave, 1, 10_000_000n, 10_000_000n));
        await closeSession(session, client);
        p.blockchain.now = (await windowEnd(session)) + 1;
        await finalize(session, client);
        const treasury = await p.root.getTreasury();
        expect(treasury).toBeGreaterThan(0n);
        expect(await balanceOf(p.root.address)).toBeGreaterThan(treasury + toNano('0.5'));
        const to = await wallet('payee');
        let r = await p.root.send(
            p.governance.getSender(),
            { value: toNano('0.05') },
            { $$type: 'WithdrawTreasury', queryId: 0n, amount: treasury + 1n, to: to.address },
        );
        expect(exitCodeOf(r.transactions, p.root.address)).toBe(Number(ERR_TREASURY_INSUFFICIENT));
        const rootBefore = await balanceOf(p.root.address);
        r = await p.root.send(
            p.governance.getSender(),
            { value: toNano('0.05') },
            { $$type: 'WithdrawTreasury', queryId: 0n, amount: treasury, to: to.address },
        );
        expect(await p.root.getTreasury()).toBe(0n);
        expect(rootBefore - (await balanceOf(p.root.address)) - rentPaid(r.transactions, p.root.address)).toBe(treasury);
    });
});

describe('HELD: callers pay, at ±1 nanoton (class 7)', () => {
    // For each entry message: at its smallest accepted value the contract's own money (balance less
    // what it owes) does not go down; one nanoton less is refused and costs the contract nothing.
    it('HELD: Stake, TopUpSession, DepositTreasury(0) and an acknowledgement ClaimUsage at min and min - 1', async () => {
        const stranger = await wallet('stranger');
        const { session, client } = await sendOpenSession(p, prov.owner.address);
        const own = async (a: Address): Promise<bigint> => {
            const bal = await balanceOf(a);
            if (a.equals(p.root.address)) return bal - (await p.root.getTreasury());
            if (a.equals(prov.provider.address)) return bal - (await slashable());
            const s = await session.getState();
            return bal - (s.budget - s.claimed);
        };
        const cases: { name: string; at: Address; min: bigint; send: (v: bigint) => Promise<{ transactions: BlockchainTransaction[] }> }[] =
            [
                {
                    name: 'Stake',
                    at: prov.provider.address,
                    min: gasFee(6000n) + SMALL_MESSAGE_FEE + 1n,
                    send: (v) => prov.provider.send(stranger.getSender(), { value: v }, { $$type: 'Stake', queryId: 0n }),
                },
                {
                    name: 'TopUpSession',
                    at: session.address,
                    min: gasFee(5000n) + 1n,
                    send: (v) => session.send(client.getSender(), { value: v }, { $$type: 'TopUpSession', queryId: 0n }),
                },
                {
                    name: 'DepositTreasury',
                    at: p.root.address,
                    min: gasFee(8000n) + SMALL_MESSAGE_FEE,
                    send: (v) =>
                        p.root.send(stranger.getSender(), { value: v }, { $$type: 'DepositTreasury', queryId: 0n, amount: 0n, reason: 1n }),
                },
                {
                    name: 'ClaimUsage (acknowledgement)',
                    at: session.address,
                    min: gasFee(10_000n) + 2n * SMALL_MESSAGE_FEE,
                    send: (v) => claim(session, stranger, signedReceipt(p, session.address, prov.enclave, 1, 0n, 0n), v),
                },
            ];
        const problems: string[] = [];
        for (const c of cases) {
            const snap = p.blockchain.snapshot();
            for (const [value, accepted] of [
                [c.min - 1n, false],
                [c.min, true],
            ] as const) {
                await p.blockchain.loadFrom(snap);
                const before = await own(c.at);
                const r = await c.send(value);
                const code = exitCodeOf(r.transactions, c.at);
                if ((code === 0) !== accepted) problems.push(`${c.name} at ${value}: exit code ${code}`);
                const lost = before - (await own(c.at)) - rentPaid(r.transactions, c.at);
                if (lost > 0n) problems.push(`${c.name} at ${value}: the contract lost ${lost} nanotons`);
            }
            await p.blockchain.loadFrom(snap);
        }
        expect(problems).toEqual([]);
    });
});

describe('HELD: a stranger finalizing at the minimum value (class 7)', () => {
    // FinalizeSession at exactly gas(20,000) + settlementCost from a stranger, for a served session
    // and for a timeout: one nanoton less is refused; at the minimum the client still receives at
    // least budget - claimed (and the stranger the rest of its value), and neither Root nor the
    // Provider pays for anything.
    it('HELD: at min - 1 refused; at min the client gets its whole unclaimed budget and no contract pays', async () => {
        // (11 small messages: the treasury leg's 2, the release leg's 6, the event, the client's
        // refund and the finalizer's change)
        const min = gasFee(20_000n + 8_000n + 65_000n + 8_000n) + 11n * SMALL_MESSAGE_FEE;
        const stranger = await wallet('stranger');
        const { session, client } = await sendOpenSession(p, prov.owner.address, { client: 'served' });
        await claim(session, prov.owner, signedReceipt(p, session.address, prov.enclave, 1, 1_000_000n, 1_000_000n));
        const other = await sendOpenSession(p, prov.owner.address, { client: 'silent' });
        p.blockchain.now = Math.max(await windowEnd(session), await windowEnd(other.session)) + 1;
        const problems: string[] = [];
        for (const [s, c] of [
            [session, client],
            [other.session, other.client],
        ] as const) {
            let r = await finalize(s, stranger, min - 1n);
            if (exitCodeOf(r.transactions, s.address) !== Number(ERR_VALUE_TOO_SMALL)) problems.push('min - 1 accepted');
            const st = await s.getState();
            const owed = st.budget - st.claimed;
            const [clientBefore, rootOwn, provOwn] = [
                await balanceOf(c.address),
                (await balanceOf(p.root.address)) - (await p.root.getTreasury()),
                (await balanceOf(prov.provider.address)) - (await slashable()),
            ];
            r = await finalize(s, stranger, min);
            if ((await s.getStatus()) !== SESSION_FINALIZED) problems.push('not finalized at min');
            const got = (await balanceOf(c.address)) - clientBefore;
            if (got < owed) problems.push(`client got ${got} < ${owed}`);
            const rootLost =
                rootOwn - ((await balanceOf(p.root.address)) - (await p.root.getTreasury())) - rentPaid(r.transactions, p.root.address);
            const provLost =
                provOwn -
                ((await balanceOf(prov.provider.address)) - (await slashable())) -
                rentPaid(r.transactions, prov.provider.address);
            if (rootLost > 0n) problems.push(`Root lost ${rootLost}`);
            if (provLost > 0n) problems.push(`Provider lost ${provLost}`);
        }
        expect(problems).toEqual([]);
        expect(await prov.provider.getLocked()).toBe(0n);
    });
});

describe('HELD: jails (class 8)', () => {
    it('HELD: a jailed provider cannot re-register, pause, resume or exit its way out; a fresh proof does not let it take sessions before the jail ends', async () => {
        const { session, client } = await sendOpenSession(p, prov.owner.address);
        await sendReportEquivocation(
            session,
            client,
            signedReceipt(p, session.address, prov.enclave, 1, 0n, 1n),
            signedReceipt(p, session.address, prov.enclave, 1, 0n, 2n),
        );
        const jailedUntil = Number(await prov.provider.getJailedUntil());
        expect(await prov.provider.getStatus()).toBe(STATUS_JAILED);
        await sendRegister(p, prov.owner, toNano('10'));
        expect(await prov.provider.getStatus()).toBe(STATUS_JAILED);
        let r = await ownerSend({ $$type: 'PauseProvider', queryId: 0n });
        expect(exitCodeOf(r.transactions, prov.provider.address)).toBe(Number(ERR_INVALID_STATUS));
        for (const msg of [
            { $$type: 'ResumeProvider' as const, queryId: 0n },
            { $$type: 'ExitProvider' as const, queryId: 0n },
        ]) {
            r = await ownerSend(msg);
            expect(exitCodeOf(r.transactions, prov.provider.address)).toBe(Number(ERR_STILL_JAILED));
        }
        // the minimum stake stays bonded while jailed
        r = await ownerSend({
            $$type: 'RequestUnstake',
            queryId: 0n,
            amount: (await prov.provider.getStake()) - (await prov.provider.getLocked()),
        });
        expect(exitCodeOf(r.transactions, prov.provider.address)).toBe(Number(ERR_INSUFFICIENT_FREE_STAKE));
        p.blockchain.now! += 60;
        await submitAttestation(
            p,
            prov,
            signedProof(proofFields(p, prov.provider.address, prov.enclave, { nonce: 3n }), p.verifiers.slice(0, 2)),
        );
        const refused = await sendOpenSession(p, prov.owner.address, { client: 'next', nonce: 2n });
        expect(exitCodeOf(refused.result.transactions, prov.provider.address)).toBe(Number(ERR_PROVIDER_UNAVAILABLE));
        p.blockchain.now = jailedUntil;
        r = await ownerSend({ $$type: 'ExitProvider', queryId: 0n });
        expect(await prov.provider.getStatus()).toBe(STATUS_EXITING);
    });
});

describe('HELD: stake accounting at the edges (class 9)', () => {
    // The heaviest ReleaseCollateral: a timeout whose slash, after two equivocation slashes left
    // less stake than the session's collateral, walks all 8 unbonding requests. It lands on the
    // fixed releaseLeg value, oldest requests first, and `locked` never exceeds the stake.
    it('HELD: a timeout slash through a full unbonding queue lands with the fixed release value', async () => {
        for (let i = 0; i < 8; i++) await ownerSend({ $$type: 'RequestUnstake', queryId: 0n, amount: toNano('5') });
        expect((await prov.provider.getUnbonding()).count).toBe(8n);
        const stake = await prov.provider.getStake();
        const big = await sendOpenSession(p, prov.owner.address, {
            client: 'big',
            value: ((stake - toNano('10')) * BPS) / TEST_PARAMS.collateralBps,
        });
        expect(await big.session.getStatus()).toBe(SESSION_OPEN);
        const cheats = [
            await sendOpenSession(p, prov.owner.address, { client: 'c1', value: toNano('2') }),
            await sendOpenSession(p, prov.owner.address, { client: 'c2', value: toNano('2') }),
        ];
        for (const c of cheats) {
            await sendReportEquivocation(
                c.session,
                c.client,
                signedReceipt(p, c.session.address, prov.enclave, 1, 0n, 1n),
                signedReceipt(p, c.session.address, prov.enclave, 1, 0n, 2n),
            );
        }
        expect(await prov.provider.getLocked()).toBeLessThanOrEqual(await prov.provider.getStake());
        const collateral = (await big.session.getSettlement())!.collateral;
        const before = await slashable();
        expect(collateral).toBeGreaterThan((await prov.provider.getStake()) + toNano('40'));
        p.blockchain.now = (await windowEnd(big.session)) + 1;
        const r = await finalize(big.session, big.client);
        expect(r.transactions).toHaveTransaction({ from: big.session.address, to: prov.provider.address, success: true });
        expect(await big.session.getStatus()).toBe(SESSION_FINALIZED);
        expect(await slashable()).toBe(before > collateral ? before - collateral : 0n);
        expect((await prov.provider.getUnbonding()).count).toBe(0n);
        expect(await prov.provider.getLocked()).toBeLessThanOrEqual(await prov.provider.getStake());
    });
});

// =============================================================================================
// FINDINGS confirmed against the contracts of 885aa60/884fec5 and fixed in 0842341 while this
// review ran (contracts/root.tact: ExecuteChange drops a change that no longer applies;
// constants.tact: MIN_GOVERNANCE_DELAY = 7 days). They failed against the earlier build and pass
// against the current one: kept as regression tests.
// =============================================================================================

describe('FINDINGS fixed in 0842341 during the review (pass now; failed against 884fec5)', () => {
    // F7 — LOW/MEDIUM — class 6 (a removed verifier still counts; variant of issue 11 item 6).
    // Root ends new attestations at restricted_from while a restricting change waits, and relies on
    // governanceDelay >= attestationMaxAge so that older attestations end before the change
    // executes. Before 0842341 that held for the parameters in force at the proposal, not for those in
    // force when the attestation was issued (MIN_GOVERNANCE_DELAY was 1 day, below
    // MAX_ATTESTATION_MAX_AGE), and LockCollateral never looks at Attestation.verifierEpoch.
    // Steps: params with attestationMaxAge = 7 days; governance proposes {unbonding 1 day, maxAge
    // 1 day, governanceDelay MIN_GOVERNANCE_DELAY}. An hour before it executes, the provider is
    // attested for 7 days by verifiers A and B. The change executes; governance removes A (new
    // delay); the removal executes.
    // Expected (docs/security.md "A removed verifier stops counting for new sessions the moment
    // its removal executes"): no new session on that attestation.
    // Before 0842341 (delay 1 day): sessions kept opening on A's signature for ~6 more days (exit code 0).
    it('F7 (fixed): after a governanceDelay decrease, an attestation co-signed by a removed verifier opens no session', async () => {
        const [a, b] = p.verifiers;
        const longAge: ProtocolParams = { ...TEST_PARAMS, attestationMaxAge: MAX_ATTESTATION_MAX_AGE };
        const c0 = await propose({ $$type: 'SetParams', queryId: 0n, params: longAge });
        p.blockchain.now = c0.executeAt;
        await execute(c0.id);
        const fast: ProtocolParams = {
            ...TEST_PARAMS,
            unbondingPeriod: DAYS(1),
            attestationMaxAge: DAYS(1),
            governanceDelay: MIN_GOVERNANCE_DELAY,
        };
        const c1 = await propose({ $$type: 'SetParams', queryId: 0n, params: fast });
        p.blockchain.now = c1.executeAt - 3600;
        const fields = proofFields(p, prov.provider.address, prov.enclave, { nonce: 5n, validUntil: p.blockchain.now + 7 * DAY });
        const attested = await submitAttestation(p, prov, signedProof(fields, [a, b]));
        expect(attested.transactions).toHaveTransaction({ from: p.root.address, to: prov.provider.address, success: true });
        p.blockchain.now = c1.executeAt;
        await execute(c1.id);
        const removal = await propose({ $$type: 'RemoveVerifier', queryId: 0n, publicKey: key256(a.publicKey) });
        p.blockchain.now = removal.executeAt;
        await execute(removal.id);
        expect(await p.root.getIsVerifier(key256(a.publicKey))).toBe(false);

        p.blockchain.now! += 60;
        const opened = await sendOpenSession(p, prov.owner.address, { client: 'after-removal' });
        expect(exitCodeOf(opened.result.transactions, prov.provider.address)).toBe(Number(ERR_NOT_ATTESTED)); // before 0842341: 0, accepted
    });

    // F8 — LOW/MEDIUM — class 6 (restricted_from stuck in the past blocks all attestations).
    // Before 0842341 a due restricting change that could no longer apply (here the second of two
    // RemoveVerifier of one key; equally a RemoveVerifier after a threshold raise) failed in
    // ExecuteChange and stayed pending; restricted_from stayed at its executeAt, in the past, so
    // Root refused EVERY new attestation (ERR_PROOF_EXPIRED, 1306) for every provider until
    // governance (a multisig) cancelled it: within attestationMaxAge the whole network stops.
    // Expected: a proof valid under the current rules is accepted.
    it('F8 (fixed): a due restricting change that can no longer apply does not block attestations', async () => {
        const c = p.verifiers[2];
        const first = await propose({ $$type: 'RemoveVerifier', queryId: 0n, publicKey: key256(c.publicKey) });
        const second = await propose({ $$type: 'RemoveVerifier', queryId: 0n, publicKey: key256(c.publicKey) });
        p.blockchain.now = second.executeAt;
        await execute(first.id);
        await execute(second.id); // before 0842341: fails with ERR_VERIFIER_UNKNOWN and stays pending
        p.blockchain.now! += 60;
        const r = await submitAttestation(
            p,
            prov,
            signedProof(proofFields(p, prov.provider.address, prov.enclave, { nonce: 9n }), p.verifiers.slice(0, 2)),
        );
        expect(exitCodeOf(r.transactions, p.root.address)).toBe(0); // before 0842341: 1306 ERR_PROOF_EXPIRED
    });
});
