// The client's own checks before it trusts a provider (issue 13, "The client checks for itself"):
// the provider's status, the attestation's TCB status against the client's policy (simulated
// evidence never on mainnet) and the verifier set the attestation was signed under. Each refusal
// happens before anything is sent: the client's wallet keeps its balance.
import '@ton/test-utils';
import { Address, toNano } from '@ton/core';
import {
    Attestation,
    GLOBAL_ID_MAINNET,
    GLOBAL_ID_TESTNET,
    STATUS_ACTIVE,
    STATUS_PAUSED,
    TCB_OUT_OF_DATE,
    TCB_SIMULATED,
    TCB_SW_HARDENING_NEEDED,
    TCB_UP_TO_DATE,
    buildListing,
} from '../../wrappers';
import { CocoonClient, ClientOptions } from '../../sdk';
import { sandboxChain } from '../../protocol/chain';
import {
    AttestedProvider,
    MODEL,
    START_TIME,
    TEST_PARAMS,
    Protocol,
    attestedProvider,
    deployProtocol,
    key256,
    proofFields,
    requireSuccess,
    seededKey,
    signedProof,
    submitAttestation,
    MODEL_HASH,
    OTHER_MODEL_HASH,
    TEST_LISTING,
} from '../../testkit';

describe('the SDK checks a provider for itself', () => {
    let p: Protocol;
    let prov: AttestedProvider;

    beforeEach(async () => {
        p = await deployProtocol();
        prov = await attestedProvider(p);
    });

    async function clientWith(o: Partial<ClientOptions> = {}) {
        const wallet = await p.blockchain.treasury('sdk-client');
        return {
            wallet,
            client: new CocoonClient({
                chain: sandboxChain(p.blockchain),
                // the treasury's own send carries the Session's state init
                wallet: { address: wallet.address, send: (a: Parameters<typeof wallet.send>[0]) => wallet.send(a) } as never,
                root: p.root.address,
                confirmTimeoutMs: 2000,
                ...o,
            }),
        };
    }

    // Re-attests the provider's enclave with another TCB status (a later issued-at and nonce).
    async function reattest(tcbStatus: bigint) {
        p.blockchain.now! += 60;
        const proof = signedProof(
            proofFields(p, prov.provider.address, prov.enclave, { tcbStatus: Number(tcbStatus), nonce: 99n }),
            p.verifiers.slice(0, 2),
        );
        const r = await submitAttestation(p, prov, proof);
        requireSuccess(r.transactions, p.root.address, prov.provider.address);
    }

    async function expectRefusedBeforeSending(client: CocoonClient, wallet: { address: Address }, code: string) {
        const before = (await p.blockchain.getContract(wallet.address)).balance;
        await expect(
            client.openSession(prov.provider.address, { model: MODEL, budget: toNano('5'), durationSeconds: 3600 }),
        ).rejects.toMatchObject({ code });
        expect((await p.blockchain.getContract(wallet.address)).balance).toBe(before);
        expect(await client.findProviders([prov.provider.address], { includeUnhealthy: true, model: MODEL })).toEqual([]);
    }

    it('trusts an active provider attested UpToDate under the current verifier set', async () => {
        const { client } = await clientWith();
        expect(await client.trustProblem({ status: Number(STATUS_ACTIVE), attestation: await prov.provider.getAttestation() })).toBeNull();
        expect(await client.findProviders([prov.provider.address], { includeUnhealthy: true, model: MODEL })).toEqual([
            expect.objectContaining({ provider: prov.provider.address }),
        ]);
    });

    it.each([TCB_SW_HARDENING_NEEDED, TCB_OUT_OF_DATE])(
        'refuses TCB status %s by default, accepts it when the policy lists it',
        async (status) => {
            await reattest(status);
            const strict = await clientWith();
            await expectRefusedBeforeSending(strict.client, strict.wallet, 'tcb-not-accepted');
            const lenient = await clientWith({ acceptedTcbStatuses: [Number(TCB_UP_TO_DATE), Number(status)] });
            expect(await lenient.client.findProviders([prov.provider.address], { includeUnhealthy: true, model: MODEL })).toHaveLength(1);
        },
    );

    it('refuses simulated evidence on mainnet even when the policy lists it; accepts it on testnet when listed', async () => {
        const attestation = (await prov.provider.getAttestation())!;
        const simulated = (globalId: number): Attestation => ({ ...attestation, tcbStatus: TCB_SIMULATED, globalId: BigInt(globalId) });
        const { client } = await clientWith({ acceptedTcbStatuses: [Number(TCB_UP_TO_DATE), Number(TCB_SIMULATED)] });
        const active = Number(STATUS_ACTIVE);
        expect(await client.trustProblem({ status: active, attestation: simulated(GLOBAL_ID_MAINNET) })).toMatchObject({
            code: 'tcb-not-accepted',
        });
        // an attestation that says testnet, under a Root on mainnet: still mainnet
        expect(await client.trustProblem({ status: active, attestation: simulated(GLOBAL_ID_TESTNET) })).toMatchObject({
            code: 'tcb-not-accepted',
        });
        // on a testnet deployment, listed: accepted; not listed: refused
        const testnet = await deployProtocol(TEST_PARAMS, START_TIME, GLOBAL_ID_TESTNET);
        const onTestnet = (o: Partial<ClientOptions> = {}) =>
            new CocoonClient({
                chain: sandboxChain(testnet.blockchain),
                wallet: testnet.governance.getSender() as never,
                root: testnet.root.address,
                ...o,
            });
        const listed = onTestnet({
            acceptedTcbStatuses: [Number(TCB_UP_TO_DATE), Number(TCB_SIMULATED)],
            acceptEarlierVerifierEpochs: true,
        });
        expect(await listed.trustProblem({ status: active, attestation: simulated(GLOBAL_ID_TESTNET) })).toBeNull();
        expect(
            await onTestnet({ acceptEarlierVerifierEpochs: true }).trustProblem({
                status: active,
                attestation: simulated(GLOBAL_ID_TESTNET),
            }),
        ).toMatchObject({
            code: 'tcb-not-accepted',
        });
    });

    it('refuses an attestation of an earlier verifier set until the provider attests again', async () => {
        // A change waits out the governance delay (longer than any attestation lasts): the provider
        // re-attests while it waits, and that attestation is still valid when the set changes.
        const add = { $$type: 'AddVerifier' as const, queryId: 0n, publicKey: key256(seededKey('verifier-d').publicKey) };
        await p.root.send(p.governance.getSender(), { value: toNano('0.05') }, add);
        const [[id, pending]] = [...(await p.root.getPendingChanges())];
        p.blockchain.now = Number(pending.executeAt) - 3600;
        await reattest(TCB_UP_TO_DATE);
        p.blockchain.now = Number(pending.executeAt);
        const executed = await p.root.send(
            p.governance.getSender(),
            { value: toNano('0.05') },
            { $$type: 'ExecuteChange', queryId: 0n, id: BigInt(id) },
        );
        requireSuccess(executed.transactions, p.governance.address, p.root.address);
        expect((await p.root.getVerifierSet()).epoch).toBe((await prov.provider.getAttestation())!.verifierEpoch + 1n);
        const { client, wallet } = await clientWith();
        await expectRefusedBeforeSending(client, wallet, 'verifier-set-changed');
        const relaxed = await clientWith({ acceptEarlierVerifierEpochs: true });
        expect(await relaxed.client.findProviders([prov.provider.address], { includeUnhealthy: true, model: MODEL })).toHaveLength(1);
        await reattest(TCB_UP_TO_DATE);
        expect(await client.findProviders([prov.provider.address], { includeUnhealthy: true, model: MODEL })).toHaveLength(1);
    });

    it('refuses a listed model whose hash is not the attested one, and shows the model hash of an offer', async () => {
        const { client, wallet } = await clientWith();
        const [offer] = await client.findProviders([prov.provider.address], { includeUnhealthy: true, model: MODEL });
        expect(offer.modelHash).toEqual(MODEL_HASH);
        const listing = buildListing({ ...TEST_LISTING, models: [{ ...TEST_LISTING.models[0], modelHash: OTHER_MODEL_HASH }] });
        await prov.provider.send(prov.owner.getSender(), { value: toNano('0.05') }, { $$type: 'UpdateListing', queryId: 0n, listing });
        await expectRefusedBeforeSending(client, wallet, 'model-not-attested');
    });

    it('lets the client require the model hash it expects, whatever name the provider lists it under', async () => {
        const { client, wallet } = await clientWith();
        const llama = TEST_LISTING.models[1].name; // listed by the fixture under the attested hash
        const llamaWeights = Buffer.alloc(32, 0x70); // what the client knows the real weights hash to
        expect(
            await client.findProviders([prov.provider.address], { includeUnhealthy: true, model: llama, modelHash: llamaWeights }),
        ).toEqual([]);
        expect(
            await client.findProviders([prov.provider.address], { includeUnhealthy: true, model: llama, modelHash: MODEL_HASH }),
        ).toHaveLength(1);
        const before = (await p.blockchain.getContract(wallet.address)).balance;
        await expect(
            client.openSession(prov.provider.address, {
                model: llama,
                budget: toNano('5'),
                durationSeconds: 3600,
                modelHash: llamaWeights,
            }),
        ).rejects.toMatchObject({ code: 'model-not-attested', message: expect.stringContaining('you asked for') });
        expect((await p.blockchain.getContract(wallet.address)).balance).toBe(before);
    });

    it('stops a session whose enclave key is re-attested for another model, live or resumed with its model hash', async () => {
        const { client } = await clientWith();
        const session = await client.openSession(prov.provider.address, { model: MODEL, budget: toNano('5'), durationSeconds: 3600 });
        expect(session.modelHash).toEqual(MODEL_HASH);
        p.blockchain.now! += 60;
        const other = signedProof(
            proofFields(p, prov.provider.address, prov.enclave, { nonce: 77n, modelHash: OTHER_MODEL_HASH }),
            p.verifiers.slice(0, 2),
        );
        requireSuccess((await submitAttestation(p, prov, other)).transactions, p.root.address, prov.provider.address);
        await expect(session.checkAttestation()).rejects.toMatchObject({ code: 'attestation-mismatch' });
        const resumed = await client.resumeSession(session.address, session.sessionKey, MODEL, undefined, session.modelHash);
        await expect(resumed.checkAttestation()).rejects.toMatchObject({ code: 'attestation-mismatch' });
    });

    it('refuses a provider that is not active (paused), and one with no attestation', async () => {
        const { client } = await clientWith();
        const attestation = await prov.provider.getAttestation();
        expect(await client.trustProblem({ status: Number(STATUS_PAUSED), attestation })).toMatchObject({ code: 'provider-unavailable' });
        expect(await client.trustProblem({ status: Number(STATUS_ACTIVE), attestation: null })).toMatchObject({ code: 'not-attested' });
    });
});
