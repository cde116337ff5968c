// Equivocation, revocation and unjailing. (Timeouts are in Session.spec.ts.)
import { SandboxContract, TreasuryContract } from '@ton/sandbox';
import { Cell, beginCell, toNano } from '@ton/core';
import '@ton/test-utils';
import {
    ERR_ALREADY_REPORTED,
    ERR_NOT_EQUIVOCATION,
    ERR_NOT_JAILED,
    ERR_NOT_OWNER,
    ERR_NOT_ROOT,
    ERR_PROOF_TAG,
    ERR_PROVIDER_UNAVAILABLE,
    ERR_RECEIPT_OTHER_SESSION,
    ERR_RECEIPT_SIGNATURE,
    ERR_REVOCATION_OTHER_KEY,
    ERR_SESSION_STATUS,
    ERR_TOO_FEW_SIGNATURES,
    ERR_VALUE_TOO_SMALL,
    ERR_WRONG_NETWORK,
    ERR_WRONG_ROOT,
    ERR_ISSUED_IN_FUTURE,
    ERR_NOT_SESSION,
    MAX_CLOCK_SKEW,
    GLOBAL_ID_TESTNET,
    SESSION_FINALIZED,
    SESSION_STORAGE_RESERVE,
    STATUS_ACTIVE,
    STATUS_EXITING,
    STATUS_JAILED,
    Session,
    amountDue,
    buildSignatureChain,
    signProof,
    RevocationFields,
    REVOCATION_PROOF_TAG,
    storeRevocationProof,
    sessionFor,
} from '../wrappers';
import {
    AttestedProvider,
    DAY,
    Enclave,
    Ledger,
    PRICES,
    Protocol,
    TEST_PARAMS,
    attestedProvider,
    deployProtocol,
    eventOpcodes,
    makeEnclave,
    sendOpenSession,
    sendReportEquivocation,
    signedReceipt,
    signedRevocation,
    escrowOwed,
    tokens,
    valueReceived,
    valuesSent,
} from '../testkit';

const BPS = 10_000n;
const SLASHED_EVENT = 0xc0c09105;

describe('Slashing', () => {
    let p: Protocol;
    let prov: AttestedProvider;
    let client: SandboxContract<TreasuryContract>;
    let session: SandboxContract<Session>;
    let reporter: SandboxContract<TreasuryContract>;

    beforeEach(async () => {
        p = await deployProtocol();
        prov = await attestedProvider(p);
        ({ client, session } = await sendOpenSession(p, prov.owner.address));
        reporter = await p.blockchain.treasury('reporter');
    });

    const claim = (seqno: number, tokensOut: bigint) =>
        session.send(
            prov.owner.getSender(),
            { value: toNano('0.05') },
            {
                $$type: 'ClaimUsage',
                queryId: 0n,
                ...signedReceipt(p, session.address, prov.enclave, seqno, 0n, tokensOut),
            },
        );

    const report = (
        a: { receipt: Cell; signature: Buffer },
        b: { receipt: Cell; signature: Buffer },
        value = toNano('0.2'),
        target: SandboxContract<Session> = session,
    ) => sendReportEquivocation(target, reporter, a, b, value);

    async function slashable() {
        return (await prov.provider.getStake()) + (await prov.provider.getUnbonding()).total;
    }

    describe('equivocation', () => {
        it('two receipts with one seqno: slashed and jailed; reward, compensation, treasury; TON conserved', async () => {
            await claim(1, 2_000_000n); // the client has paid 0.4 TON so far
            const paid = amountDue(tokens(0n, 2_000_000n), PRICES);
            const a = signedReceipt(p, session.address, prov.enclave, 2, 0n, 3_000_000n);
            const b = signedReceipt(p, session.address, prov.enclave, 2, 0n, 2_500_000n);
            const ledger = new Ledger(p.blockchain);
            await ledger.snapshot([reporter.address, client.address, session.address, prov.provider.address, p.root.address]);
            const before = await slashable();
            const reporterBefore = (await p.blockchain.getContract(reporter.address)).balance;
            const clientBefore = (await p.blockchain.getContract(client.address)).balance;

            const r = await report(a, b);
            const slashed = (before * TEST_PARAMS.equivocationSlashBps) / BPS;
            const reward = (slashed * TEST_PARAMS.reporterRewardBps) / BPS;
            const compensation = paid < slashed - reward ? paid : slashed - reward;
            expect(await slashable()).toBe(before - slashed);
            expect(await prov.provider.getStatus()).toBe(STATUS_JAILED);
            expect(await p.root.getTreasury()).toBe(slashed - reward - compensation);
            expect((await p.blockchain.getContract(reporter.address)).balance - reporterBefore).toBeGreaterThan(reward - toNano('0.2'));
            // the client gets the compensation less the message's forward fee
            expect((await p.blockchain.getContract(client.address)).balance - clientBefore).toBeGreaterThan(compensation - toNano('0.01'));
            expect(eventOpcodes(r.transactions)).toContain(SLASHED_EVENT);
            expect((await p.blockchain.getContract(prov.provider.address)).balance).toBeGreaterThanOrEqual(await slashable());
            await ledger.expectConserved(r.transactions);

            // counted once per session
            const again = await report(a, b);
            expect(again.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_ALREADY_REPORTED) });
            // a jailed provider takes no new session
            const next = await sendOpenSession(p, prov.owner.address, { client: 'client-2' });
            expect(next.result.transactions).toHaveTransaction({ to: prov.provider.address, exitCode: Number(ERR_PROVIDER_UNAVAILABLE) });
        });

        it('reaches stake in unbonding, and locked collateral never exceeds stake', async () => {
            await claim(1, 1n); // the provider served (so the session is no timeout)
            // the provider exits and unstakes everything not locked by the open session
            await prov.provider.send(prov.owner.getSender(), { value: toNano('0.05') }, { $$type: 'ExitProvider', queryId: 0n });
            expect(await prov.provider.getStatus()).toBe(STATUS_EXITING);
            const free = await prov.provider.getFreeStake();
            await prov.provider.send(
                prov.owner.getSender(),
                { value: toNano('0.05') },
                { $$type: 'RequestUnstake', queryId: 0n, amount: free },
            );
            const stake = await prov.provider.getStake();
            const unbonding = (await prov.provider.getUnbonding()).total;
            expect(stake).toBe(await prov.provider.getLocked());
            const slashed = ((stake + unbonding) * TEST_PARAMS.equivocationSlashBps) / BPS;
            expect(slashed).toBeGreaterThan(stake);

            await report(
                signedReceipt(p, session.address, prov.enclave, 1, 0n, 1n),
                signedReceipt(p, session.address, prov.enclave, 1, 0n, 2n),
            );
            expect(await prov.provider.getStake()).toBe(0n);
            expect(await prov.provider.getLocked()).toBe(0n);
            expect((await prov.provider.getUnbonding()).total).toBe(unbonding - (slashed - stake));
            // the session still settles; releasing collateral that was slashed away is fine
            await session.send(client.getSender(), { value: toNano('0.05') }, { $$type: 'CloseSession', queryId: 0n });
            p.blockchain.now! += DAY;
            const done = await session.send(client.getSender(), { value: toNano('0.2') }, { $$type: 'FinalizeSession', queryId: 0n });
            expect(done.transactions).toHaveTransaction({ from: session.address, to: prov.provider.address, success: true });
            expect(await session.getStatus()).toBe(SESSION_FINALIZED);
            // what is left in unbonding can still be withdrawn after its release time
            p.blockchain.now! += 7 * DAY;
            const out = await prov.provider.send(
                prov.owner.getSender(),
                { value: toNano('0.05') },
                { $$type: 'WithdrawStake', queryId: 0n },
            );
            expect(out.transactions).toHaveTransaction({
                from: prov.provider.address,
                to: prov.owner.address,
                value: (v) => v! >= unbonding - (slashed - stake),
            });
        });

        it('refuses the same receipt twice, or two seqnos', async () => {
            const a = signedReceipt(p, session.address, prov.enclave, 1, 0n, 1n);
            let r = await report(a, a);
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_NOT_EQUIVOCATION) });
            r = await report(a, signedReceipt(p, session.address, prov.enclave, 2, 0n, 1n));
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_NOT_EQUIVOCATION) });
            expect(await prov.provider.getStatus()).toBe(STATUS_ACTIVE);
        });

        it('refuses a receipt not signed by the enclave, or of another session', async () => {
            const a = signedReceipt(p, session.address, prov.enclave, 1, 0n, 1n);
            let r = await report(a, signedReceipt(p, session.address, makeEnclave('someone-else'), 1, 0n, 2n));
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_RECEIPT_SIGNATURE) });
            const other = await sessionFor(p.root.address, prov.owner.address, client.address, 9n);
            r = await report(a, signedReceipt(p, session.address, prov.enclave, 1, 0n, 2n, { session: other.address }));
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_RECEIPT_OTHER_SESSION) });
            expect(await prov.provider.getStatus()).toBe(STATUS_ACTIVE);
        });

        it('only a Session of this Provider can order an equivocation slash', async () => {
            const r = await prov.provider.send(
                reporter.getSender(),
                { value: toNano('0.2') },
                {
                    $$type: 'SlashForEquivocation',
                    queryId: 0n,
                    client: client.address,
                    nonce: 1n,
                    reporter: reporter.address,
                    compensationCap: 0n,
                },
            );
            expect(r.transactions).toHaveTransaction({ to: prov.provider.address, exitCode: Number(ERR_NOT_SESSION) });
            expect(await prov.provider.getStatus()).toBe(STATUS_ACTIVE);
        });

        it('refuses a report whose value cannot pay for the slash', async () => {
            const r = await report(
                signedReceipt(p, session.address, prov.enclave, 1, 0n, 1n),
                signedReceipt(p, session.address, prov.enclave, 1, 0n, 2n),
                toNano('0.005'),
            );
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_VALUE_TOO_SMALL) });
        });

        it('refuses a report on a session that has no terms (never accepted)', async () => {
            // the report itself deploys a fresh Session: status new, no terms
            const other = await p.blockchain.treasury('client-3');
            const fresh = p.blockchain.openContract(await sessionFor(p.root.address, prov.owner.address, other.address, 1n));
            const r = await report(
                signedReceipt(p, fresh.address, prov.enclave, 1, 0n, 1n),
                signedReceipt(p, fresh.address, prov.enclave, 1, 0n, 2n),
                toNano('0.2'),
                fresh,
            );
            expect(r.transactions).toHaveTransaction({ to: fresh.address, exitCode: Number(ERR_SESSION_STATUS) });
            expect(await prov.provider.getStatus()).toBe(STATUS_ACTIVE);
        });
    });

    describe('revocation', () => {
        let attestedAt: number; // issued-at of the provider's attestation: what a revocation names

        beforeEach(async () => {
            attestedAt = Number((await prov.provider.getAttestation())!.issuedAt);
        });

        function revocation(overrides: Partial<RevocationFields> = {}, signers = p.verifiers.slice(0, 2), enclave: Enclave = prov.enclave) {
            return signedRevocation(p, prov.provider.address, enclave, attestedAt, { nonce: 77n, ...overrides }, signers);
        }

        // A revocation-shaped cell under another tag, signed by enough verifiers.
        function wrongTag() {
            const proof = beginCell()
                .store(
                    storeRevocationProof({
                        $$type: 'RevocationProof',
                        tag: REVOCATION_PROOF_TAG + 1n,
                        globalId: BigInt(p.globalId),
                        root: p.root.address,
                        provider: prov.provider.address,
                        signingKey: BigInt('0x' + prov.enclave.signing.publicKey.toString('hex')),
                        attestationIssuedAt: BigInt(attestedAt),
                        issuedAt: BigInt(p.blockchain.now!),
                        nonce: 1n,
                    }),
                )
                .endCell();
            return { proof, signatures: buildSignatureChain(p.verifiers.slice(0, 2).map((k) => signProof(proof, k.secretKey))) };
        }

        const submit = (
            target: { send: SandboxContract<Session>['send'] } | SandboxContract<Session>,
            r: ReturnType<typeof revocation>,
            value = toNano('0.2'),
        ) => (target as SandboxContract<Session>).send(reporter.getSender(), { value }, { $$type: 'SubmitRevocation', queryId: 0n, ...r });

        it('at the Provider: attestation invalidated, jailed, slashed; reward to the reporter, rest to the treasury', async () => {
            const ledger = new Ledger(p.blockchain);
            await ledger.snapshot([reporter.address, prov.provider.address, p.root.address, prov.owner.address]);
            const before = await slashable();
            const r = await prov.provider.send(
                reporter.getSender(),
                { value: toNano('0.2') },
                { $$type: 'SubmitRevocation', queryId: 0n, ...revocation() },
            );
            expect(r.transactions).toHaveTransaction({ from: p.root.address, to: prov.provider.address, success: true });
            const slashed = (before * TEST_PARAMS.revocationSlashBps) / BPS;
            const reward = (slashed * TEST_PARAMS.reporterRewardBps) / BPS;
            expect(await slashable()).toBe(before - slashed);
            expect(await prov.provider.getStatus()).toBe(STATUS_JAILED);
            expect((await prov.provider.getAttestation())!.validUntil).toBe(0n);
            expect(await p.root.getTreasury()).toBe(slashed - reward);
            expect(r.transactions).toHaveTransaction({ from: prov.provider.address, to: reporter.address, value: (v) => v! > reward });
            await ledger.expectConserved(r.transactions);

            // the same revocation again slashes nothing
            const again = await prov.provider.send(
                reporter.getSender(),
                { value: toNano('0.2') },
                { $$type: 'SubmitRevocation', queryId: 0n, ...revocation() },
            );
            expect(again.transactions).toHaveTransaction({ from: p.root.address, to: prov.provider.address, success: true });
            expect(await slashable()).toBe(before - slashed);
        });

        it('at the Provider: refuses a revocation of another provider', async () => {
            const r = await prov.provider.send(
                reporter.getSender(),
                { value: toNano('0.2') },
                {
                    $$type: 'SubmitRevocation',
                    queryId: 0n,
                    ...revocation({ provider: p.root.address }),
                },
            );
            expect(r.transactions).toHaveTransaction({ to: prov.provider.address, exitCode: Number(ERR_REVOCATION_OTHER_KEY) });
        });

        it('Root refuses too few signatures, another network, or a cell that is not a revocation', async () => {
            const cases: [ReturnType<typeof revocation>, bigint][] = [
                [revocation({}, p.verifiers.slice(0, 1)), ERR_TOO_FEW_SIGNATURES],
                [revocation({ globalId: GLOBAL_ID_TESTNET }), ERR_WRONG_NETWORK],
                [wrongTag(), ERR_PROOF_TAG],
            ];
            for (const [proof, exitCode] of cases) {
                const r = await prov.provider.send(
                    reporter.getSender(),
                    { value: toNano('0.2') },
                    { $$type: 'SubmitRevocation', queryId: 0n, ...proof },
                );
                expect(r.transactions).toHaveTransaction({ from: prov.provider.address, to: p.root.address, exitCode: Number(exitCode) });
                expect(r.transactions).toHaveTransaction({ from: p.root.address, to: prov.provider.address, inMessageBounced: true });
            }
            expect(await prov.provider.getStatus()).toBe(STATUS_ACTIVE);
        });

        it('at a Session: ends it at once, the unclaimed budget back to the client, no grace window', async () => {
            await claim(1, 1_000_000n);
            const claimed = await session.getClaimed();
            const budget = await session.getBudget();
            const held = (await p.blockchain.getContract(session.address)).balance;
            const treasury = await p.root.getTreasury();
            const value = toNano('0.2');
            const r = await submit(session, revocation(), value);
            expect(r.transactions).toHaveTransaction({ from: p.root.address, to: session.address, success: true });
            expect(await session.getStatus()).toBe(SESSION_FINALIZED);
            expect(await prov.provider.getLocked()).toBe(0n);
            // the client: the unclaimed escrow; the reporter: the rest of the value it sent
            const fee = (await p.root.getTreasury()) - treasury; // the protocol fee on what was claimed
            expect(fee).toBeGreaterThan(0n);
            const escrow = escrowOwed(r.transactions, session.address, held, fee);
            expect(escrow).toBeGreaterThanOrEqual(budget - claimed);
            expect(valuesSent(r.transactions, session.address, client.address)).toEqual([escrow]);
            expect(valuesSent(r.transactions, session.address, reporter.address)).toHaveLength(1);
            expect(value - valueReceived(r.transactions, reporter.address)).toBeLessThan(toNano('0.035'));
            // the provider cannot claim any more
            const late = await claim(2, 2_000_000n);
            expect(late.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_SESSION_STATUS) });
        });

        it('at a Session left until its rent ate the escrow: the reporter pays the shortfall, or is refused', async () => {
            const budget = await session.getBudget();
            await claim(1, budget / (PRICES.completion / 1_000_000n)); // the whole budget, to 200 nanotons
            p.blockchain.now! += 2 * 365 * DAY;
            // (the least value of a revocation at a Session is about 0.080 TON)
            let r = await submit(session, revocation(), toNano('0.09'));
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_VALUE_TOO_SMALL) });
            r = await submit(session, revocation(), toNano('0.3'));
            expect(await session.getStatus()).toBe(SESSION_FINALIZED);
            expect(valuesSent(r.transactions, session.address, client.address)).toEqual([]);
            expect((await p.blockchain.getContract(session.address)).balance).toBe(SESSION_STORAGE_RESERVE);
        });

        it('at a Session: when Root refuses the revocation, the bounce returns the value to the client', async () => {
            const clientBefore = (await p.blockchain.getContract(client.address)).balance;
            const r = await submit(session, revocation({}, p.verifiers.slice(0, 1)));
            expect(r.transactions).toHaveTransaction({
                from: session.address,
                to: p.root.address,
                exitCode: Number(ERR_TOO_FEW_SIGNATURES),
            });
            expect(r.transactions).toHaveTransaction({ from: p.root.address, to: session.address, inMessageBounced: true, success: true });
            expect((await p.blockchain.getContract(client.address)).balance).toBeGreaterThan(clientBefore + toNano('0.1'));
            expect(await session.getStatus()).not.toBe(SESSION_FINALIZED);
        });

        it('at a Session: refuses a revocation of another enclave key, and forged answers', async () => {
            let r = await submit(session, revocation({}, undefined, makeEnclave('another')));
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_REVOCATION_OTHER_KEY) });
            r = await session.send(
                reporter.getSender(),
                { value: toNano('0.2') },
                { $$type: 'RevocationVerified', queryId: 0n, reporter: reporter.address, proof: beginCell().endCell() },
            );
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_NOT_ROOT) });
            r = await prov.provider.send(
                reporter.getSender(),
                { value: toNano('0.2') },
                { $$type: 'RevocationVerified', queryId: 0n, reporter: reporter.address, proof: beginCell().endCell() },
            );
            expect(r.transactions).toHaveTransaction({ to: prov.provider.address, exitCode: Number(ERR_NOT_ROOT) });
        });

        it('Root refuses a revocation for another root or issued too far in the future', async () => {
            const cases: [ReturnType<typeof revocation>, bigint][] = [
                [revocation({ root: prov.provider.address }), ERR_WRONG_ROOT],
                [revocation({ issuedAt: p.blockchain.now! + Number(MAX_CLOCK_SKEW) + 1 }), ERR_ISSUED_IN_FUTURE],
            ];
            for (const [proof, exitCode] of cases) {
                const r = await prov.provider.send(
                    reporter.getSender(),
                    { value: toNano('0.2') },
                    { $$type: 'SubmitRevocation', queryId: 0n, ...proof },
                );
                expect(r.transactions).toHaveTransaction({ from: prov.provider.address, to: p.root.address, exitCode: Number(exitCode) });
            }
            expect(await prov.provider.getStatus()).toBe(STATUS_ACTIVE);
        });

        it('refuses revocations whose value cannot pay for the chain', async () => {
            let r = await prov.provider.send(
                reporter.getSender(),
                { value: toNano('0.01') },
                { $$type: 'SubmitRevocation', queryId: 0n, ...revocation() },
            );
            expect(r.transactions).toHaveTransaction({ to: prov.provider.address, exitCode: Number(ERR_VALUE_TOO_SMALL) });
            r = await submit(session, revocation(), toNano('0.01'));
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_VALUE_TOO_SMALL) });
        });

        it('at a finalized Session: nothing to end; a late Root answer refunds the reporter', async () => {
            await session.send(client.getSender(), { value: toNano('0.05') }, { $$type: 'CloseSession', queryId: 0n });
            p.blockchain.now! += DAY;
            await session.send(client.getSender(), { value: toNano('0.2') }, { $$type: 'FinalizeSession', queryId: 0n });
            const r = await submit(session, revocation());
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_SESSION_STATUS) });
        });

        it('governance unjails; nobody else can', async () => {
            await prov.provider.send(
                reporter.getSender(),
                { value: toNano('0.2') },
                { $$type: 'SubmitRevocation', queryId: 0n, ...revocation() },
            );
            expect(await prov.provider.getStatus()).toBe(STATUS_JAILED);
            let r = await p.root.send(
                reporter.getSender(),
                { value: toNano('0.05') },
                { $$type: 'UnjailProvider', queryId: 0n, provider: prov.provider.address },
            );
            expect(r.transactions).toHaveTransaction({ to: p.root.address, exitCode: Number(ERR_NOT_OWNER) });
            r = await prov.provider.send(
                reporter.getSender(),
                { value: toNano('0.05') },
                { $$type: 'Unjail', queryId: 0n, excessTo: reporter.address },
            );
            expect(r.transactions).toHaveTransaction({ to: prov.provider.address, exitCode: Number(ERR_NOT_ROOT) });
            r = await p.root.send(
                p.governance.getSender(),
                { value: toNano('0.05') },
                { $$type: 'UnjailProvider', queryId: 0n, provider: prov.provider.address },
            );
            expect(r.transactions).toHaveTransaction({ from: p.root.address, to: prov.provider.address, success: true });
            expect(await prov.provider.getStatus()).toBe(STATUS_ACTIVE);
            const rootBefore = (await p.blockchain.getContract(p.root.address)).balance;
            r = await p.root.send(
                p.governance.getSender(),
                { value: toNano('1') },
                { $$type: 'UnjailProvider', queryId: 0n, provider: prov.provider.address },
            );
            expect(r.transactions).toHaveTransaction({ to: prov.provider.address, exitCode: Number(ERR_NOT_JAILED) });
            // the bounce goes back to governance: Root keeps none of it
            expect(r.transactions).toHaveTransaction({ from: p.root.address, to: p.governance.address, value: (v) => v! > toNano('0.9') });
            expect((await p.blockchain.getContract(p.root.address)).balance).toBeLessThanOrEqual(rootBefore);
            // it needs a fresh attestation before it takes sessions again
            const next = await sendOpenSession(p, prov.owner.address, { client: 'client-4' });
            expect(next.result.transactions).toHaveTransaction({ to: prov.provider.address, success: false });
        });
    });
});
