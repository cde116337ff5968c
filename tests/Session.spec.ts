import { SandboxContract, TreasuryContract, internal } from '@ton/sandbox';
import { Address, Cell, beginCell, toNano } from '@ton/core';
import '@ton/test-utils';
import {
    ERR_AMOUNT_MISMATCH,
    ERR_BUDGET_TOO_SMALL,
    ERR_CLAIM_WINDOW_OVER,
    ERR_INSUFFICIENT_COLLATERAL,
    ERR_INSUFFICIENT_FREE_STAKE,
    ERR_INVALID_DEADLINE,
    ERR_MODEL_NOT_LISTED,
    ERR_MODEL_NOT_ATTESTED,
    buildListing,
    ERR_NOT_ATTESTED,
    ERR_NOT_CLIENT,
    ERR_NOT_PROVIDER_CONTRACT,
    ERR_NOT_SESSION,
    ERR_OVER_BUDGET,
    ERR_PROVIDER_UNAVAILABLE,
    ERR_RECEIPT_OTHER_SESSION,
    ERR_RECEIPT_SIGNATURE,
    ERR_RECEIPT_TAG,
    ERR_SERVED_AFTER_END,
    ERR_SESSION_STATUS,
    ERR_STALE_RECEIPT,
    ERR_TOO_EARLY,
    ERR_VALUE_TOO_SMALL,
    GLOBAL_ID_TESTNET,
    SESSION_CLOSING,
    SESSION_FINALIZED,
    SESSION_OPEN,
    SESSION_STORAGE_RESERVE,
    Session,
    amountDue,
    sessionFor,
    storeUsageReceipt,
    RECEIPT_TAG,
    clientKeyHashOf,
    providerForOwner,
    FINALIZE_ABANDONED_VALUE,
    OPENING_TIMEOUT,
    SESSION_OPENING,
    storeLockCollateral,
    modelKey,
} from '../wrappers';
import {
    AttestedProvider,
    DAY,
    Ledger,
    PRICES,
    Protocol,
    TEST_PARAMS,
    attestedProvider,
    deployProtocol,
    eventOpcodes,
    makeEnclave,
    escrowOwed,
    valueReceived,
    valuesSent,
    registerProvider,
    sendOpenSession,
    CLIENT_SESSION_KEY,
    signedReceipt,
    installStandIn,
    MODEL,
    OTHER_MODEL_HASH,
    TEST_LISTING,
    tokens,
} from '../testkit';

const BPS = 10_000n;
const collateralOf = (budget: bigint) => (budget * TEST_PARAMS.collateralBps) / BPS;
const netOfFee = (amount: bigint) => amount - (amount * TEST_PARAMS.protocolFeeBps) / BPS;
const GRACE = Number(TEST_PARAMS.closeGracePeriod);

describe('Sessions', () => {
    let p: Protocol;
    let prov: AttestedProvider;
    let ledger: Ledger;

    beforeEach(async () => {
        p = await deployProtocol();
        prov = await attestedProvider(p);
    });

    async function snapshot(...addresses: Address[]) {
        ledger = new Ledger(p.blockchain);
        await ledger.snapshot([prov.owner.address, prov.provider.address, p.root.address, ...addresses]);
    }

    async function openAccepted(opts: Parameters<typeof sendOpenSession>[2] = {}) {
        const opened = await sendOpenSession(p, prov.owner.address, opts);
        expect(opened.result.transactions).toHaveTransaction({ from: prov.provider.address, to: opened.session.address, success: true });
        return opened;
    }

    const claim = (
        session: SandboxContract<Session>,
        from: SandboxContract<TreasuryContract>,
        r: { receipt: Cell; signature: Buffer },
        value = toNano('0.05'),
    ) => session.send(from.getSender(), { value }, { $$type: 'ClaimUsage', queryId: 5n, receipt: r.receipt, signature: r.signature });

    const finalize = (session: SandboxContract<Session>, from: SandboxContract<TreasuryContract>, value = toNano('0.2')) =>
        session.send(from.getSender(), { value }, { $$type: 'FinalizeSession', queryId: 6n });

    describe('opening', () => {
        it('escrows the budget, locks collateral at the Provider and fixes the terms', async () => {
            const client = await p.blockchain.treasury('client');
            const session = await sessionFor(p.root.address, prov.owner.address, client.address, 1n);
            await snapshot(client.address, session.address);
            const { result, session: opened } = await openAccepted();
            expect(result.transactions).toHaveTransaction({ from: client.address, to: opened.address, deploy: true, success: true });
            expect(result.transactions).toHaveTransaction({ from: opened.address, to: prov.provider.address, success: true });
            expect(result.transactions).toHaveTransaction({ from: opened.address, to: client.address, success: true }); // excess
            expect(await opened.getStatus()).toBe(SESSION_OPEN);
            expect(await opened.getClientKeyHash()).toBe(clientKeyHashOf(CLIENT_SESSION_KEY));
            const budget = await opened.getBudget();
            expect(budget).toBeGreaterThan(toNano('9.9'));
            expect(budget).toBeLessThan(toNano('10'));
            expect(await prov.provider.getLocked()).toBe(collateralOf(budget));
            const terms = (await opened.getTerms())!;
            expect(terms.payee.equals(prov.owner.address)).toBe(true);
            const settlement = (await opened.getSettlement())!;
            expect(settlement.root.equals(p.root.address)).toBe(true);
            expect(settlement.collateral).toBe(collateralOf(budget));
            expect(terms.prices.completion).toBe(PRICES.completion);
            expect(terms.signingKey).toBe(BigInt('0x' + prov.enclave.signing.publicKey.toString('hex')));
            // the Session holds the budget and its reserve, nothing less
            expect((await p.blockchain.getContract(opened.address)).balance).toBeGreaterThanOrEqual(budget + SESSION_STORAGE_RESERVE);
            expect(eventOpcodes(result.transactions)).toContain(0xc0c09201);
            await ledger.expectConserved(result.transactions);
        });

        it('collateral locked by an open session cannot be unstaked', async () => {
            await openAccepted();
            const stake = await prov.provider.getStake();
            const locked = await prov.provider.getLocked();
            const free = await prov.provider.getFreeStake();
            expect(free).toBe(stake - locked - TEST_PARAMS.minProviderStake);
            const r = await prov.provider.send(
                prov.owner.getSender(),
                { value: toNano('0.05') },
                { $$type: 'RequestUnstake', queryId: 0n, amount: free + 1n },
            );
            expect(r.transactions).toHaveTransaction({ to: prov.provider.address, exitCode: Number(ERR_INSUFFICIENT_FREE_STAKE) });
            // even an exiting provider keeps the locked collateral bonded
            await prov.provider.send(prov.owner.getSender(), { value: toNano('0.05') }, { $$type: 'ExitProvider', queryId: 0n });
            expect(await prov.provider.getFreeStake()).toBe(stake - locked);
            const all = await prov.provider.send(
                prov.owner.getSender(),
                { value: toNano('0.05') },
                { $$type: 'RequestUnstake', queryId: 0n, amount: stake },
            );
            expect(all.transactions).toHaveTransaction({ to: prov.provider.address, exitCode: Number(ERR_INSUFFICIENT_FREE_STAKE) });
        });

        // Each refusal: the Provider's exit code, a bounce, the client refunded, nothing locked,
        // and the session gone (the nonce can be used again).
        async function expectRefused(opened: Awaited<ReturnType<typeof sendOpenSession>>, exitCode: bigint, value = toNano('10')) {
            const { result, session, client } = opened;
            expect(result.transactions).toHaveTransaction({
                from: session.address,
                to: prov.provider.address,
                success: false,
                exitCode: Number(exitCode),
            });
            expect(result.transactions).toHaveTransaction({
                from: prov.provider.address,
                to: session.address,
                inMessageBounced: true,
                success: true,
            });
            expect(result.transactions).toHaveTransaction({
                from: session.address,
                to: client.address,
                value: (v) => v! > value - toNano('0.1'),
            });
            expect(await prov.provider.getLocked()).toBe(0n);
            expect((await p.blockchain.getContract(session.address)).accountState?.type).not.toBe('active');
        }

        it('refused by a paused provider', async () => {
            await prov.provider.send(prov.owner.getSender(), { value: toNano('0.05') }, { $$type: 'PauseProvider', queryId: 0n });
            const client = await p.blockchain.treasury('client');
            await snapshot(client.address, (await sessionFor(p.root.address, prov.owner.address, client.address, 1n)).address);
            const opened = await sendOpenSession(p, prov.owner.address);
            await expectRefused(opened, ERR_PROVIDER_UNAVAILABLE);
            await ledger.expectConserved(opened.result.transactions);
        });

        it('refused by a provider never attested', async () => {
            const bare = await registerProvider(p, 'bare-owner');
            const opened = await sendOpenSession(p, bare.owner.address);
            expect(opened.result.transactions).toHaveTransaction({ to: bare.provider.address, exitCode: Number(ERR_NOT_ATTESTED) });
            expect(opened.result.transactions).toHaveTransaction({
                from: opened.session.address,
                to: opened.client.address,
                value: (v) => v! > toNano('9.9'),
            });
        });

        it('refused once the attestation expired', async () => {
            p.blockchain.now! += 12 * 3600 + 1;
            await expectRefused(await sendOpenSession(p, prov.owner.address), ERR_NOT_ATTESTED);
        });

        it('refused for a model the provider does not list', async () => {
            await expectRefused(await sendOpenSession(p, prov.owner.address, { model: 'not/listed' }), ERR_MODEL_NOT_LISTED);
        });

        it('refused for a listed model whose hash is not the one the enclave is attested to serve', async () => {
            // the owner relists Qwen as another model (a cheaper one, say) under the same name
            const listing = buildListing({
                ...TEST_LISTING,
                models: [{ ...TEST_LISTING.models[0], modelHash: OTHER_MODEL_HASH }, TEST_LISTING.models[1]],
            });
            const relisted = await prov.provider.send(
                prov.owner.getSender(),
                { value: toNano('0.05') },
                { $$type: 'UpdateListing', queryId: 0n, listing },
            );
            expect(relisted.transactions).toHaveTransaction({ to: prov.provider.address, success: true });
            await expectRefused(await sendOpenSession(p, prov.owner.address), ERR_MODEL_NOT_ATTESTED);
            // the model listed with the attested hash still opens
            const other = await sendOpenSession(p, prov.owner.address, { client: 'client-2', model: TEST_LISTING.models[1].name });
            expect(await other.session.getStatus()).toBe(SESSION_OPEN);
        });

        it('refused below the minimum budget', async () => {
            await expectRefused(await sendOpenSession(p, prov.owner.address, { value: toNano('1') }), ERR_BUDGET_TOO_SMALL, toNano('1'));
        });

        it('refused with a deadline in the past or beyond the maximum duration', async () => {
            await expectRefused(await sendOpenSession(p, prov.owner.address, { deadline: p.blockchain.now! }), ERR_INVALID_DEADLINE);
            const tooFar = p.blockchain.now! + Number(TEST_PARAMS.maxSessionDuration) + 1;
            await expectRefused(await sendOpenSession(p, prov.owner.address, { deadline: tooFar }), ERR_INVALID_DEADLINE);
        });

        it('refused when unlocked stake cannot cover the collateral', async () => {
            const stake = await prov.provider.getStake();
            // collateral is 20% of the budget: a budget of 5x the stake needs all of it and more
            const opened = await sendOpenSession(p, prov.owner.address, { value: stake * 5n + toNano('1') });
            expect(opened.result.transactions).toHaveTransaction({
                to: prov.provider.address,
                exitCode: Number(ERR_INSUFFICIENT_COLLATERAL),
            });
            expect(await prov.provider.getLocked()).toBe(0n);
        });

        it('a Provider that does not exist bounces and the client is refunded', async () => {
            const unregistered = new Address(0, Buffer.alloc(32, 7));
            const nowhere = (await providerForOwner(p.root.address, unregistered)).address;
            const opened = await sendOpenSession(p, unregistered);
            expect(opened.result.transactions).toHaveTransaction({ from: opened.session.address, to: nowhere, success: false });
            expect(opened.result.transactions).toHaveTransaction({
                from: opened.session.address,
                to: opened.client.address,
                value: (v) => v! > toNano('9.9'),
            });
        });

        it('only the client opens, once, with enough value', async () => {
            const client = await p.blockchain.treasury('client');
            const stranger = await p.blockchain.treasury('stranger');
            const session = p.blockchain.openContract(await sessionFor(p.root.address, prov.owner.address, client.address, 1n));
            const open = {
                $$type: 'OpenSession' as const,
                queryId: 0n,
                modelKey: 0n,
                deadline: BigInt(p.blockchain.now! + DAY),
                clientKeyHash: 0n,
            };
            let r = await session.send(stranger.getSender(), { value: toNano('10') }, open);
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_NOT_CLIENT) });
            r = await session.send(client.getSender(), { value: toNano('0.01') }, open);
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_VALUE_TOO_SMALL) });
            await openAccepted();
            r = await session.send(client.getSender(), { value: toNano('10') }, open);
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_SESSION_STATUS) });
        });

        it('messages between Session and Provider are authenticated', async () => {
            const { session } = await openAccepted();
            const attacker = await p.blockchain.treasury('attacker');
            let r = await session.send(
                attacker.getSender(),
                { value: toNano('1') },
                { $$type: 'SessionAccepted', queryId: 0n, collateral: 0n, terms: beginCell().endCell() },
            );
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_NOT_PROVIDER_CONTRACT) });
            r = await prov.provider.send(
                attacker.getSender(),
                { value: toNano('1') },
                {
                    $$type: 'LockCollateral',
                    queryId: 0n,
                    client: attacker.address,
                    nonce: 1n,
                    budget: toNano('1000'),
                    modelKey: 0n,
                    deadline: 0n,
                },
            );
            expect(r.transactions).toHaveTransaction({ to: prov.provider.address, exitCode: Number(ERR_NOT_SESSION) });
            const locked = await prov.provider.getLocked();
            r = await prov.provider.send(
                attacker.getSender(),
                { value: toNano('1') },
                {
                    $$type: 'ReleaseCollateral',
                    queryId: 0n,
                    client: attacker.address,
                    nonce: 1n,
                    collateral: locked,
                    settled: 0n,
                    timedOut: true,
                    payer: attacker.address,
                },
            );
            expect(r.transactions).toHaveTransaction({ to: prov.provider.address, exitCode: Number(ERR_NOT_SESSION) });
            expect(await prov.provider.getLocked()).toBe(locked);
        });
    });

    describe('claims', () => {
        let client: SandboxContract<TreasuryContract>;
        let session: SandboxContract<Session>;
        let relay: SandboxContract<TreasuryContract>;

        beforeEach(async () => {
            ({ client, session } = await openAccepted());
            relay = await p.blockchain.treasury('worker-hot-wallet');
        });

        it("pays the provider's owner the amount less the protocol fee, cumulatively", async () => {
            await snapshot(client.address, session.address, relay.address);
            const first = signedReceipt(p, session.address, prov.enclave, 1, 1_000_000n, 2_000_000n);
            const due1 = amountDue(tokens(1_000_000n, 2_000_000n), PRICES); // 0.45 TON
            const r1 = await claim(session, relay, first);
            expect(r1.transactions).toHaveTransaction({
                from: session.address,
                to: prov.owner.address,
                value: (v) => v! >= netOfFee(due1),
            });
            expect(await session.getClaimed()).toBe(due1);
            expect(await session.getSeqno()).toBe(1n);

            const second = signedReceipt(p, session.address, prov.enclave, 2, 3_000_000n, 5_000_000n);
            const due2 = amountDue(tokens(3_000_000n, 5_000_000n), PRICES);
            const ownerBefore = (await p.blockchain.getContract(prov.owner.address)).balance;
            const r2 = await claim(session, relay, second, toNano('0.02'));
            const paid = (await p.blockchain.getContract(prov.owner.address)).balance - ownerBefore;
            expect(paid).toBeGreaterThanOrEqual(netOfFee(due2) - netOfFee(due1));
            expect(paid).toBeLessThan(netOfFee(due2) - netOfFee(due1) + toNano('0.02'));
            expect(await session.getClaimed()).toBe(due2);
            expect(eventOpcodes(r2.transactions)).toEqual([]); // claims emit no event: ClaimUsage itself carries the receipt
            // the Session still holds the unclaimed budget
            expect((await p.blockchain.getContract(session.address)).balance).toBeGreaterThanOrEqual((await session.getBudget()) - due2);
            await ledger.expectConserved([...r1.transactions, ...r2.transactions]);
        });

        it('prices each of the four token classes at its own price; an amount priced any other way is refused', async () => {
            // 1M prompt tokens of which 400k cached, 2M completion tokens of which 500k reasoning
            const parts = { cached: 400_000n, reasoning: 500_000n };
            const expected =
                (600_000n * PRICES.prompt + 400_000n * PRICES.cachedPrompt + 1_500_000n * PRICES.completion + 500_000n * PRICES.reasoning) /
                1_000_000n;
            expect(amountDue(tokens(1_000_000n, 2_000_000n, parts), PRICES)).toBe(expected); // 0.5 TON
            // each class priced as another: cached as prompt, reasoning as completion, and no parts at all
            for (const wrong of [
                (600_000n * PRICES.prompt + 400_000n * PRICES.prompt + 1_500_000n * PRICES.completion + 500_000n * PRICES.reasoning) /
                    1_000_000n,
                (600_000n * PRICES.prompt + 400_000n * PRICES.cachedPrompt + 2_000_000n * PRICES.completion) / 1_000_000n,
                expected + 1n,
                expected - 1n,
            ]) {
                const r = await claim(
                    session,
                    relay,
                    signedReceipt(p, session.address, prov.enclave, 1, 1_000_000n, 2_000_000n, { ...partsOf(parts), amountDue: wrong }),
                );
                expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_AMOUNT_MISMATCH) });
            }
            const r = await claim(
                session,
                relay,
                signedReceipt(p, session.address, prov.enclave, 1, 1_000_000n, 2_000_000n, partsOf(parts)),
            );
            expect(r.transactions).toHaveTransaction({
                from: session.address,
                to: prov.owner.address,
                value: (v) => v! >= netOfFee(expected),
            });
            expect(await session.getClaimed()).toBe(expected);
        });

        it('refuses a stale seqno or a lower amount', async () => {
            await claim(session, relay, signedReceipt(p, session.address, prov.enclave, 2, 1_000_000n, 1_000_000n));
            let r = await claim(session, relay, signedReceipt(p, session.address, prov.enclave, 2, 2_000_000n, 2_000_000n));
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_STALE_RECEIPT) });
            r = await claim(session, relay, signedReceipt(p, session.address, prov.enclave, 1, 5_000_000n, 5_000_000n));
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_STALE_RECEIPT) });
            r = await claim(session, relay, signedReceipt(p, session.address, prov.enclave, 3, 500_000n, 500_000n));
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_STALE_RECEIPT) });
            expect(await session.getSeqno()).toBe(2n);
        });

        it('refuses a receipt for another session or network', async () => {
            const other = await sessionFor(p.root.address, prov.owner.address, client.address, 2n);
            let r = await claim(session, relay, signedReceipt(p, session.address, prov.enclave, 1, 1n, 1n, { session: other.address }));
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_RECEIPT_OTHER_SESSION) });
            r = await claim(session, relay, signedReceipt(p, session.address, prov.enclave, 1, 1n, 1n, { globalId: GLOBAL_ID_TESTNET }));
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_RECEIPT_OTHER_SESSION) });
        });

        it('refuses a cell that is not a receipt', async () => {
            const good = signedReceipt(p, session.address, prov.enclave, 1, 1n, 1n);
            const fields = (await import('../wrappers')).parseUsageReceipt(good.receipt);
            const wrong = beginCell()
                .store(
                    storeUsageReceipt({
                        $$type: 'UsageReceipt',
                        ...fields,
                        tag: RECEIPT_TAG + 1n,
                        globalId: BigInt(fields.globalId),
                        openedAt: BigInt(fields.openedAt),
                        seqno: BigInt(fields.seqno),
                        lastRequestAt: BigInt(fields.lastRequestAt),
                    }),
                )
                .endCell();
            const r = await claim(session, relay, { receipt: wrong, signature: good.signature });
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_RECEIPT_TAG) });
        });

        it('refuses a receipt not signed by the attested enclave key', async () => {
            const forged = signedReceipt(p, session.address, makeEnclave('another-enclave'), 1, 1_000_000n, 1_000_000n);
            const r = await claim(session, relay, forged);
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_RECEIPT_SIGNATURE) });
            expect(await session.getClaimed()).toBe(0n);
        });

        it('refuses an amount that does not match the listed prices', async () => {
            const due = amountDue(tokens(1_000_000n, 1_000_000n), PRICES);
            const r = await claim(
                session,
                relay,
                signedReceipt(p, session.address, prov.enclave, 1, 1_000_000n, 1_000_000n, { amountDue: due + 1n }),
            );
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_AMOUNT_MISMATCH) });
        });

        it('refuses an amount above the budget', async () => {
            const budget = await session.getBudget();
            const tokensOut = (budget * 1_000_000n) / PRICES.completion + 1_000_000n;
            const r = await claim(session, relay, signedReceipt(p, session.address, prov.enclave, 1, 0n, tokensOut));
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_OVER_BUDGET) });
        });

        it('refuses a claim whose value cannot pay its gas', async () => {
            const r = await claim(session, relay, signedReceipt(p, session.address, prov.enclave, 1, 1n, 1n), toNano('0.002'));
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_VALUE_TOO_SMALL) });
        });

        it('the client tops up while open, nobody else', async () => {
            const budget = await session.getBudget();
            const stranger = await p.blockchain.treasury('stranger');
            let r = await session.send(stranger.getSender(), { value: toNano('5') }, { $$type: 'TopUpSession', queryId: 0n });
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_NOT_CLIENT) });
            r = await session.send(client.getSender(), { value: toNano('0.0019') }, { $$type: 'TopUpSession', queryId: 0n });
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_VALUE_TOO_SMALL) });
            r = await session.send(client.getSender(), { value: toNano('5') }, { $$type: 'TopUpSession', queryId: 0n });
            expect(r.transactions).toHaveTransaction({ to: session.address, success: true });
            expect(await session.getBudget()).toBeGreaterThan(budget + toNano('4.99'));
            await session.send(client.getSender(), { value: toNano('0.05') }, { $$type: 'CloseSession', queryId: 0n });
            r = await session.send(client.getSender(), { value: toNano('5') }, { $$type: 'TopUpSession', queryId: 0n });
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_SESSION_STATUS) });
        });
    });

    describe('closing and finalizing', () => {
        let client: SandboxContract<TreasuryContract>;
        let session: SandboxContract<Session>;

        beforeEach(async () => {
            ({ client, session } = await openAccepted());
        });

        it('a whole lifecycle: claim, close, final claim in the grace window, finalize; TON conserved', async () => {
            const budget = await session.getBudget();
            const collateral = collateralOf(budget);
            const stakeBefore = await prov.provider.getStake();
            await snapshot(client.address, session.address);
            const txs = [];
            txs.push(
                ...(await claim(session, prov.owner, signedReceipt(p, session.address, prov.enclave, 1, 2_000_000n, 1_000_000n)))
                    .transactions,
            );
            p.blockchain.now! += 600;
            const close = await session.send(client.getSender(), { value: toNano('0.05') }, { $$type: 'CloseSession', queryId: 0n });
            txs.push(...close.transactions);
            expect(await session.getStatus()).toBe(SESSION_CLOSING);
            p.blockchain.now! += GRACE; // last second of the grace window
            const final = signedReceipt(p, session.address, prov.enclave, 2, 4_000_000n, 3_000_000n);
            txs.push(...(await claim(session, prov.owner, final)).transactions);
            const claimed = amountDue(tokens(4_000_000n, 3_000_000n), PRICES);
            expect(await session.getClaimed()).toBe(claimed);

            const early = await finalize(session, client);
            expect(early.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_TOO_EARLY) });
            txs.push(...early.transactions);
            p.blockchain.now! += 1;
            const late = await claim(session, prov.owner, signedReceipt(p, session.address, prov.enclave, 3, 5_000_000n, 3_000_000n));
            expect(late.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_CLAIM_WINDOW_OVER) });
            txs.push(...late.transactions);

            const stranger = await p.blockchain.treasury('finalizer');
            await ledger.snapshot([stranger.address]);
            const done = await finalize(session, stranger);
            txs.push(...done.transactions);
            expect(done.transactions).toHaveTransaction({ from: session.address, to: p.root.address, success: true });
            expect(done.transactions).toHaveTransaction({ from: session.address, to: prov.provider.address, success: true });
            expect(done.transactions).toHaveTransaction({
                from: session.address,
                to: client.address,
                value: (v) => v! >= budget - claimed,
            });
            expect(await session.getStatus()).toBe(SESSION_FINALIZED);
            expect(await prov.provider.getLocked()).toBe(0n);
            expect(await prov.provider.getStake()).toBe(stakeBefore);
            const stats = await prov.provider.getStats();
            expect([stats.sessionsServed, stats.settled]).toEqual([1n, claimed]);
            expect(await p.root.getTreasury()).toBe(claimed - netOfFee(claimed));
            // the tombstone keeps its storage reserve and nothing else
            expect((await p.blockchain.getContract(session.address)).balance).toBeLessThanOrEqual(SESSION_STORAGE_RESERVE);
            expect(collateral).toBeGreaterThan(0n);
            await ledger.expectConserved(txs);

            // a claim after the refund is refused, and so is a second finalize
            const after = await claim(session, prov.owner, signedReceipt(p, session.address, prov.enclave, 4, 6_000_000n, 3_000_000n));
            expect(after.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_SESSION_STATUS) });
            const again = await finalize(session, client);
            expect(again.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_SESSION_STATUS) });
        });

        it('the treasury can pay out the fees it received', async () => {
            await claim(session, prov.owner, signedReceipt(p, session.address, prov.enclave, 1, 0n, 10_000_000n));
            await session.send(client.getSender(), { value: toNano('0.05') }, { $$type: 'CloseSession', queryId: 0n });
            p.blockchain.now! += GRACE + 1;
            await finalize(session, client);
            const treasury = await p.root.getTreasury();
            expect(treasury).toBeGreaterThan(0n);
            const to = await p.blockchain.treasury('fee-recipient');
            const r = await p.root.send(
                p.governance.getSender(),
                { value: toNano('0.05') },
                { $$type: 'WithdrawTreasury', queryId: 0n, amount: treasury, to: to.address },
            );
            expect(r.transactions).toHaveTransaction({ from: p.root.address, to: to.address, value: (v) => v! >= treasury });
            expect(await p.root.getTreasury()).toBe(0n);
        });

        it('only the client closes, and only an open session', async () => {
            const stranger = await p.blockchain.treasury('stranger');
            let r = await session.send(stranger.getSender(), { value: toNano('0.05') }, { $$type: 'CloseSession', queryId: 0n });
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_NOT_CLIENT) });
            await session.send(client.getSender(), { value: toNano('0.05') }, { $$type: 'CloseSession', queryId: 0n });
            r = await session.send(client.getSender(), { value: toNano('0.05') }, { $$type: 'CloseSession', queryId: 0n });
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_SESSION_STATUS) });
        });

        it('claims end at deadline + grace even if nobody closes', async () => {
            await claim(session, prov.owner, signedReceipt(p, session.address, prov.enclave, 1, 1_000_000n, 0n));
            const deadline = Number(await session.getDeadline());
            p.blockchain.now = deadline + GRACE;
            let r = await claim(session, prov.owner, signedReceipt(p, session.address, prov.enclave, 2, 2_000_000n, 0n));
            expect(r.transactions).toHaveTransaction({ to: session.address, success: true });
            r = await finalize(session, client);
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_TOO_EARLY) });
            p.blockchain.now = deadline + GRACE + 1;
            r = await claim(session, prov.owner, signedReceipt(p, session.address, prov.enclave, 3, 3_000_000n, 0n));
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_CLAIM_WINDOW_OVER) });
            r = await finalize(session, client);
            expect(r.transactions).toHaveTransaction({ to: session.address, success: true });
            expect(await prov.provider.getLocked()).toBe(0n);
        });

        // A worker that has not seen the close yet may serve a request after it: that usage is never
        // paid. Receipts carry when their last request was accepted.
        it('never pays for a request accepted after the close, nor after the deadline', async () => {
            const openedAt = Number(await session.getOpenedAt());
            const before = signedReceipt(p, session.address, prov.enclave, 1, 1_000_000n, 0n, { lastRequestAt: openedAt + 10 });
            p.blockchain.now = openedAt + 10;
            await session.send(client.getSender(), { value: toNano('0.05') }, { $$type: 'CloseSession', queryId: 0n });
            const closedAt = Number(await session.getClosedAt());
            // one second after the close: refused, whoever claims it, even in the grace window
            const after = signedReceipt(p, session.address, prov.enclave, 2, 2_000_000n, 0n, { lastRequestAt: closedAt + 1 });
            let r = await claim(session, prov.owner, after);
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_SERVED_AFTER_END) });
            expect(await session.getClaimed()).toBe(0n);
            // the receipt before it is paid; one accepted in the second of the close too
            r = await claim(session, prov.owner, before);
            expect(r.transactions).toHaveTransaction({ from: session.address, to: prov.owner.address, success: true });
            const atClose = signedReceipt(p, session.address, prov.enclave, 2, 1_500_000n, 0n, { lastRequestAt: closedAt });
            r = await claim(session, prov.owner, atClose);
            expect(r.transactions).toHaveTransaction({ to: session.address, success: true });
            expect(await session.getClaimed()).toBe(amountDue(tokens(1_500_000n, 0n), PRICES));
        });

        it('never pays for a request accepted after the deadline of a session never closed', async () => {
            const deadline = Number(await session.getDeadline());
            p.blockchain.now = deadline + 1;
            let r = await claim(
                session,
                prov.owner,
                signedReceipt(p, session.address, prov.enclave, 1, 1n, 0n, { lastRequestAt: deadline + 1 }),
            );
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_SERVED_AFTER_END) });
            r = await claim(session, prov.owner, signedReceipt(p, session.address, prov.enclave, 1, 1n, 0n, { lastRequestAt: deadline }));
            expect(r.transactions).toHaveTransaction({ to: session.address, success: true });
        });

        it('refuses a finalize whose value cannot pay for the messages it sends', async () => {
            await session.send(client.getSender(), { value: toNano('0.05') }, { $$type: 'CloseSession', queryId: 0n });
            p.blockchain.now! += GRACE + 1;
            const r = await finalize(session, client, toNano('0.01'));
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_VALUE_TOO_SMALL) });
            expect(await session.getStatus()).toBe(SESSION_CLOSING);
        });

        // Whoever ends a session pays only what ending it costs. (Before, the finalizer's unused
        // value went to the client too: a client who left its session for the worker to end was
        // paid for it.)
        it("someone else finalizes: the unclaimed escrow to the client, the rest of the finalizer's value back to it; TON conserved", async () => {
            const budget = await session.getBudget();
            await claim(session, prov.owner, signedReceipt(p, session.address, prov.enclave, 1, 2_000_000n, 1_000_000n));
            const claimed = amountDue(tokens(2_000_000n, 1_000_000n), PRICES);
            await session.send(client.getSender(), { value: toNano('0.05') }, { $$type: 'CloseSession', queryId: 0n });
            p.blockchain.now! += GRACE + 1;
            const worker = await p.blockchain.treasury('worker');
            await snapshot(client.address, session.address, worker.address);
            const held = (await p.blockchain.getContract(session.address)).balance;
            const value = toNano('0.2');
            const r = await finalize(session, worker, value);
            expect(await session.getStatus()).toBe(SESSION_FINALIZED);
            // the client: the balance before the finalize, less the tombstone's reserve and the
            // protocol fee (the unclaimed budget, and the dust the opening left), in one message
            const fee = claimed - netOfFee(claimed);
            const escrow = escrowOwed(r.transactions, session.address, held, fee);
            expect(escrow).toBeGreaterThanOrEqual(budget - claimed);
            expect(escrow).toBeLessThan(budget - claimed + toNano('0.01'));
            expect(valuesSent(r.transactions, session.address, client.address)).toEqual([escrow]);
            // the finalizer: its value less the settlement's fees
            expect(valuesSent(r.transactions, session.address, worker.address)).toHaveLength(1);
            expect(value - valueReceived(r.transactions, worker.address)).toBeLessThan(toNano('0.025'));
            // (the release leg's excess too: the Provider sends it to the finalizer, not the client)
            expect(valuesSent(r.transactions, prov.provider.address, worker.address)).toHaveLength(1);
            expect(valuesSent(r.transactions, prov.provider.address, client.address)).toEqual([]);
            expect(await p.root.getTreasury()).toBe(fee);
            expect(await prov.provider.getLocked()).toBe(0n);
            expect((await p.blockchain.getContract(session.address)).balance).toBe(SESSION_STORAGE_RESERVE);
            await ledger.expectConserved(r.transactions);
        });

        // Storage fees come out of the escrow; a session whose whole budget was claimed and that
        // was left long enough has rent beyond it. Whoever ends it pays that out of its value, or
        // is refused with its value back (a failure of the actions instead would leave the value in
        // the Session, for the client).
        it('a session left until its rent ate the escrow: the finalizer pays the shortfall, or is refused and keeps its value', async () => {
            const budget = await session.getBudget();
            const promptTokens = budget / (PRICES.prompt / 1_000_000n); // the whole budget, to 50 nanotons
            await claim(session, prov.owner, signedReceipt(p, session.address, prov.enclave, 1, promptTokens, 0n));
            const claimed = await session.getClaimed();
            expect(budget - claimed).toBeLessThan(100n);
            p.blockchain.now = Number(await session.getDeadline()) + GRACE + 2 * 365 * DAY;
            const worker = await p.blockchain.treasury('worker');
            let r = await finalize(session, worker, FINALIZE_ABANDONED_VALUE);
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_VALUE_TOO_SMALL) });
            expect(await session.getStatus()).toBe(SESSION_OPEN);
            expect(valueReceived(r.transactions, worker.address)).toBeGreaterThan(FINALIZE_ABANDONED_VALUE - toNano('0.01')); // the bounce
            r = await finalize(session, worker, toNano('0.2'));
            expect(await session.getStatus()).toBe(SESSION_FINALIZED);
            expect(valuesSent(r.transactions, session.address, client.address)).toEqual([]); // nothing left of the escrow
            expect(await p.root.getTreasury()).toBe(claimed - netOfFee(claimed)); // the whole protocol fee
            expect((await p.blockchain.getContract(session.address)).balance).toBe(SESSION_STORAGE_RESERVE);
        });

        it('refuses a finalizer off the basechain: the change it gets back is priced for the basechain', async () => {
            await claim(session, prov.owner, signedReceipt(p, session.address, prov.enclave, 1, 0n, 0n));
            await session.send(client.getSender(), { value: toNano('0.05') }, { $$type: 'CloseSession', queryId: 0n });
            p.blockchain.now! += GRACE + 1;
            const masterchain = await p.blockchain.treasury('mc-finalizer', { workchain: -1 });
            const r = await finalize(session, masterchain);
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: 138 }); // not a basechain address
            expect(await session.getStatus()).toBe(SESSION_CLOSING);
        });

        it('the client finalizes: one refund, its escrow and its change together', async () => {
            await claim(session, prov.owner, signedReceipt(p, session.address, prov.enclave, 1, 0n, 0n)); // (acknowledged: no timeout)
            await session.send(client.getSender(), { value: toNano('0.05') }, { $$type: 'CloseSession', queryId: 0n });
            p.blockchain.now! += GRACE + 1;
            const held = (await p.blockchain.getContract(session.address)).balance;
            const value = toNano('0.2');
            const r = await finalize(session, client, value);
            expect(valuesSent(r.transactions, session.address, client.address)).toHaveLength(1);
            const escrow = escrowOwed(r.transactions, session.address, held);
            const spent = escrow + value - valueReceived(r.transactions, client.address); // the settlement's fees
            expect(spent).toBeGreaterThan(0n);
            expect(spent).toBeLessThan(toNano('0.025'));
            expect((await p.blockchain.getContract(session.address)).balance).toBe(SESSION_STORAGE_RESERVE);
        });
    });

    // A timeout is a session with no receipt at all claimed by the end of its claim window. A
    // provider online for the session acknowledges it with a zero receipt, so a client's choice of
    // deadline, budget or silence never makes an honest provider lose stake; one that never
    // answers loses timeoutSlashBps of the collateral, all to the treasury.
    describe('timeout', () => {
        const windowEnd = async (session: SandboxContract<Session>) =>
            Number(await session.getDeadline()) + Number((await session.getTerms())!.closeGracePeriod);

        it('no receipt claimed by the end of the claim window: whole budget back, collateral slashed to the treasury', async () => {
            const { client, session } = await openAccepted();
            const budget = await session.getBudget();
            const collateral = collateralOf(budget);
            const stakeBefore = await prov.provider.getStake();
            const stranger = await p.blockchain.treasury('stranger');
            await snapshot(client.address, session.address, stranger.address);
            p.blockchain.now = (await windowEnd(session)) + 1;

            const held = (await p.blockchain.getContract(session.address)).balance;
            const finalizeValue = toNano('0.2');
            const r = await finalize(session, stranger, finalizeValue); // anyone may finalize; the refund goes to the client
            const slashed = (collateral * TEST_PARAMS.timeoutSlashBps) / BPS;
            expect(await prov.provider.getStake()).toBe(stakeBefore - slashed);
            expect(await prov.provider.getLocked()).toBe(0n);
            expect(await p.root.getTreasury()).toBe(slashed); // no reporter reward, no compensation
            const stats = await prov.provider.getStats();
            expect([stats.slashed, stats.slashCount, stats.timeoutCount]).toEqual([slashed, 1n, 1n]);
            // the client got its budget back (and the dust the opening left) and nothing from the
            // slash; the finalizer the rest of its value
            const escrow = escrowOwed(r.transactions, session.address, held);
            expect(escrow).toBeGreaterThanOrEqual(budget);
            expect(escrow).toBeLessThan(budget + toNano('0.01'));
            expect(valuesSent(r.transactions, session.address, client.address)).toEqual([escrow]);
            expect(valuesSent(r.transactions, session.address, stranger.address)).toHaveLength(1);
            expect(finalizeValue - valueReceived(r.transactions, stranger.address)).toBeLessThan(toNano('0.025'));
            expect(valuesSent(r.transactions, prov.provider.address, stranger.address)).toHaveLength(1);
            expect(valuesSent(r.transactions, prov.provider.address, client.address)).toEqual([]);
            expect(eventOpcodes(r.transactions)).toContain(0xc0c09105);
            expect((await p.blockchain.getContract(prov.provider.address)).balance).toBeGreaterThanOrEqual(await prov.provider.getStake());
            await ledger.expectConserved(r.transactions);
        });

        it('instant-timeout farming fails: deadline now + 1, budget ~5x the free stake, the provider acknowledges', async () => {
            const free = (await prov.provider.getStake()) - TEST_PARAMS.minProviderStake;
            const value = (free * BPS) / TEST_PARAMS.collateralBps; // collateral = all the free stake
            const { client, session } = await openAccepted({ value, deadline: p.blockchain.now! + 1 });
            const stake = await prov.provider.getStake();
            const clientBefore = (await p.blockchain.getContract(client.address)).balance;
            p.blockchain.now! += 2;
            // a timeout finalize at once is refused: the claim window is still open
            let r = await finalize(session, client);
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_TOO_EARLY) });
            // the worker acknowledges within the grace period: a zero receipt
            r = await claim(session, prov.owner, signedReceipt(p, session.address, prov.enclave, 1, 0n, 0n));
            expect(r.transactions).toHaveTransaction({ to: session.address, success: true });
            p.blockchain.now = (await windowEnd(session)) + 1;
            r = await finalize(session, client);
            expect(r.transactions).toHaveTransaction({ to: prov.provider.address, success: true });
            expect(await prov.provider.getStake()).toBe(stake);
            expect(await prov.provider.getLocked()).toBe(0n);
            expect((await prov.provider.getStats()).timeoutCount).toBe(0n);
            // the client leaves with at most what it put in
            expect((await p.blockchain.getContract(client.address)).balance).toBeLessThanOrEqual(
                clientBefore + (await session.getBudget()),
            );
        });

        it('a finalize never shortens the claim window: a receipt claims at deadline + 2, inside the grace period', async () => {
            const { client, session } = await openAccepted({ deadline: p.blockchain.now! + 60 });
            const deadline = Number(await session.getDeadline());
            p.blockchain.now = deadline + 1;
            let r = await finalize(session, client);
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_TOO_EARLY) });
            p.blockchain.now = deadline + 2;
            r = await claim(session, prov.owner, signedReceipt(p, session.address, prov.enclave, 1, 1_000_000n, 0n));
            expect(r.transactions).toHaveTransaction({ to: prov.owner.address, from: session.address });
            expect(await session.getSeqno()).toBe(1n);
            p.blockchain.now = (await windowEnd(session)) + 1;
            const stake = await prov.provider.getStake();
            await finalize(session, client);
            expect(await prov.provider.getStake()).toBe(stake); // served: no slash
        });

        it('closing at once still leaves the provider the whole grace period to acknowledge', async () => {
            const { client, session } = await openAccepted();
            await session.send(client.getSender(), { value: toNano('0.05') }, { $$type: 'CloseSession', queryId: 0n });
            const closedAt = Number(await session.getClosedAt());
            p.blockchain.now = closedAt + GRACE;
            let r = await finalize(session, client);
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_TOO_EARLY) });
            r = await claim(session, prov.owner, signedReceipt(p, session.address, prov.enclave, 1, 0n, 0n));
            expect(r.transactions).toHaveTransaction({ to: session.address, success: true });
            p.blockchain.now = closedAt + GRACE + 1;
            r = await claim(session, prov.owner, signedReceipt(p, session.address, prov.enclave, 2, 1n, 0n));
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_CLAIM_WINDOW_OVER) });
            const stake = await prov.provider.getStake();
            await finalize(session, client);
            expect(await prov.provider.getStake()).toBe(stake);
            expect(await session.getStatus()).toBe(SESSION_FINALIZED);
        });

        it('is not a timeout once the provider claimed', async () => {
            const { client, session } = await openAccepted();
            await claim(session, prov.owner, signedReceipt(p, session.address, prov.enclave, 1, 1_000_000n, 0n));
            const stake = await prov.provider.getStake();
            p.blockchain.now = (await windowEnd(session)) + 1;
            await finalize(session, client);
            expect(await prov.provider.getStake()).toBe(stake);
            expect((await prov.provider.getStats()).timeoutCount).toBe(0n);
        });
    });

    // An escrow the Provider never answered (a stand-in at the Provider's address that swallows
    // LockCollateral) comes back to the client after OPENING_TIMEOUT; a late acceptance bounces and
    // the Provider unlocks its collateral again.
    describe('an escrow never accepted', () => {
        it('the client takes it back OPENING_TIMEOUT after opening, not before', async () => {
            const restore = await installStandIn(p.blockchain, prov.provider.address, 'swallow');
            const client = await p.blockchain.treasury('client');
            const session = p.blockchain.openContract(await sessionFor(p.root.address, prov.owner.address, client.address, 1n));
            await snapshot(client.address, session.address);
            p.blockchain.now! += 1; // the swallowing stand-in pays no storage fee in the same second
            const opened = await sendOpenSession(p, prov.owner.address);
            expect(await session.getStatus()).toBe(SESSION_OPENING);
            const budget = await session.getBudget();
            p.blockchain.now! += Number(OPENING_TIMEOUT) - 1;
            const early = await finalize(session, client, toNano('0.05'));
            expect(early.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_TOO_EARLY) });
            p.blockchain.now! += 1;
            const before = (await p.blockchain.getContract(client.address)).balance;
            const r = await finalize(session, client, toNano('0.05'));
            expect(r.transactions).toHaveTransaction({ from: session.address, to: client.address, value: (v) => v! > budget });
            expect(await session.getStatus()).toBe(SESSION_FINALIZED);
            // the whole budget back (less the gas of taking it back, paid from the 0.05 TON attached)
            expect((await p.blockchain.getContract(client.address)).balance - before).toBeGreaterThan(budget - toNano('0.01'));
            await ledger.expectConserved([...opened.result.transactions, ...early.transactions, ...r.transactions]);
            await restore();
        });

        it('someone else takes it back for the client: the escrow to the client, the rest of its value to it', async () => {
            const restore = await installStandIn(p.blockchain, prov.provider.address, 'swallow');
            const client = await p.blockchain.treasury('client');
            const session = p.blockchain.openContract(await sessionFor(p.root.address, prov.owner.address, client.address, 1n));
            p.blockchain.now! += 1;
            await sendOpenSession(p, prov.owner.address);
            const budget = await session.getBudget();
            p.blockchain.now! += Number(OPENING_TIMEOUT);
            const stranger = await p.blockchain.treasury('stranger');
            await snapshot(client.address, session.address, stranger.address);
            const held = (await p.blockchain.getContract(session.address)).balance;
            const value = toNano('0.05');
            const r = await finalize(session, stranger, value);
            expect(await session.getStatus()).toBe(SESSION_FINALIZED);
            const escrow = escrowOwed(r.transactions, session.address, held);
            expect(escrow).toBeGreaterThanOrEqual(budget);
            expect(valuesSent(r.transactions, session.address, client.address)).toEqual([escrow]);
            expect(valuesSent(r.transactions, session.address, stranger.address)).toHaveLength(1);
            expect(value - valueReceived(r.transactions, stranger.address)).toBeLessThan(toNano('0.006'));
            expect((await p.blockchain.getContract(session.address)).balance).toBe(SESSION_STORAGE_RESERVE);
            await ledger.expectConserved(r.transactions);
            await restore();
        });

        it('an escrow of a few nanotons left for years: the canceller pays the rent beyond it, or is refused', async () => {
            const restore = await installStandIn(p.blockchain, prov.provider.address, 'swallow');
            p.blockchain.now! += 1;
            const probe = await sendOpenSession(p, prov.owner.address, { client: 'probe' });
            const openingCost = toNano('10') - (await probe.session.getBudget());
            const { session, client } = await sendOpenSession(p, prov.owner.address, { value: openingCost + 1000n });
            expect(await session.getBudget()).toBe(1000n);
            p.blockchain.now! += 2 * 365 * DAY;
            const stranger = await p.blockchain.treasury('stranger');
            let r = await finalize(session, stranger, toNano('0.015')); // (a cancel's least value is about 0.0093 TON)
            expect(r.transactions).toHaveTransaction({ to: session.address, exitCode: Number(ERR_VALUE_TOO_SMALL) });
            expect(await session.getStatus()).toBe(SESSION_OPENING);
            r = await finalize(session, stranger, toNano('0.05'));
            expect(await session.getStatus()).toBe(SESSION_FINALIZED);
            expect(valuesSent(r.transactions, session.address, client.address)).toEqual([]);
            expect((await p.blockchain.getContract(session.address)).balance).toBe(SESSION_STORAGE_RESERVE);
            await restore();
        });

        it('a late acceptance bounces and the Provider unlocks the collateral', async () => {
            // the Provider is slow: LockCollateral is held back while the client cancels
            const client = await p.blockchain.treasury('client');
            const session = p.blockchain.openContract(await sessionFor(p.root.address, prov.owner.address, client.address, 1n));
            const restore = await installStandIn(p.blockchain, prov.provider.address, 'swallow');
            await sendOpenSession(p, prov.owner.address);
            p.blockchain.now! += Number(OPENING_TIMEOUT);
            await finalize(session, client, toNano('0.05'));
            await restore();
            // ...and now the genuine Provider processes the (replayed) LockCollateral
            const budget = await session.getBudget();
            const late = await p.blockchain.sendMessage(
                internal({
                    from: session.address,
                    to: prov.provider.address,
                    value: toNano('0.1'),
                    bounce: true,
                    body: beginCell()
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
                        .endCell(),
                }),
            );
            expect(late.transactions).toHaveTransaction({ from: session.address, to: prov.provider.address, success: true });
            expect(late.transactions).toHaveTransaction({
                from: prov.provider.address,
                to: session.address,
                success: false,
                exitCode: Number(ERR_SESSION_STATUS),
            });
            expect(late.transactions).toHaveTransaction({
                from: session.address,
                to: prov.provider.address,
                inMessageBounced: true,
                success: true,
            });
            expect(await prov.provider.getLocked()).toBe(0n);
            expect(await session.getStatus()).toBe(SESSION_FINALIZED);
        });
    });
});

describe('Root treasury deposits', () => {
    it('adds the amount to the treasury; refuses a value that does not cover it', async () => {
        const p = await deployProtocol();
        const donor = await p.blockchain.treasury('donor');
        let r = await p.root.send(
            donor.getSender(),
            { value: toNano('1') },
            { $$type: 'DepositTreasury', queryId: 0n, amount: toNano('2'), reason: 0n },
        );
        expect(r.transactions).toHaveTransaction({ to: p.root.address, exitCode: Number(ERR_VALUE_TOO_SMALL) });
        r = await p.root.send(
            donor.getSender(),
            { value: toNano('1.01') },
            { $$type: 'DepositTreasury', queryId: 0n, amount: toNano('1'), reason: 0n },
        );
        expect(r.transactions).toHaveTransaction({ to: p.root.address, success: true });
        expect(await p.root.getTreasury()).toBe(toNano('1'));
        expect(eventOpcodes(r.transactions)).toEqual([0xc0c09008]);
    });
});

const partsOf = (parts: { cached: bigint; reasoning: bigint }) => ({ cachedTokens: parts.cached, reasoningTokens: parts.reasoning });
