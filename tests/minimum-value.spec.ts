// An entry message refuses a value that cannot pay for the chain it starts (ERR_VALUE_TOO_SMALL).
// The other half of that promise: the smallest value it accepts does carry the whole chain to
// the end. For each entry, binary-search that value, send it, and check that no transaction of
// the chain failed. The values clients attach (wrappers/values.ts) are checked against it too.
import { Blockchain, BlockchainTransaction, SendMessageResult } from '@ton/sandbox';
import { Address, toNano } from '@ton/core';
import '@ton/test-utils';
import {
    ATTESTATION_MIN_VALUE,
    ATTESTATION_VALUE,
    CHAIN_GAS,
    CLAIM_VALUE,
    ERR_VALUE_TOO_SMALL,
    FINALIZE_ABANDONED_VALUE,
    FINALIZE_MIN_VALUE,
    FINALIZE_VALUE,
    REGISTRATION_OVERHEAD,
    SESSION_STORAGE_RESERVE,
    SESSION_OPEN_OVERHEAD,
    STAKE_MIN_VALUE,
    gasFee,
    modelKey,
    clientKeyHashOf,
    providerForOwner,
    sessionFor,
} from '../wrappers';
import {
    DAY,
    attestedProvider,
    escrowOwed,
    valuesSent,
    deployProtocol,
    CLIENT_SESSION_KEY,
    MODEL,
    START_TIME,
    TEST_PARAMS,
    makeEnclave,
    proofFields,
    sendRegister,
    sendOpenSession,
    signedProof,
    signedReceipt,
    submitAttestation,
} from '../testkit';

// A worker finalizing a session its client left open pays the value and the client gets what the
// chain did not spend: it must be accepted, and not much more than the least accepted.
function expectTightFinalizeAbandoned(leastAccepted: bigint) {
    expect(FINALIZE_ABANDONED_VALUE).toBeGreaterThanOrEqual(leastAccepted);
    expect(FINALIZE_ABANDONED_VALUE).toBeLessThanOrEqual((leastAccepted * 115n) / 100n);
}

// At the least accepted value the finalizer's value paid every fee: the client got the whole
// escrow (`held`, the Session's balance before, less its rent, the tombstone's reserve and the
// protocol fee) and the tombstone kept its whole reserve.
async function expectFeesPaidByFinalizer(
    blockchain: Blockchain,
    o: { session: Address; client: Address; finalizer: Address; held: bigint; protocolFee: bigint },
    result: SendMessageResult,
) {
    expect(valuesSent(result.transactions, o.session, o.client)).toEqual([
        escrowOwed(result.transactions, o.session, o.held, o.protocolFee),
    ]);
    expect((await blockchain.getContract(o.session)).balance).toBe(SESSION_STORAGE_RESERVE);
}

function exitCodeAt(transactions: BlockchainTransaction[], to: Address): number | undefined {
    const tx = transactions.find((t) => t.inMessage?.info.dest?.toString() === to.toString());
    if (!tx || tx.description.type !== 'generic' || tx.description.computePhase.type !== 'vm') return undefined;
    return tx.description.computePhase.exitCode;
}

// The smallest value (to 1,000 nanotons) that `entry` does not refuse as too small.
async function minimumAccepted(blockchain: Blockchain, entry: Address, send: (value: bigint) => Promise<SendMessageResult>) {
    const state = blockchain.snapshot();
    let low = 0n; // refused
    let high = toNano('1'); // accepted
    while (high - low > 1000n) {
        const mid = (low + high) / 2n;
        await blockchain.loadFrom(state);
        const r = await send(mid);
        if (exitCodeAt(r.transactions, entry) === Number(ERR_VALUE_TOO_SMALL)) low = mid;
        else high = mid;
    }
    await blockchain.loadFrom(state);
    return { value: high, result: await send(high) };
}

// Every transaction but those of plain wallets succeeded.
function expectWholeChainSucceeded(result: SendMessageResult, wallets: Address[]) {
    const failed = result.transactions.filter(
        (t) =>
            t.description.type === 'generic' &&
            t.description.aborted &&
            !wallets.some((w) => t.inMessage?.info.dest?.toString() === w.toString()),
    );
    expect(
        failed.map((t) =>
            t.description.type === 'generic' && t.description.computePhase.type === 'vm' ? t.description.computePhase.exitCode : 'skipped',
        ),
    ).toEqual([]);
}

describe('the minimum accepted value carries the whole chain', () => {
    it('SubmitAttestation (Provider -> Root -> Provider)', async () => {
        const p = await deployProtocol();
        const prov = await attestedProvider(p);
        p.blockchain.now! += 60;
        const proof = signedProof(proofFields(p, prov.provider.address, makeEnclave('next'), { nonce: 9n }), p.verifiers.slice(0, 2));
        const { value, result } = await minimumAccepted(p.blockchain, prov.provider.address, (v) => submitAttestation(p, prov, proof, v));
        expect(value).toBeGreaterThan(0n);
        expect(ATTESTATION_MIN_VALUE).toBeGreaterThanOrEqual(value);
        expect(ATTESTATION_VALUE).toBeGreaterThanOrEqual(ATTESTATION_MIN_VALUE);
        expectWholeChainSucceeded(result, [prov.owner.address]);
        expect(result.transactions).toHaveTransaction({ from: p.root.address, to: prov.provider.address, success: true });
        expect((await prov.provider.getAttestation())!.signingKey).toBe(
            BigInt('0x' + makeEnclave('next').signing.publicKey.toString('hex')),
        );
    });

    it('ClaimUsage', async () => {
        const p = await deployProtocol();
        const prov = await attestedProvider(p);
        const { session } = await sendOpenSession(p, prov.owner.address);
        const receipt = signedReceipt(p, session.address, prov.enclave, 1, 1_000_000n, 1_000_000n);
        const { value, result } = await minimumAccepted(p.blockchain, session.address, (v) =>
            session.send(prov.owner.getSender(), { value: v }, { $$type: 'ClaimUsage', queryId: 0n, ...receipt }),
        );
        expect(CLAIM_VALUE).toBeGreaterThanOrEqual(value);
        expectWholeChainSucceeded(result, [prov.owner.address]);
        expect(await session.getSeqno()).toBe(1n);
    });

    it('FinalizeSession, settling (Session -> Root, Provider, client)', async () => {
        const p = await deployProtocol();
        const prov = await attestedProvider(p);
        const { client, session } = await sendOpenSession(p, prov.owner.address);
        await session.send(
            prov.owner.getSender(),
            { value: toNano('0.05') },
            {
                $$type: 'ClaimUsage',
                queryId: 0n,
                ...signedReceipt(p, session.address, prov.enclave, 1, 1_000_000n, 1_000_000n),
            },
        );
        p.blockchain.now! += 2 * DAY;
        // by someone else (the worker): the chain with the most messages (the client's refund apart)
        const worker = await p.blockchain.treasury('worker');
        const held = (await p.blockchain.getContract(session.address)).balance;
        const { value, result } = await minimumAccepted(p.blockchain, session.address, (v) =>
            session.send(worker.getSender(), { value: v }, { $$type: 'FinalizeSession', queryId: 0n }),
        );
        expect(FINALIZE_MIN_VALUE).toBeGreaterThanOrEqual(value);
        expect(FINALIZE_VALUE).toBeGreaterThanOrEqual(FINALIZE_MIN_VALUE);
        expectTightFinalizeAbandoned(value);
        expectWholeChainSucceeded(result, [worker.address, client.address]);
        expect(await prov.provider.getLocked()).toBe(0n);
        const protocolFee = await p.root.getTreasury(); // (nothing was in it before)
        expect(protocolFee).toBeGreaterThan(0n);
        await expectFeesPaidByFinalizer(
            p.blockchain,
            { session: session.address, client: client.address, finalizer: worker.address, held, protocolFee },
            result,
        );
    });

    it('FinalizeSession, timing out (Session -> Provider -> Root, client)', async () => {
        const p = await deployProtocol();
        const prov = await attestedProvider(p);
        const { client, session } = await sendOpenSession(p, prov.owner.address);
        // no receipt claimed by the end of the claim window
        p.blockchain.now = Number(await session.getDeadline()) + Number((await session.getTerms())!.closeGracePeriod) + 1;
        const worker = await p.blockchain.treasury('worker');
        const held = (await p.blockchain.getContract(session.address)).balance;
        const { value, result } = await minimumAccepted(p.blockchain, session.address, (v) =>
            session.send(worker.getSender(), { value: v }, { $$type: 'FinalizeSession', queryId: 0n }),
        );
        expect(FINALIZE_MIN_VALUE).toBeGreaterThanOrEqual(value);
        expect(FINALIZE_VALUE).toBeGreaterThanOrEqual(FINALIZE_MIN_VALUE);
        expectTightFinalizeAbandoned(value);
        expectWholeChainSucceeded(result, [worker.address, client.address]);
        expect(await prov.provider.getLocked()).toBe(0n);
        expect((await prov.provider.getStats()).slashCount).toBe(1n);
        await expectFeesPaidByFinalizer(
            p.blockchain,
            { session: session.address, client: client.address, finalizer: worker.address, held, protocolFee: 0n },
            result,
        );
        expect(await p.root.getTreasury()).toBeGreaterThan(0n);
    });

    it('Stake', async () => {
        const p = await deployProtocol();
        const prov = await attestedProvider(p);
        const before = await prov.provider.getStake();
        const { value, result } = await minimumAccepted(p.blockchain, prov.provider.address, (v) =>
            prov.provider.send(prov.owner.getSender(), { value: v }, { $$type: 'Stake', queryId: 0n }),
        );
        expect(STAKE_MIN_VALUE).toBeGreaterThanOrEqual(value);
        expectWholeChainSucceeded(result, [prov.owner.address]);
        expect(await prov.provider.getStake()).toBeGreaterThan(before);
    });

    it('Register (Provider -> Root -> Provider): REGISTRATION_OVERHEAD covers it, the rest is stake', async () => {
        const p = await deployProtocol();
        const owner = await p.blockchain.treasury('new-owner');
        const provider = p.blockchain.openContract(await providerForOwner(p.root.address, owner.address));
        const before = p.blockchain.snapshot();
        const { value } = await minimumAccepted(p.blockchain, provider.address, async (v) => (await sendRegister(p, owner, v)).result);
        expect(REGISTRATION_OVERHEAD).toBeGreaterThanOrEqual(value);
        // Root refuses a stake below the minimum (ERR_BELOW_MIN_STAKE): the minimum stake plus the
        // overhead is the smallest registration that goes through
        await p.blockchain.loadFrom(before);
        const { result } = await sendRegister(p, owner, TEST_PARAMS.minProviderStake + REGISTRATION_OVERHEAD);
        expectWholeChainSucceeded(result, [owner.address]);
        expect(result.transactions).toHaveTransaction({ from: p.root.address, to: provider.address, success: true });
        expect(await provider.getStake()).toBeGreaterThanOrEqual(TEST_PARAMS.minProviderStake);
    });

    it('OpenSession (Session -> Provider -> Session): SESSION_OPEN_OVERHEAD covers it, the rest is budget', async () => {
        const p = await deployProtocol();
        const prov = await attestedProvider(p);
        const client = await p.blockchain.treasury('client');
        const session = p.blockchain.openContract(await sessionFor(p.root.address, prov.owner.address, client.address, 1n));
        const { value } = await minimumAccepted(p.blockchain, session.address, (v) =>
            session.send(
                client.getSender(),
                { value: v },
                {
                    $$type: 'OpenSession',
                    queryId: 0n,
                    modelKey: modelKey(MODEL),
                    deadline: BigInt((p.blockchain.now ?? START_TIME) + DAY),
                    clientKeyHash: clientKeyHashOf(CLIENT_SESSION_KEY),
                },
            ),
        );
        // (the Provider then accepts a budget of at least minSessionBudget: the rest of the value)
        expect(SESSION_OPEN_OVERHEAD).toBeGreaterThanOrEqual(value);
    });
});

describe('the values clients attach cover the gas the contracts reserve', () => {
    it.each([
        ['REGISTRATION_OVERHEAD', REGISTRATION_OVERHEAD, CHAIN_GAS.registration],
        ['STAKE_MIN_VALUE', STAKE_MIN_VALUE, CHAIN_GAS.stake],
        ['ATTESTATION_MIN_VALUE', ATTESTATION_MIN_VALUE, CHAIN_GAS.attestation],
        ['SESSION_OPEN_OVERHEAD', SESSION_OPEN_OVERHEAD, CHAIN_GAS.sessionOpen],
        ['CLAIM_VALUE', CLAIM_VALUE, CHAIN_GAS.claim],
        ['FINALIZE_MIN_VALUE', FINALIZE_MIN_VALUE, CHAIN_GAS.finalize],
        ['FINALIZE_ABANDONED_VALUE', FINALIZE_ABANDONED_VALUE, CHAIN_GAS.finalize],
    ])('%s', (_name, value, gas) => {
        expect(value).toBeGreaterThanOrEqual(gasFee(gas));
    });
});
