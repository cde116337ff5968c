import { Cell, beginCell, toNano } from '@ton/core';
import { Blockchain } from '@ton/sandbox';
import '@ton/test-utils';
import {
    ATTESTATION_PROOF_TAG,
    ERR_BAD_SIGNATURE,
    ERR_DUPLICATE_SIGNER,
    ERR_INVALID_VALIDITY,
    ERR_ISSUED_IN_FUTURE,
    ERR_MEASUREMENT_NOT_ALLOWED,
    ERR_NOT_REGISTERED,
    ERR_PROOF_EXPIRED,
    ERR_PROOF_TAG,
    ERR_SIGNERS_NOT_SORTED,
    ERR_STALE_ATTESTATION,
    ERR_TOO_FEW_SIGNATURES,
    ERR_UNKNOWN_SIGNER,
    ERR_VALIDITY_TOO_LONG,
    ERR_VALUE_TOO_SMALL,
    ERR_WRONG_NETWORK,
    ERR_WRONG_PROVIDER,
    ERR_WRONG_ROOT,
    GLOBAL_ID_TESTNET,
    rootForDeployment,
    MAX_CLOCK_SKEW,
    TCB_SW_HARDENING_NEEDED,
    TCB_SIMULATED,
    ERR_SIMULATED_ON_MAINNET,
    buildAttestationProof,
    buildSignatureChain,
    parseAttestationProof,
    signProof,
    storeAttestationProof,
    bufferToBigInt,
} from '../wrappers';
import {
    DAY,
    Enclave,
    Ledger,
    Protocol,
    RegisteredProvider,
    TEST_PARAMS,
    START_TIME,
    deployProtocol,
    eventOpcodes,
    key256,
    makeEnclave,
    proofFields,
    registerProvider,
    seededKey,
    sendRegister,
    signedProof,
    submitAttestation,
    MEASUREMENT,
    governed,
    MODEL_HASH,
} from '../testkit';
import { simulatedMeasurement } from '../tee-verifier/src/attest';
import { NO_GPU_EVIDENCE } from '../protocol/evidence';

const SIMULATED_MEASUREMENT = simulatedMeasurement(NO_GPU_EVIDENCE, MODEL_HASH);

const ATTESTATION_EVENT = 0xc0c09104;

describe('Attestation proofs', () => {
    let p: Protocol;
    let reg: RegisteredProvider;
    let enclave: Enclave;
    let ledger: Ledger;

    beforeEach(async () => {
        p = await deployProtocol();
        reg = await registerProvider(p);
        enclave = makeEnclave();
        ledger = new Ledger(p.blockchain);
        await ledger.snapshot([reg.owner.address, reg.provider.address, p.root.address]);
    });

    // Governance changes move the clock and Root's balance: the ledger starts after them.
    async function afterGovernance(msg: Parameters<typeof governed>[1]) {
        await governed(p, msg);
        ledger = new Ledger(p.blockchain);
        await ledger.snapshot([reg.owner.address, reg.provider.address, p.root.address]);
    }

    const fields = (overrides = {}) => proofFields(p, reg.provider.address, enclave, overrides);
    const twoOfThree = () => p.verifiers.slice(0, 2);

    // A proof Root refuses: its exit code shows on Root's transaction, the Provider keeps no
    // attestation, and the owner gets the value back through the bounce.
    async function expectRefusedAtRoot(proof: ReturnType<typeof signedProof>, exitCode: bigint) {
        const r = await submitAttestation(p, reg, proof);
        expect(r.transactions).toHaveTransaction({
            from: reg.provider.address,
            to: p.root.address,
            success: false,
            exitCode: Number(exitCode),
        });
        expect(r.transactions).toHaveTransaction({ from: p.root.address, to: reg.provider.address, inMessageBounced: true, success: true });
        expect(r.transactions).toHaveTransaction({ from: reg.provider.address, to: reg.owner.address, value: (v) => v! > toNano('0.05') });
        expect(await reg.provider.getAttestation()).toBeNull();
        await ledger.expectConserved(r.transactions);
    }

    it('accepts 2-of-3 signatures: the Provider holds the enclave keys, TON conserved', async () => {
        const proof = signedProof(fields({ tcbStatus: Number(TCB_SW_HARDENING_NEEDED) }), twoOfThree());
        const r = await submitAttestation(p, reg, proof);
        expect(r.transactions).toHaveTransaction({ from: reg.provider.address, to: p.root.address, success: true });
        expect(r.transactions).toHaveTransaction({ from: p.root.address, to: reg.provider.address, success: true });
        expect(r.transactions).toHaveTransaction({ from: reg.provider.address, to: reg.owner.address, success: true });
        const a = await reg.provider.getAttestation();
        expect(a).not.toBeNull();
        expect(a!.signingKey).toBe(key256(enclave.signing.publicKey));
        expect(a!.encryptionKey).toBe(key256(enclave.encryption));
        expect(a!.measurement).toBe(key256(MEASUREMENT));
        expect(a!.tcbStatus).toBe(TCB_SW_HARDENING_NEEDED);
        expect(a!.validUntil).toBe(BigInt(p.blockchain.now! + 12 * 3600));
        expect(a!.verifierEpoch).toBe((await p.root.getVerifierSet()).epoch);
        expect(eventOpcodes(r.transactions)).toEqual([ATTESTATION_EVENT]);
        await ledger.expectConserved(r.transactions);
    });

    it('anyone may relay a proof; the excess goes back to the relayer', async () => {
        const relay = await p.blockchain.treasury('verifier-relay');
        await ledger.snapshot([relay.address]);
        const r = await submitAttestation(p, reg, signedProof(fields(), twoOfThree()), toNano('1'), relay);
        expect(r.transactions).toHaveTransaction({ from: reg.provider.address, to: relay.address, value: (v) => v! > toNano('0.95') });
        expect(await reg.provider.getAttestation()).not.toBeNull();
        await ledger.expectConserved(r.transactions);
    });

    it('refuses a replayed proof at the Provider, before Root spends gas', async () => {
        const proof = signedProof(fields(), twoOfThree());
        await submitAttestation(p, reg, proof);
        const replay = await submitAttestation(p, reg, proof);
        expect(replay.transactions).toHaveTransaction({
            to: reg.provider.address,
            success: false,
            exitCode: Number(ERR_STALE_ATTESTATION),
        });
        expect(replay.transactions).not.toHaveTransaction({ to: p.root.address });
    });

    it('refuses an older proof after a newer one, accepts a newer one', async () => {
        const now = p.blockchain.now!;
        await submitAttestation(p, reg, signedProof(fields({ issuedAt: now, nonce: 2n }), twoOfThree()));
        const older = await submitAttestation(p, reg, signedProof(fields({ issuedAt: now - 60, nonce: 3n }), twoOfThree()));
        expect(older.transactions).toHaveTransaction({ to: reg.provider.address, exitCode: Number(ERR_STALE_ATTESTATION) });
        p.blockchain.now = now + 3600;
        const rotated = makeEnclave('rotated');
        const newer = await submitAttestation(
            p,
            reg,
            signedProof(proofFields(p, reg.provider.address, rotated, { nonce: 4n }), twoOfThree()),
        );
        expect(newer.transactions).toHaveTransaction({ from: p.root.address, to: reg.provider.address, success: true });
        expect((await reg.provider.getAttestation())!.signingKey).toBe(key256(rotated.signing.publicKey));
    });

    it('refuses a proof for another root', async () => {
        const otherRoot = await p.blockchain.treasury('other-root');
        await expectRefusedAtRoot(signedProof(fields({ root: otherRoot.address }), twoOfThree()), ERR_WRONG_ROOT);
    });

    it('refuses a proof for another provider', async () => {
        const other = await registerProvider(p, 'other-gpu-owner');
        // signed for `other`, submitted through `reg`
        await expectRefusedAtRoot(signedProof(proofFields(p, other.provider.address, enclave), twoOfThree()), ERR_WRONG_PROVIDER);
    });

    it('refuses a proof for another network', async () => {
        await expectRefusedAtRoot(signedProof(fields({ globalId: GLOBAL_ID_TESTNET }), twoOfThree()), ERR_WRONG_NETWORK);
    });

    it('refuses a cell that is not an attestation proof', async () => {
        const wrongTag = beginCell()
            .store(storeAttestationProof({ ...rawProof(), tag: ATTESTATION_PROOF_TAG + 1n }))
            .endCell();
        await expectRefusedAtRoot(sign(wrongTag), ERR_PROOF_TAG);
    });

    it('refuses an expired proof', async () => {
        const now = p.blockchain.now!;
        await expectRefusedAtRoot(signedProof(fields({ issuedAt: now - 7200, validUntil: now }), twoOfThree()), ERR_PROOF_EXPIRED);
    });

    it('refuses a validity longer than the attestation max age', async () => {
        const now = p.blockchain.now!;
        const maxAge = Number(TEST_PARAMS.attestationMaxAge);
        await expectRefusedAtRoot(signedProof(fields({ validUntil: now + maxAge + 1 }), twoOfThree()), ERR_VALIDITY_TOO_LONG);
        // exactly the max age is fine
        const ok = await submitAttestation(p, reg, signedProof(fields({ validUntil: now + maxAge, nonce: 9n }), twoOfThree()));
        expect(ok.transactions).toHaveTransaction({ from: p.root.address, to: reg.provider.address, success: true });
    });

    it('refuses an issued-at beyond the allowed clock skew (it would block every later proof)', async () => {
        const now = p.blockchain.now!;
        const skew = Number(MAX_CLOCK_SKEW);
        await expectRefusedAtRoot(
            signedProof(fields({ issuedAt: now + skew + 1, validUntil: now + 3600 }), twoOfThree()),
            ERR_ISSUED_IN_FUTURE,
        );
    });

    it('refuses a valid-until not after issued-at', async () => {
        const now = p.blockchain.now!;
        const raw = beginCell()
            .store(storeAttestationProof({ ...rawProof(), issuedAt: BigInt(now + 100), validUntil: BigInt(now + 100) }))
            .endCell();
        await expectRefusedAtRoot(sign(raw), ERR_INVALID_VALIDITY);
    });

    it('refuses too few signatures', async () => {
        await expectRefusedAtRoot(signedProof(fields(), p.verifiers.slice(0, 1)), ERR_TOO_FEW_SIGNATURES);
    });

    it('refuses the same signer twice', async () => {
        const proof = buildAttestationProof(fields());
        const s = signProof(proof, p.verifiers[0].secretKey);
        await expectRefusedAtRoot({ proof, signatures: buildSignatureChain([s, s]) }, ERR_DUPLICATE_SIGNER);
    });

    it('refuses signatures out of key order', async () => {
        const proof = buildAttestationProof(fields());
        const sigs = twoOfThree()
            .map((k) => signProof(proof, k.secretKey))
            .sort((a, b) => Buffer.compare(b.publicKey, a.publicKey));
        await expectRefusedAtRoot({ proof, signatures: buildSignatureChain(sigs, { keepOrder: true }) }, ERR_SIGNERS_NOT_SORTED);
    });

    it('refuses a signer outside the verifier set', async () => {
        await expectRefusedAtRoot(signedProof(fields(), [p.verifiers[0], seededKey('impostor')]), ERR_UNKNOWN_SIGNER);
    });

    it('refuses a signer that governance removed', async () => {
        await afterGovernance({ $$type: 'RemoveVerifier', queryId: 0n, publicKey: key256(p.verifiers[1].publicKey) });
        await expectRefusedAtRoot(signedProof(fields(), twoOfThree()), ERR_UNKNOWN_SIGNER);
    });

    it('refuses a forged signature', async () => {
        const proof = buildAttestationProof(fields());
        const other = buildAttestationProof(fields({ nonce: 999n }));
        const forged = { ...signProof(other, p.verifiers[1].secretKey) };
        const good = signProof(proof, p.verifiers[0].secretKey);
        await expectRefusedAtRoot({ proof, signatures: buildSignatureChain([good, forged]) }, ERR_BAD_SIGNATURE);
    });

    it('refuses simulated evidence (TCB status 255) on mainnet, whatever the allowlist holds', async () => {
        // the measurement is allowlisted and the signatures are valid: only the status is wrong
        await expectRefusedAtRoot(signedProof(fields({ tcbStatus: Number(TCB_SIMULATED) }), twoOfThree()), ERR_SIMULATED_ON_MAINNET);
        // the development measurement allowlisted by mistake changes nothing
        await afterGovernance({ $$type: 'AllowMeasurement', queryId: 0n, measurement: key256(SIMULATED_MEASUREMENT) });
        const dev = fields({ tcbStatus: Number(TCB_SIMULATED), measurement: SIMULATED_MEASUREMENT, nonce: 2n });
        await expectRefusedAtRoot(signedProof(dev, twoOfThree()), ERR_SIMULATED_ON_MAINNET);
    });

    it('refuses simulated evidence on a mainnet chain under a Root that says testnet (deployed by a governance message)', async () => {
        // DeployRoot checks the network; an owner's first governance message carrying the init does not
        const chainIsMainnet = await Blockchain.create();
        chainIsMainnet.now = START_TIME;
        const governance = await chainIsMainnet.treasury('governance');
        const root = chainIsMainnet.openContract(
            await rootForDeployment({ owner: governance.address, globalId: GLOBAL_ID_TESTNET, params: TEST_PARAMS }),
        );
        const verifiers = ['a', 'b'].map((l) => seededKey('verifier-' + l));
        for (const [i, v] of verifiers.entries()) {
            await root.send(
                governance.getSender(),
                { value: toNano(i === 0 ? '2' : '0.05') },
                { $$type: 'AddVerifier', queryId: 0n, publicKey: key256(v.publicKey) },
            );
        }
        await root.send(
            governance.getSender(),
            { value: toNano('0.05') },
            { $$type: 'AllowMeasurement', queryId: 0n, measurement: key256(SIMULATED_MEASUREMENT) },
        );
        const q: Protocol = {
            blockchain: chainIsMainnet,
            governance,
            root,
            verifiers,
            globalId: Number(await root.getGlobalId()),
            openedAt: new Map(),
        };
        expect(q.globalId).toBe(GLOBAL_ID_TESTNET);
        const qreg = await registerProvider(q);
        const dev = proofFields(q, qreg.provider.address, enclave, {
            tcbStatus: Number(TCB_SIMULATED),
            measurement: SIMULATED_MEASUREMENT,
        });
        const r = await submitAttestation(q, qreg, signedProof(dev, verifiers));
        expect(r.transactions).toHaveTransaction({
            from: qreg.provider.address,
            to: root.address,
            success: false,
            exitCode: Number(ERR_SIMULATED_ON_MAINNET),
        });
        expect(await qreg.provider.getAttestation()).toBeNull();
    });

    it.each([0, 4, 5, 6, 254])('accepts TCB status %i on mainnet (the verifiers judge it, not Root)', async (status) => {
        const r = await submitAttestation(p, reg, signedProof(fields({ tcbStatus: status }), twoOfThree()));
        expect(r.transactions).toHaveTransaction({ from: p.root.address, to: reg.provider.address, success: true });
        expect((await reg.provider.getAttestation())?.tcbStatus).toBe(BigInt(status));
    });

    it('accepts simulated evidence on testnet, where development happens', async () => {
        const testnet = await deployProtocol(TEST_PARAMS, START_TIME, GLOBAL_ID_TESTNET);
        const treg = await registerProvider(testnet);
        const proof = signedProof(
            proofFields(testnet, treg.provider.address, enclave, { tcbStatus: Number(TCB_SIMULATED) }),
            testnet.verifiers.slice(0, 2),
        );
        const r = await submitAttestation(testnet, treg, proof);
        expect(r.transactions).toHaveTransaction({ from: testnet.root.address, to: treg.provider.address, success: true });
        expect((await treg.provider.getAttestation())?.tcbStatus).toBe(BigInt(TCB_SIMULATED));
        expect(testnet.globalId).toBe(GLOBAL_ID_TESTNET);
    });

    it('refuses a measurement governance withdrew', async () => {
        await afterGovernance({ $$type: 'WithdrawMeasurement', queryId: 0n, measurement: key256(MEASUREMENT) });
        await expectRefusedAtRoot(signedProof(fields(), twoOfThree()), ERR_MEASUREMENT_NOT_ALLOWED);
    });

    it('refuses a value that cannot pay for the round trip to Root', async () => {
        const r = await submitAttestation(p, reg, signedProof(fields(), twoOfThree()), toNano('0.005'));
        expect(r.transactions).toHaveTransaction({ to: reg.provider.address, success: false, exitCode: Number(ERR_VALUE_TOO_SMALL) });
        expect(r.transactions).not.toHaveTransaction({ to: p.root.address });
    });

    it('refuses proofs for a Provider that is not registered', async () => {
        const newcomer = await p.blockchain.treasury('newcomer');
        const { provider } = await sendRegister(p, newcomer, toNano('50')); // refused: below the minimum
        const r = await provider.send(
            newcomer.getSender(),
            { value: toNano('0.1') },
            {
                $$type: 'SubmitAttestation',
                queryId: 0n,
                ...signedProof(proofFields(p, provider.address, enclave), twoOfThree()),
            },
        );
        expect(r.transactions).toHaveTransaction({ to: provider.address, success: false, exitCode: Number(ERR_NOT_REGISTERED) });
    });

    it("refreshes the Provider's cached parameters", async () => {
        const params = { ...TEST_PARAMS, minProviderStake: toNano('120'), unbondingPeriod: BigInt(3 * DAY) };
        await governed(p, { $$type: 'SetParams', queryId: 0n, params });
        expect(await reg.provider.getParams()).toEqual(TEST_PARAMS);
        await submitAttestation(p, reg, signedProof(fields(), twoOfThree()));
        expect(await reg.provider.getParams()).toEqual(params);
    });

    it('the proof encoding round-trips', () => {
        const f = fields();
        const parsed = parseAttestationProof(buildAttestationProof(f));
        expect({ ...parsed, root: parsed.root.toString(), provider: parsed.provider.toString() }).toEqual({
            ...f,
            tag: ATTESTATION_PROOF_TAG,
            root: f.root.toString(),
            provider: f.provider.toString(),
        });
    });

    // Helpers for proofs the TypeScript builder refuses to make.
    function rawProof() {
        const f = fields();
        return {
            $$type: 'AttestationProof' as const,
            tag: ATTESTATION_PROOF_TAG,
            globalId: BigInt(f.globalId),
            root: f.root,
            provider: f.provider,
            tcbStatus: 0n,
            issuedAt: BigInt(f.issuedAt),
            validUntil: BigInt(f.validUntil),
            nonce: 1n,
            modelHash: bufferToBigInt(f.modelHash),
            enclave: {
                $$type: 'EnclaveIdentity' as const,
                signingKey: bufferToBigInt(f.signingKey),
                encryptionKey: bufferToBigInt(f.encryptionKey),
                measurement: bufferToBigInt(f.measurement),
            },
        };
    }

    function sign(proof: Cell) {
        return { proof, signatures: buildSignatureChain(twoOfThree().map((k) => signProof(proof, k.secretKey))) };
    }
});
