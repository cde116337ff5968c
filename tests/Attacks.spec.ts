// The attacks of issue 11 that the contracts used to let through, each replayed against the
// current contracts, with the variants of its class. (Timeout farming, the claim window and
// escrows never accepted are in Session.spec.ts "timeout" and "an escrow never accepted"; the
// governance classes in Governance.spec.ts.)
import { SandboxContract, TreasuryContract } from '@ton/sandbox';
import { Address, beginCell, toNano } from '@ton/core';
import '@ton/test-utils';
import {
    ERR_INSUFFICIENT_COLLATERAL,
    ERR_NOT_ATTESTED,
    ERR_NOT_PROVIDER_CONTRACT,
    ERR_RECEIPT_OTHER_SESSION,
    ERR_STALE_ATTESTATION,
    ERR_STILL_JAILED,
    GLOBAL_ID_MAINNET,
    Provider,
    SESSION_FINALIZED,
    SESSION_RELEASE_FAILED,
    STATUS_ACTIVE,
    STATUS_EXITING,
    STATUS_JAILED,
    Session,
    providerForOwner,
    rootForDeployment,
} from '../wrappers';
import { CocoonClient } from '../sdk/client';
import { sandboxChain } from '../protocol/chain';
import {
    AttestedProvider,
    DAY,
    MEASUREMENT,
    Protocol,
    TEST_PARAMS,
    attestedProvider,
    deployProtocol,
    installStandIn,
    makeEnclave,
    proofFields,
    registerProvider,
    sendOpenSession,
    sendReportEquivocation,
    signedProof,
    signedReceipt,
    submitAttestation,
    signedRevocation,
    valueReceived,
    valuesSent,
} from '../testkit';

const BPS = 10_000n;

describe('issue 11 attacks', () => {
    let p: Protocol;
    let prov: AttestedProvider;

    beforeEach(async () => {
        p = await deployProtocol();
        prov = await attestedProvider(p);
    });

    const claim = (session: SandboxContract<Session>, from: SandboxContract<TreasuryContract>, r: ReturnType<typeof signedReceipt>) =>
        session.send(from.getSender(), { value: toNano('0.05') }, { $$type: 'ClaimUsage', queryId: 0n, ...r });
    const finalize = (session: SandboxContract<Session>, from: SandboxContract<TreasuryContract>) =>
        session.send(from.getSender(), { value: toNano('0.2') }, { $$type: 'FinalizeSession', queryId: 0n });
    const windowEnd = async (session: SandboxContract<Session>) =>
        Number(await session.getDeadline()) + Number((await session.getTerms())!.closeGracePeriod);

    // 3. A Session pays only a Provider of its own Root.
    describe('a Provider of another Root', () => {
        // An attacker's own Root, with its own verifiers and measurement, and the genuine
        // Provider code registered and attested under it with the attacker's key.
        async function attackerDeployment() {
            const attacker = await p.blockchain.treasury('attacker');
            const root = p.blockchain.openContract(
                await rootForDeployment({ owner: attacker.address, globalId: GLOBAL_ID_MAINNET, params: TEST_PARAMS, nonce: 66n }),
            );
            await root.send(attacker.getSender(), { value: toNano('1') }, { $$type: 'DeployRoot', queryId: 0n });
            const evil = p.verifiers[0]; // any key the attacker controls
            await root.send(
                attacker.getSender(),
                { value: toNano('0.05') },
                { $$type: 'AddVerifier', queryId: 0n, publicKey: key(evil.publicKey) },
            );
            await root.send(
                attacker.getSender(),
                { value: toNano('0.05') },
                { $$type: 'AllowMeasurement', queryId: 0n, measurement: key(MEASUREMENT) },
            );
            const q: Protocol = { ...p, root, governance: attacker, verifiers: [evil] };
            const fake = await registerProvider(q, 'attacker-gpu', toNano('150'));
            const enclave = makeEnclave('attacker-enclave');
            const attested = await submitAttestation(q, fake, signedProof(proofFields(q, fake.provider.address, enclave), [evil]));
            expect(attested.transactions).toHaveTransaction({ from: root.address, to: fake.provider.address, success: true });
            return { attacker, root, fake, enclave, q };
        }
        const key = (b: Buffer) => BigInt('0x' + b.toString('hex'));

        it('the Session derives its Provider from its own Root: the foreign Provider is never asked, the client is refunded', async () => {
            const { fake } = await attackerDeployment();
            // the client trusts p.root; the attacker's provider owner under p.root has no Provider
            const opened = await sendOpenSession(p, fake.owner.address, { client: 'victim' });
            const derived = (await providerForOwner(p.root.address, fake.owner.address)).address;
            expect(derived.equals(fake.provider.address)).toBe(false);
            expect(opened.result.transactions).not.toHaveTransaction({ to: fake.provider.address });
            expect(opened.result.transactions).toHaveTransaction({ from: opened.session.address, to: derived, success: false });
            expect(opened.result.transactions).toHaveTransaction({
                from: opened.session.address,
                to: opened.client.address,
                value: (v) => v! > toNano('9.9'),
            });
            expect(await fake.provider.getLocked()).toBe(0n);
        });

        it("a foreign Provider's acceptance of a genuine Session is refused", async () => {
            const { fake } = await attackerDeployment();
            const { session } = await sendOpenSession(p, prov.owner.address, { client: 'victim' });
            const forged = await session.send(
                fake.owner.getSender(),
                { value: toNano('0.1') },
                { $$type: 'SessionAccepted', queryId: 0n, collateral: 0n, terms: beginCell().endCell() },
            );
            expect(forged.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_NOT_PROVIDER_CONTRACT) });
        });

        it('the SDK refuses a Provider of another Root, or a contract that is no Provider, before sending anything', async () => {
            const { fake } = await attackerDeployment();
            const wallet = await p.blockchain.treasury('sdk-client');
            const client = new CocoonClient({
                chain: sandboxChain(p.blockchain),
                wallet: wallet.getSender() as never,
                root: p.root.address,
            });
            const before = (await p.blockchain.getContract(wallet.address)).balance;
            const open = (provider: Address) =>
                client.openSession(provider, { model: 'Qwen/Qwen3-8B', budget: toNano('5'), durationSeconds: 3600 });
            await expect(open(fake.provider.address)).rejects.toMatchObject({ code: 'foreign-provider' });
            await expect(open(wallet.address)).rejects.toMatchObject({ code: 'foreign-provider' }); // a wallet: no Provider getters
            expect((await p.blockchain.getContract(wallet.address)).balance).toBe(before);
            expect(
                await client.findProviders([fake.provider.address, prov.provider.address], {
                    includeUnhealthy: true,
                    model: 'Qwen/Qwen3-8B',
                }),
            ).toEqual([expect.objectContaining({ provider: prov.provider.address })]);
        });
    });

    // 5. A revocation applies once, to the attestation it names.
    describe('revocation replay', () => {
        const revoke = async (attestationIssuedAt: number, nonce: bigint) => {
            const { proof, signatures } = signedRevocation(p, prov.provider.address, prov.enclave, attestationIssuedAt, { nonce });
            const reporter = await p.blockchain.treasury('reporter');
            return prov.provider.send(
                reporter.getSender(),
                { value: toNano('0.2') },
                { $$type: 'SubmitRevocation', queryId: 0n, proof, signatures },
            );
        };
        const slashable = async () => (await prov.provider.getStake()) + (await prov.provider.getUnbonding()).total;

        it('after an unjail and a fresh attestation of the same key, the old revocation slashes nothing', async () => {
            const first = Number((await prov.provider.getAttestation())!.issuedAt);
            await revoke(first, 1n);
            const afterFirst = await slashable();
            expect(await prov.provider.getStatus()).toBe(STATUS_JAILED);
            await p.root.send(
                p.governance.getSender(),
                { value: toNano('0.05') },
                { $$type: 'UnjailProvider', queryId: 0n, provider: prov.provider.address },
            );
            p.blockchain.now! += 60;
            // the same enclave key attested again
            await submitAttestation(
                p,
                prov,
                signedProof(proofFields(p, prov.provider.address, prov.enclave, { nonce: 2n }), p.verifiers.slice(0, 2)),
            );
            const second = Number((await prov.provider.getAttestation())!.issuedAt);
            expect(second).toBeGreaterThan(first);
            // the old revocation, and a new signing of it, slash nothing
            await revoke(first, 1n);
            await revoke(first, 3n);
            expect(await slashable()).toBe(afterFirst);
            expect(await prov.provider.getStatus()).toBe(STATUS_ACTIVE);
            // a revocation of the new attestation does
            await revoke(second, 4n);
            expect(await slashable()).toBeLessThan(afterFirst);
            expect(await prov.provider.getStatus()).toBe(STATUS_JAILED);
        });

        it('a revocation of an attestation older than a session does not end it; one of its own attestation does', async () => {
            const first = Number((await prov.provider.getAttestation())!.issuedAt);
            p.blockchain.now! += 60;
            await submitAttestation(
                p,
                prov,
                signedProof(proofFields(p, prov.provider.address, prov.enclave, { nonce: 2n }), p.verifiers.slice(0, 2)),
            );
            const current = Number((await prov.provider.getAttestation())!.issuedAt);
            const { session, client } = await sendOpenSession(p, prov.owner.address);
            const submit = async (attestationIssuedAt: number) => {
                const { proof, signatures } = signedRevocation(p, prov.provider.address, prov.enclave, attestationIssuedAt, { nonce: 5n });
                return session.send(
                    client.getSender(),
                    { value: toNano('0.3') },
                    { $$type: 'SubmitRevocation', queryId: 0n, proof, signatures },
                );
            };
            expect(first).toBeLessThan(current);
            const old = await submit(first);
            expect(old.transactions).toHaveTransaction({ to: session.address, success: false });
            expect(await session.getStatus()).not.toBe(SESSION_FINALIZED);
            await submit(current);
            expect(await session.getStatus()).toBe(SESSION_FINALIZED);
        });
    });

    // 8. A jail has an end, after which the provider can leave with what is left of its stake.
    describe('a jail with an end', () => {
        async function equivocate() {
            const { session } = await sendOpenSession(p, prov.owner.address);
            const reporter = await p.blockchain.treasury('reporter');
            await sendReportEquivocation(
                session,
                reporter,
                signedReceipt(p, session.address, prov.enclave, 1, 0n, 1n),
                signedReceipt(p, session.address, prov.enclave, 1, 0n, 2n),
            );
            expect(await prov.provider.getStatus()).toBe(STATUS_JAILED);
            return session;
        }
        const owner = (msg: Parameters<Provider['send']>[3]) => prov.provider.send(prov.owner.getSender(), { value: toNano('0.05') }, msg);

        it('no exit while jailed; after jailDuration the provider exits and takes everything that is left', async () => {
            const session = await equivocate();
            const jailedUntil = Number(await prov.provider.getJailedUntil());
            expect(jailedUntil).toBe(p.blockchain.now! + Number(TEST_PARAMS.jailDuration));
            let r = await owner({ $$type: 'ExitProvider', queryId: 0n });
            expect(r.transactions).toHaveTransaction({ to: prov.provider.address, exitCode: Number(ERR_STILL_JAILED) });
            r = await owner({ $$type: 'ResumeProvider', queryId: 0n });
            expect(r.transactions).toHaveTransaction({ to: prov.provider.address, exitCode: Number(ERR_STILL_JAILED) });
            // the session ends (its collateral is released) and the jail runs out
            await session.send(
                (await p.blockchain.treasury('client')).getSender(),
                { value: toNano('0.05') },
                { $$type: 'CloseSession', queryId: 0n },
            );
            p.blockchain.now = jailedUntil;
            await finalize(session, prov.owner);
            expect(await prov.provider.getLocked()).toBe(0n);
            r = await owner({ $$type: 'ExitProvider', queryId: 0n });
            expect(r.transactions).toHaveTransaction({ to: prov.provider.address, success: true });
            expect(await prov.provider.getStatus()).toBe(STATUS_EXITING);
            const left = await prov.provider.getStake();
            expect(left).toBeGreaterThan(0n);
            await owner({ $$type: 'RequestUnstake', queryId: 0n, amount: left });
            p.blockchain.now! += Number(TEST_PARAMS.unbondingPeriod);
            const before = (await p.blockchain.getContract(prov.owner.address)).balance;
            r = await owner({ $$type: 'WithdrawStake', queryId: 0n });
            // the whole stake left, less the gas of withdrawing (paid out of the value attached)
            expect((await p.blockchain.getContract(prov.owner.address)).balance - before).toBeGreaterThan(left - toNano('0.01'));
            expect(await prov.provider.getStake()).toBe(0n);
        });

        it('the jail duration is capped by the contract, and the provider may resume after it with a fresh attestation', async () => {
            await equivocate();
            expect(Number(await prov.provider.getJailedUntil()) - p.blockchain.now!).toBeLessThanOrEqual(30 * DAY);
            p.blockchain.now = Number(await prov.provider.getJailedUntil());
            const r = await owner({ $$type: 'ResumeProvider', queryId: 0n });
            expect(r.transactions).toHaveTransaction({ to: prov.provider.address, success: true });
            // resumed, but the key that equivocated is no longer attested
            const next = await sendOpenSession(p, prov.owner.address, { client: 'client-2' });
            expect(next.result.transactions).toHaveTransaction({ to: prov.provider.address, exitCode: Number(ERR_NOT_ATTESTED) });
        });
    });

    // 9. Smaller holes of the same kinds.
    describe('after any jail a fresh attestation is needed', () => {
        it('unjailed after an equivocation: no session with the old attestation, and no proof issued before the jail', async () => {
            // a second proof, issued before the jail for the same key, held back by the provider
            p.blockchain.now! += 10;
            const heldBack = signedProof(proofFields(p, prov.provider.address, prov.enclave, { nonce: 9n }), p.verifiers.slice(0, 2));
            p.blockchain.now! += 10;
            const { session } = await sendOpenSession(p, prov.owner.address);
            const reporter = await p.blockchain.treasury('reporter');
            await sendReportEquivocation(
                session,
                reporter,
                signedReceipt(p, session.address, prov.enclave, 1, 0n, 1n),
                signedReceipt(p, session.address, prov.enclave, 1, 0n, 2n),
            );
            expect((await prov.provider.getAttestation())!.validUntil).toBe(0n);
            await p.root.send(
                p.governance.getSender(),
                { value: toNano('0.05') },
                { $$type: 'UnjailProvider', queryId: 0n, provider: prov.provider.address },
            );
            expect(await prov.provider.getStatus()).toBe(STATUS_ACTIVE);
            const next = await sendOpenSession(p, prov.owner.address, { client: 'client-2' });
            expect(next.result.transactions).toHaveTransaction({ to: prov.provider.address, exitCode: Number(ERR_NOT_ATTESTED) });
            const replay = await submitAttestation(p, prov, heldBack);
            expect(replay.transactions).toHaveTransaction({ to: prov.provider.address, exitCode: Number(ERR_STALE_ATTESTATION) });
            // a proof issued after the jail is accepted
            p.blockchain.now! += 1;
            const fresh = await submitAttestation(
                p,
                prov,
                signedProof(proofFields(p, prov.provider.address, makeEnclave('new'), { nonce: 10n }), p.verifiers.slice(0, 2)),
            );
            expect(fresh.transactions).toHaveTransaction({ from: p.root.address, to: prov.provider.address, success: true });
            expect((await prov.provider.getAttestation())!.validUntil).toBeGreaterThan(0n);
        });
    });

    describe('the minimum stake', () => {
        it('a timeout slash that leaves less than the minimum stake: no new session', async () => {
            // collateral may use any unlocked stake, the minimum included: this session locks most of it
            const { session } = await sendOpenSession(p, prov.owner.address, { value: toNano('1200') });
            const stake = await prov.provider.getStake();
            const slash = ((await prov.provider.getLocked()) * TEST_PARAMS.timeoutSlashBps) / BPS;
            expect(stake - slash).toBeLessThan(TEST_PARAMS.minProviderStake);
            p.blockchain.now = (await windowEnd(session)) + 1;
            await finalize(session, prov.owner); // a timeout: no receipt claimed
            expect(await prov.provider.getStake()).toBe(stake - slash);
            expect(await prov.provider.getStatus()).toBe(STATUS_ACTIVE);
            // attested again, still active, but below the minimum: it takes no session
            await submitAttestation(
                p,
                prov,
                signedProof(proofFields(p, prov.provider.address, prov.enclave, { nonce: 2n }), p.verifiers.slice(0, 2)),
            );
            const next = await sendOpenSession(p, prov.owner.address, { client: 'client-2', value: toNano('2') });
            expect(next.result.transactions).toHaveTransaction({
                to: prov.provider.address,
                exitCode: Number(ERR_INSUFFICIENT_COLLATERAL),
            });
            // topped up above the minimum, it does again
            await prov.provider.send(prov.owner.getSender(), { value: toNano('100') }, { $$type: 'Stake', queryId: 0n });
            const again = await sendOpenSession(p, prov.owner.address, { client: 'client-3', value: toNano('2') });
            expect(again.result.transactions).toHaveTransaction({ from: prov.provider.address, to: again.session.address, success: true });
        });
    });

    describe('legs between contracts never leave a half-done state', () => {
        it('a release of collateral that fails is retried by FinalizeSession', async () => {
            const { session, client } = await sendOpenSession(p, prov.owner.address);
            await claim(session, prov.owner, signedReceipt(p, session.address, prov.enclave, 1, 1_000_000n, 0n));
            p.blockchain.now = (await windowEnd(session)) + 1;
            const restore = await installStandIn(p.blockchain, prov.provider.address, 'throw');
            const r = await finalize(session, client);
            expect(r.transactions).toHaveTransaction({ from: session.address, to: prov.provider.address, success: false });
            expect(r.transactions).toHaveTransaction({
                from: prov.provider.address,
                to: session.address,
                inMessageBounced: true,
                success: true,
            });
            expect(await session.getStatus()).toBe(SESSION_RELEASE_FAILED);
            await restore();
            expect(await prov.provider.getLocked()).toBeGreaterThan(0n);
            const anyone = await p.blockchain.treasury('anyone');
            const retry = await finalize(session, anyone); // (0.2 TON)
            expect(retry.transactions).toHaveTransaction({ from: session.address, to: prov.provider.address, success: true });
            expect(await prov.provider.getLocked()).toBe(0n);
            expect(await session.getStatus()).toBe(SESSION_FINALIZED);
            // the client's refund left with the first finalize: the retry's change goes to whoever retried
            expect(valuesSent(retry.transactions, session.address, client.address)).toEqual([]);
            expect(valuesSent(retry.transactions, session.address, anyone.address)).toHaveLength(1);
            expect(toNano('0.2') - valueReceived(retry.transactions, anyone.address)).toBeLessThan(toNano('0.02'));
            // and only once
            const again = await finalize(session, client);
            expect(again.transactions).toHaveTransaction({ to: session.address, success: false });
        });

        it('an equivocation slash that fails can be reported again', async () => {
            const { session } = await sendOpenSession(p, prov.owner.address);
            const reporter = await p.blockchain.treasury('reporter');
            const a = signedReceipt(p, session.address, prov.enclave, 1, 0n, 1n);
            const b = signedReceipt(p, session.address, prov.enclave, 1, 0n, 2n);
            const restore = await installStandIn(p.blockchain, prov.provider.address, 'throw');
            const r = await sendReportEquivocation(session, reporter, a, b);
            expect(r.transactions).toHaveTransaction({
                from: prov.provider.address,
                to: session.address,
                inMessageBounced: true,
                success: true,
            });
            await restore();
            expect(await prov.provider.getStatus()).toBe(STATUS_ACTIVE);
            await sendReportEquivocation(session, reporter, a, b);
            expect(await prov.provider.getStatus()).toBe(STATUS_JAILED);
        });

        it('a message dressed as a bounced SessionAccepted cannot unlock anything', async () => {
            // bounced messages are marked by the network only; a plain message with the prefix is refused
            await sendOpenSession(p, prov.owner.address);
            const locked = await prov.provider.getLocked();
            const stranger = await p.blockchain.treasury('stranger');
            const r = await stranger.send({
                to: prov.provider.address,
                value: toNano('0.1'),
                body: beginCell().storeUint(0xffffffff, 32).storeUint(0xc0c04003, 32).storeUint(0, 64).storeCoins(locked).endCell(),
            });
            expect(r.transactions).toHaveTransaction({ to: prov.provider.address, success: false });
            expect(await prov.provider.getLocked()).toBe(locked);
        });
    });

    describe('old receipts never revive', () => {
        it('a finalized session whose tombstone is removed and reopened with the same nonce refuses the old receipts', async () => {
            const { session, client } = await sendOpenSession(p, prov.owner.address);
            const old = signedReceipt(p, session.address, prov.enclave, 1, 1_000_000n, 1_000_000n);
            await claim(session, prov.owner, old);
            p.blockchain.now = (await windowEnd(session)) + 1;
            await finalize(session, client);
            // storage fees (years of them) remove the tombstone
            const { createEmptyShardAccount } = await import('@ton/sandbox');
            await p.blockchain.setShardAccount(session.address, createEmptyShardAccount(session.address));
            p.blockchain.now! += 60;
            const openedBefore = p.openedAt.get(session.address.toRawString())!;
            await submitAttestation(
                p,
                prov,
                signedProof(proofFields(p, prov.provider.address, prov.enclave, { nonce: 2n }), p.verifiers.slice(0, 2)),
            );
            const reopened = await sendOpenSession(p, prov.owner.address);
            expect(reopened.session.address.equals(session.address)).toBe(true);
            expect(Number(await reopened.session.getOpenedAt())).toBeGreaterThan(openedBefore);
            const replay = await claim(reopened.session, prov.owner, old);
            expect(replay.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_RECEIPT_OTHER_SESSION) });
            expect(await reopened.session.getClaimed()).toBe(0n);
            // and an equivocation report made of old receipts is refused too
            const r = await sendReportEquivocation(
                reopened.session,
                client,
                old,
                signedReceipt(p, session.address, prov.enclave, 1, 0n, 5n, { openedAt: openedBefore }),
            );
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_RECEIPT_OTHER_SESSION) });
        });
    });
});
