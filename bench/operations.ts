// Runs every contract operation once on the sandbox and measures it. Used by `npm run bench`
// (prints a table against bench/gas-history.json, appends to it) and by tests/gas.spec.ts (checks each handler
// against its GAS_* budget in contracts/constants.tact).
//
// A row per handler: `gas` is the compute gas of the transaction that ran it, `feesNano` what
// that transaction cost (its total fees plus the forward fees of the messages it sent) and
// `messages` how many messages it sent (internal and events). A row per flow (`flow.*`) sums
// every transaction the user's message started plus the forward fee of that message (a deploy's
// code included), the wallet's own gas excluded; `session.lifecycle` sums open, accept, one claim,
// close and finalize that way.
import { BlockchainTransaction, SandboxContract, TreasuryContract } from '@ton/sandbox';
import { Address, toNano } from '@ton/core';
import {
    GAS_PROVIDER_ATTESTATION_VERIFIED,
    GAS_PROVIDER_REGISTER,
    GAS_PROVIDER_REGISTRATION_CONFIRMED,
    GAS_PROVIDER_STAKE,
    GAS_PROVIDER_SUBMIT_ATTESTATION,
    GAS_PROVIDER_LOCK_COLLATERAL,
    GAS_PROVIDER_RELEASE_COLLATERAL,
    GAS_ROOT_DEPOSIT_TREASURY,
    GAS_SESSION_ACCEPTED,
    GAS_SESSION_CLAIM,
    GAS_SESSION_FINALIZE,
    GAS_SESSION_OPEN,
    GAS_SESSION_TOP_UP,
    GAS_SESSION_REPORT_EQUIVOCATION,
    GAS_SESSION_REVOCATION_VERIFIED,
    GAS_SESSION_SUBMIT_REVOCATION,
    GAS_PROVIDER_SLASH,
    GAS_PROVIDER_SUBMIT_REVOCATION,
    GAS_ROOT_REGISTER_PROVIDER,
    GAS_ROOT_VERIFY_ATTESTATION,
    MAX_UNBONDING_REQUESTS,
    MAX_VERIFIERS,
    OPENING_TIMEOUT,
    Provider,
    Root,
    buildListing,
    providerForOwner,
    accountOf,
    feesOf,
} from '../wrappers';
import {
    DAY,
    TEST_LISTING,
    deployProtocol,
    findTx,
    gasUsed,
    key256,
    makeEnclave,
    proofFields,
    seededKey,
    sendRegister,
    signedProof,
    submitAttestation,
    attestedProvider,
    sendOpenSession,
    signedReceipt,
    sendReportEquivocation,
    installStandIn,
    MODEL_HASH,
    signedRevocation,
} from '../testkit';

export interface Measurement {
    gas: number;
    feesNano: number;
    messages: number;
}

export type Measurements = Record<string, Measurement>;

// Handlers whose gas has a budget constant that entry messages charge for.
export const GAS_BUDGETS: Record<string, bigint> = {
    'provider.register': GAS_PROVIDER_REGISTER,
    'provider.register.maxListing': GAS_PROVIDER_REGISTER,
    'root.registerProvider': GAS_ROOT_REGISTER_PROVIDER,
    'provider.registrationConfirmed': GAS_PROVIDER_REGISTRATION_CONFIRMED,
    'provider.submitAttestation': GAS_PROVIDER_SUBMIT_ATTESTATION,
    'root.verifyAttestation': GAS_ROOT_VERIFY_ATTESTATION,
    'root.verifyAttestation.3of3': GAS_ROOT_VERIFY_ATTESTATION,
    'root.verifyAttestation.16of16': GAS_ROOT_VERIFY_ATTESTATION,
    'provider.attestationVerified': GAS_PROVIDER_ATTESTATION_VERIFIED,
    'provider.attestationVerified.refresh': GAS_PROVIDER_ATTESTATION_VERIFIED,
    'provider.stake': GAS_PROVIDER_STAKE,
    'session.open': GAS_SESSION_OPEN,
    'provider.lockCollateral': GAS_PROVIDER_LOCK_COLLATERAL,
    'session.accepted': GAS_SESSION_ACCEPTED,
    'session.claim': GAS_SESSION_CLAIM,
    'session.topUp': GAS_SESSION_TOP_UP,
    'session.finalize': GAS_SESSION_FINALIZE,
    'session.finalize.timeout': GAS_SESSION_FINALIZE,
    'session.finalize.byOther': GAS_SESSION_FINALIZE,
    'provider.releaseCollateral': GAS_PROVIDER_RELEASE_COLLATERAL,
    'provider.releaseCollateral.slash': GAS_PROVIDER_RELEASE_COLLATERAL,
    'root.depositTreasury': GAS_ROOT_DEPOSIT_TREASURY,
    'session.reportEquivocation': GAS_SESSION_REPORT_EQUIVOCATION,
    'provider.slashForEquivocation': GAS_PROVIDER_SLASH,
    'provider.submitRevocation': GAS_PROVIDER_SUBMIT_REVOCATION,
    'root.verifyRevocation': GAS_ROOT_VERIFY_ATTESTATION,
    'session.cancel': GAS_SESSION_FINALIZE,
    'provider.revocationVerified': GAS_PROVIDER_SLASH,
    'session.submitRevocation': GAS_SESSION_SUBMIT_REVOCATION,
    'session.revocationVerified': GAS_SESSION_REVOCATION_VERIFIED,
    'provider.slashForEquivocation.fullQueue': GAS_PROVIDER_SLASH,
    'provider.releaseCollateral.slashFullQueue': GAS_PROVIDER_RELEASE_COLLATERAL,
};

function measureTx(tx: BlockchainTransaction): Measurement {
    if (tx.description.type !== 'generic' || tx.description.aborted) {
        throw new Error(`benchmarked transaction failed at ${tx.address.toString(16)}`);
    }
    return { gas: Number(gasUsed(tx)), feesNano: Number(feesOf([tx])), messages: tx.outMessagesCount };
}

function flow(txs: BlockchainTransaction[], wallet: Address): Measurement {
    const isWallet = (t: BlockchainTransaction) => accountOf(t).equals(wallet);
    const rest = txs.filter((t) => !isWallet(t));
    for (const t of rest) measureTx(t); // throws on any failure
    // The wallet's own gas is the wallet's business, but forwarding the user's message (a deploy
    // carries the contract's code) is part of what the operation costs.
    const forwarding = txs
        .filter(isWallet)
        .reduce(
            (sum, t) =>
                sum +
                (t.description.type === 'generic' && t.description.actionPhase ? Number(t.description.actionPhase.totalFwdFees ?? 0n) : 0),
            0,
        );
    return {
        gas: rest.reduce((s, t) => s + Number(gasUsed(t)), 0),
        feesNano: Number(feesOf(rest)) + forwarding,
        messages: rest.length,
    };
}

export async function measureOperations(): Promise<Measurements> {
    const out: Measurements = {};
    const p = await deployProtocol();
    const gov = p.governance;
    const govSend = (msg: Parameters<Root['send']>[3]) => p.root.send(gov.getSender(), { value: toNano('0.05') }, msg);
    const root = (txs: BlockchainTransaction[]) => measureTx(findTx(txs, gov.address, p.root.address));

    // Governance
    out['root.addVerifier'] = root(
        (await govSend({ $$type: 'AddVerifier', queryId: 0n, publicKey: key256(seededKey('bench-v').publicKey) })).transactions,
    );
    out['root.removeVerifier'] = root(
        (await govSend({ $$type: 'RemoveVerifier', queryId: 0n, publicKey: key256(seededKey('bench-v').publicKey) })).transactions,
    );
    out['root.setThreshold'] = root((await govSend({ $$type: 'SetThreshold', queryId: 0n, threshold: 2n })).transactions);
    out['root.allowMeasurement'] = root((await govSend({ $$type: 'AllowMeasurement', queryId: 0n, measurement: 7n })).transactions);
    out['root.withdrawMeasurement'] = root((await govSend({ $$type: 'WithdrawMeasurement', queryId: 0n, measurement: 7n })).transactions);
    out['root.setParams'] = root((await govSend({ $$type: 'SetParams', queryId: 0n, params: await p.root.getParams() })).transactions);
    const next = await p.blockchain.treasury('bench-next-owner');
    out['root.proposeOwner'] = root((await govSend({ $$type: 'ProposeOwner', queryId: 0n, newOwner: next.address })).transactions);
    const accepted = await p.root.send(next.getSender(), { value: toNano('0.05') }, { $$type: 'AcceptOwnership', queryId: 0n });
    out['root.acceptOwnership'] = measureTx(findTx(accepted.transactions, next.address, p.root.address));
    await p.root.send(next.getSender(), { value: toNano('0.05') }, { $$type: 'ProposeOwner', queryId: 0n, newOwner: gov.address });
    await p.root.send(gov.getSender(), { value: toNano('0.05') }, { $$type: 'AcceptOwnership', queryId: 0n });

    // Registration
    const owner = await p.blockchain.treasury('bench-owner');
    const { provider, result } = await sendRegister(p, owner, toNano('150'));
    out['provider.register'] = measureTx(findTx(result.transactions, owner.address, provider.address));
    out['root.registerProvider'] = measureTx(findTx(result.transactions, provider.address, p.root.address));
    out['provider.registrationConfirmed'] = measureTx(findTx(result.transactions, p.root.address, provider.address));
    out['flow.register'] = flow(result.transactions, owner.address);

    const bigOwner = await p.blockchain.treasury('bench-big-owner');
    const maxListing = {
        ...TEST_LISTING,
        models: Array.from({ length: 16 }, (_, i) => ({
            name: `org-${i}/`.padEnd(127, 'm'), // the longest name allowed
            prices: { prompt: toNano('0.1'), cachedPrompt: toNano('0.05'), completion: toNano('0.3'), reasoning: toNano('0.3') },
            modelHash: MODEL_HASH,
        })),
    };
    const big = await sendRegister(p, bigOwner, toNano('150'), maxListing);
    out['provider.register.maxListing'] = measureTx(findTx(big.result.transactions, bigOwner.address, big.provider.address));

    // Attestation
    const reg = { owner, provider };
    const enclave = makeEnclave();
    const att = await submitAttestation(p, reg, signedProof(proofFields(p, provider.address, enclave), p.verifiers.slice(0, 2)));
    out['provider.submitAttestation'] = measureTx(findTx(att.transactions, owner.address, provider.address));
    out['root.verifyAttestation'] = measureTx(findTx(att.transactions, provider.address, p.root.address));
    out['provider.attestationVerified'] = measureTx(findTx(att.transactions, p.root.address, provider.address));
    out['flow.attest'] = flow(att.transactions, owner.address);

    p.blockchain.now! += 60;
    const att3 = await submitAttestation(p, reg, signedProof(proofFields(p, provider.address, enclave, { nonce: 2n }), p.verifiers));
    out['root.verifyAttestation.3of3'] = measureTx(findTx(att3.transactions, provider.address, p.root.address));
    // a refresh: the Provider already holds an attestation, whose two cells it reads first
    out['provider.attestationVerified.refresh'] = measureTx(findTx(att3.transactions, p.root.address, provider.address));

    // the most signatures a proof can carry: MAX_VERIFIERS, all required (set up on a Root
    // without providers, where governance changes apply at once)
    const wide = await deployProtocol();
    const extra = Array.from({ length: Number(MAX_VERIFIERS) - wide.verifiers.length }, (_, i) => seededKey(`bench-verifier-${i}`));
    for (const v of extra) {
        await wide.root.send(
            wide.governance.getSender(),
            { value: toNano('0.05') },
            { $$type: 'AddVerifier', queryId: 0n, publicKey: key256(v.publicKey) },
        );
    }
    await wide.root.send(
        wide.governance.getSender(),
        { value: toNano('0.05') },
        { $$type: 'SetThreshold', queryId: 0n, threshold: MAX_VERIFIERS },
    );
    const wideOwner = await wide.blockchain.treasury('bench-wide-owner');
    const wideReg = await sendRegister(wide, wideOwner, toNano('150'));
    const att16 = await submitAttestation(
        wide,
        { owner: wideOwner, provider: wideReg.provider },
        signedProof(proofFields(wide, wideReg.provider.address, enclave, { nonce: 3n }), [...wide.verifiers, ...extra]),
        toNano('0.5'),
    );
    out['root.verifyAttestation.16of16'] = measureTx(findTx(att16.transactions, wideReg.provider.address, wide.root.address));

    // Staking and owner operations
    const send = (from: SandboxContract<TreasuryContract>, msg: Parameters<Provider['send']>[3], value = toNano('0.05')) =>
        provider.send(from.getSender(), { value }, msg);
    const own = (txs: BlockchainTransaction[]) => measureTx(findTx(txs, owner.address, provider.address));
    const staker = await p.blockchain.treasury('bench-staker');
    out['provider.stake'] = measureTx(
        findTx((await send(staker, { $$type: 'Stake', queryId: 0n }, toNano('10'))).transactions, staker.address, provider.address),
    );
    out['provider.requestUnstake'] = own((await send(owner, { $$type: 'RequestUnstake', queryId: 0n, amount: toNano('10') })).transactions);
    p.blockchain.now! += 7 * DAY;
    out['provider.withdrawStake'] = own((await send(owner, { $$type: 'WithdrawStake', queryId: 0n })).transactions);
    out['provider.updateListing'] = own(
        (await send(owner, { $$type: 'UpdateListing', queryId: 0n, listing: buildListing(TEST_LISTING) })).transactions,
    );
    out['provider.pause'] = own((await send(owner, { $$type: 'PauseProvider', queryId: 0n })).transactions);
    out['provider.resume'] = own((await send(owner, { $$type: 'ResumeProvider', queryId: 0n })).transactions);
    out['provider.exit'] = own((await send(owner, { $$type: 'ExitProvider', queryId: 0n })).transactions);

    // Governance once a provider relies on Root (last: it moves the clock by the delay): proposed, executed after the delay, or cancelled
    const proposed = await govSend({ $$type: 'SetParams', queryId: 0n, params: await p.root.getParams() });
    out['root.proposeChange'] = root(proposed.transactions);
    await govSend({ $$type: 'RemoveVerifier', queryId: 0n, publicKey: key256(p.verifiers[2].publicKey) });
    const pendingIds = [...(await p.root.getPendingChanges()).keys()];
    out['root.cancelChange'] = root((await govSend({ $$type: 'CancelChange', queryId: 0n, id: BigInt(pendingIds[1]) })).transactions);
    p.blockchain.now! += Number((await p.root.getParams()).governanceDelay);
    out['root.executeChange'] = root((await govSend({ $$type: 'ExecuteChange', queryId: 0n, id: BigInt(pendingIds[0]) })).transactions);

    await measureSessions(out);
    return out;
}

// One whole session (open, accept, one claim, close, finalize) and a timed-out one.
async function measureSessions(out: Measurements) {
    const p = await deployProtocol();
    const prov = await attestedProvider(p, 'bench-session-owner');
    const { client, session, result: opened } = await sendOpenSession(p, prov.owner.address, { client: 'bench-client' });
    out['session.open'] = measureTx(findTx(opened.transactions, client.address, session.address));
    out['provider.lockCollateral'] = measureTx(findTx(opened.transactions, session.address, prov.provider.address));
    out['session.accepted'] = measureTx(findTx(opened.transactions, prov.provider.address, session.address));
    // opened while the attestation is fresh; left without receipts until its deadline
    const timedOut = await sendOpenSession(p, prov.owner.address, { client: 'bench-client-2' });
    // and one its client will leave open, to be finalized by someone else (below)
    const left = await sendOpenSession(p, prov.owner.address, { client: 'bench-client-left' });
    await left.session.send(
        prov.owner.getSender(),
        { value: toNano('0.05') },
        { $$type: 'ClaimUsage', queryId: 0n, ...signedReceipt(p, left.session.address, prov.enclave, 1, 2_000_000n, 1_000_000n) },
    );
    const claimed = await session.send(
        prov.owner.getSender(),
        { value: toNano('0.05') },
        {
            $$type: 'ClaimUsage',
            queryId: 0n,
            ...signedReceipt(p, session.address, prov.enclave, 1, 2_000_000n, 1_000_000n),
        },
    );
    out['session.claim'] = measureTx(findTx(claimed.transactions, prov.owner.address, session.address));
    const topUp = await session.send(client.getSender(), { value: toNano('1') }, { $$type: 'TopUpSession', queryId: 0n });
    out['session.topUp'] = measureTx(findTx(topUp.transactions, client.address, session.address));
    const closed = await session.send(client.getSender(), { value: toNano('0.05') }, { $$type: 'CloseSession', queryId: 0n });
    out['session.close'] = measureTx(findTx(closed.transactions, client.address, session.address));
    p.blockchain.now! += 2 * DAY;
    const finalized = await session.send(client.getSender(), { value: toNano('0.2') }, { $$type: 'FinalizeSession', queryId: 0n });
    out['session.finalize'] = measureTx(findTx(finalized.transactions, client.address, session.address));
    out['provider.releaseCollateral'] = measureTx(findTx(finalized.transactions, session.address, prov.provider.address));
    out['root.depositTreasury'] = measureTx(findTx(finalized.transactions, session.address, p.root.address));
    // every transaction of the four flows but the client's and the provider's own wallets'
    const parts = [
        flow(opened.transactions, client.address),
        flow(claimed.transactions, prov.owner.address),
        flow(closed.transactions, client.address),
        flow(finalized.transactions, client.address),
    ];
    out['session.lifecycle'] = {
        gas: parts.reduce((s, m) => s + m.gas, 0),
        feesNano: parts.reduce((s, m) => s + m.feesNano, 0),
        messages: parts.reduce((s, m) => s + m.messages, 0),
    };

    // a timeout: no receipt claimed by the end of the claim window (deadline + grace)
    const grace = Number((await timedOut.session.getTerms())!.closeGracePeriod);
    p.blockchain.now = Math.max(p.blockchain.now!, Number(await timedOut.session.getDeadline()) + grace + 1);
    const slash = await timedOut.session.send(
        timedOut.client.getSender(),
        { value: toNano('0.2') },
        { $$type: 'FinalizeSession', queryId: 0n },
    );
    out['session.finalize.timeout'] = measureTx(findTx(slash.transactions, timedOut.client.address, timedOut.session.address));
    out['provider.releaseCollateral.slash'] = measureTx(findTx(slash.transactions, timedOut.session.address, prov.provider.address));

    // A session finalized by someone other than its client (a worker ending a session its client
    // left open): the most messages a finalize sends (the client's escrow and the finalizer's change apart)
    p.blockchain.now = Math.max(p.blockchain.now!, Number(await left.session.getDeadline()) + grace + 1);
    const finalizer = await p.blockchain.treasury('bench-finalizer');
    const byOther = await left.session.send(finalizer.getSender(), { value: toNano('0.2') }, { $$type: 'FinalizeSession', queryId: 0n });
    out['session.finalize.byOther'] = measureTx(findTx(byOther.transactions, finalizer.address, left.session.address));

    // An escrow the Provider never answered (a stand-in that swallows LockCollateral), taken back
    const silentOwner = await p.blockchain.treasury('bench-silent-owner');
    await installStandIn(p.blockchain, (await providerForOwner(p.root.address, silentOwner.address)).address, 'swallow');
    const silent = await sendOpenSession(p, silentOwner.address, { client: 'bench-client-4' });
    p.blockchain.now! += Number(OPENING_TIMEOUT);
    const cancelled = await silent.session.send(
        silent.client.getSender(),
        { value: toNano('0.05') },
        { $$type: 'FinalizeSession', queryId: 0n },
    );
    out['session.cancel'] = measureTx(findTx(cancelled.transactions, silent.client.address, silent.session.address));

    // Equivocation on a fresh provider's session, then a revocation of another provider's key
    const q = await deployProtocol();
    const cheat = await attestedProvider(q, 'bench-cheat');
    const s2 = await sendOpenSession(q, cheat.owner.address, { client: 'bench-client-3' });
    const reporter = await q.blockchain.treasury('bench-reporter');
    const first = signedReceipt(q, s2.session.address, cheat.enclave, 1, 0n, 1n);
    const second = signedReceipt(q, s2.session.address, cheat.enclave, 1, 0n, 2n);
    const eq = await sendReportEquivocation(s2.session, reporter, first, second);
    out['session.reportEquivocation'] = measureTx(findTx(eq.transactions, reporter.address, s2.session.address));
    out['provider.slashForEquivocation'] = measureTx(findTx(eq.transactions, s2.session.address, cheat.provider.address));

    const revoked = await attestedProvider(q, 'bench-revoked');
    const { proof, signatures } = signedRevocation(
        q,
        revoked.provider.address,
        revoked.enclave,
        Number((await revoked.provider.getAttestation())!.issuedAt),
    );
    // at a session of that key first (with a claim, so its settlement pays a protocol fee): the
    // reporter pays for ending it, the most a Session's RevocationVerified sends
    const s4 = await sendOpenSession(q, revoked.owner.address, { client: 'bench-client-revoked' });
    await s4.session.send(
        revoked.owner.getSender(),
        { value: toNano('0.05') },
        { $$type: 'ClaimUsage', queryId: 0n, ...signedReceipt(q, s4.session.address, revoked.enclave, 1, 2_000_000n, 1_000_000n) },
    );
    const atSession = await s4.session.send(
        reporter.getSender(),
        { value: toNano('0.3') },
        { $$type: 'SubmitRevocation', queryId: 0n, proof, signatures },
    );
    out['session.submitRevocation'] = measureTx(findTx(atSession.transactions, reporter.address, s4.session.address));
    out['session.revocationVerified'] = measureTx(findTx(atSession.transactions, q.root.address, s4.session.address));
    const rv = await revoked.provider.send(
        reporter.getSender(),
        { value: toNano('0.2') },
        { $$type: 'SubmitRevocation', queryId: 0n, proof, signatures },
    );
    out['provider.submitRevocation'] = measureTx(findTx(rv.transactions, reporter.address, revoked.provider.address));
    out['root.verifyRevocation'] = measureTx(findTx(rv.transactions, revoked.provider.address, q.root.address));
    out['provider.revocationVerified'] = measureTx(findTx(rv.transactions, q.root.address, revoked.provider.address));

    // The worst case of a slash: bonded stake too small, so it walks a full unbonding queue.
    const queued = await attestedProvider(q, 'bench-queued');
    const s3 = await sendOpenSession(q, queued.owner.address, { client: 'bench-client-5' });
    await queued.provider.send(queued.owner.getSender(), { value: toNano('0.05') }, { $$type: 'ExitProvider', queryId: 0n });
    const free = await queued.provider.getFreeStake();
    for (let i = 0; i < Number(MAX_UNBONDING_REQUESTS); i++) {
        await queued.provider.send(
            queued.owner.getSender(),
            { value: toNano('0.05') },
            { $$type: 'RequestUnstake', queryId: 0n, amount: free / BigInt(MAX_UNBONDING_REQUESTS) },
        );
    }
    const walked = await sendReportEquivocation(
        s3.session,
        reporter,
        signedReceipt(q, s3.session.address, queued.enclave, 1, 0n, 1n),
        signedReceipt(q, s3.session.address, queued.enclave, 1, 0n, 2n),
    );
    out['provider.slashForEquivocation.fullQueue'] = measureTx(findTx(walked.transactions, s3.session.address, queued.provider.address));
    // ...and that session then times out: its collateral is slashed from what is left in the queue
    q.blockchain.now = Number(await s3.session.getDeadline()) + Number((await s3.session.getTerms())!.closeGracePeriod) + 1;
    const late = await s3.session.send(s3.client.getSender(), { value: toNano('0.2') }, { $$type: 'FinalizeSession', queryId: 0n });
    out['provider.releaseCollateral.slashFullQueue'] = measureTx(findTx(late.transactions, s3.session.address, queued.provider.address));
}
