// The model hash across threshold signatures (found by the outside review of the model binding):
// a co-signing verifier signs only the proof it would build itself from the evidence, so one
// dishonest verifier cannot get an honest peer's signature on a proof naming another model than
// report_data binds (the provider would list the expensive model and serve the cheap one); and a
// client that judges the evidence itself compares the model hash with the attestation's too.
import '@ton/test-utils';
import { createServer, Server } from 'http';
import { AddressInfo } from 'net';
import { toNano } from '@ton/core';
import { GLOBAL_ID_TESTNET, SESSION_OPEN, TCB_SIMULATED, buildAttestationProof, signProof, buildSignatureChain } from '../../wrappers';
import { Attestor, judgeEvidence, simulatedMeasurement } from '../../tee-verifier/src/attest';
import { AttestationRequest, NO_GPU_EVIDENCE } from '../../protocol/evidence';
import { encodeAttestationRequest } from '../../protocol/verifier-api';
import { signTicket } from '../../tee-verifier/src/peer-auth';
import { DEFAULT_TCB_POLICY } from '../../tee-verifier/src/quote';
import { VerifierStore } from '../../tee-verifier/src/store';
import { CocoonClient } from '../../sdk';
import { sandboxChain } from '../../protocol/chain';
import {
    MODEL_HASH,
    OTHER_MODEL_HASH,
    Protocol,
    RegisteredProvider,
    START_TIME,
    TEST_LISTING,
    TEST_PARAMS,
    deployProtocol,
    key256,
    makeEnclave,
    requireSuccess,
    sendOpenSession,
    sendRegister,
    simulatedAttestation,
} from '../../testkit';
import { join } from 'path';
import { tempDir } from '../tmp';

// The listed (expensive) model and the one the worker really serves (cheap, also allowlisted).
const LISTED = MODEL_HASH;
const SERVED = OTHER_MODEL_HASH;
const SERVED_MEASUREMENT = simulatedMeasurement(NO_GPU_EVIDENCE, SERVED);

describe('the model hash across threshold signatures', () => {
    let p: Protocol;
    let reg: RegisteredProvider;
    let server: Server;
    let endpoint: string;
    let served: AttestationRequest | undefined;
    const enclave = makeEnclave('model-worker');

    beforeEach(async () => {
        p = await deployProtocol(TEST_PARAMS, START_TIME, GLOBAL_ID_TESTNET);
        // governance allowlists the (image, cheap model) configuration: a legitimate pair
        await p.root.send(
            p.governance.getSender(),
            { value: toNano('0.05') },
            { $$type: 'AllowMeasurement', queryId: 0n, measurement: key256(SERVED_MEASUREMENT) },
        );
        served = undefined;
        server = createServer((req, res) => {
            if (req.url === '/v1/evidence' && served) {
                res.writeHead(200, { 'content-type': 'application/json' });
                res.end(JSON.stringify(encodeAttestationRequest(served)));
            } else {
                res.writeHead(404).end('{}');
            }
        });
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
        endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
        const owner = await p.blockchain.treasury('model-owner');
        // the listing names both models with the expensive model's hash (LISTED)
        const { provider, result } = await sendRegister(p, owner, toNano('300'), { ...TEST_LISTING, endpoint });
        requireSuccess(result.transactions, p.root.address, provider.address);
        reg = { owner, provider };
    });

    afterEach(async () => {
        await new Promise((r) => server.close(r));
    });

    function honestPeer(store: VerifierStore) {
        return new Attestor({
            store,
            key: p.verifiers[1],
            root: p.root.address,
            globalId: p.globalId,
            allowlist: { isAllowed: async (m) => p.root.getIsMeasurementAllowed(key256(m)) },
            verifierSet: { isVerifier: async (k) => p.root.getIsVerifier(key256(k)) },
            collateral: { collateralFor: async () => Promise.reject(new Error('simulated')) },
            policy: DEFAULT_TCB_POLICY,
            validitySeconds: 6 * 3600,
            nonceTtlSeconds: 600,
            devMode: true,
            now: () => p.blockchain.now!,
            peers: [],
            threshold: 2,
        });
    }

    // What a dishonest verifier A builds: the worker's genuine request (report_data binds SERVED),
    // and a proof that says LISTED, with the measurement the evidence really shows.
    function forgedCosignRequest(nonce: bigint) {
        const binding = {
            signingKey: enclave.signing.publicKey,
            encryptionKey: enclave.encryption,
            provider: reg.provider.address,
            nonce,
            modelHash: SERVED,
        };
        const request: AttestationRequest = simulatedAttestation(binding);
        const now = p.blockchain.now!;
        const proof = buildAttestationProof({
            globalId: p.globalId,
            root: p.root.address,
            provider: reg.provider.address,
            signingKey: enclave.signing.publicKey,
            encryptionKey: enclave.encryption,
            measurement: SERVED_MEASUREMENT,
            modelHash: LISTED, // not what report_data binds
            tcbStatus: Number(TCB_SIMULATED),
            issuedAt: now,
            validUntil: now + 3600,
            nonce,
        });
        const ticket = signTicket(
            { globalId: p.globalId, root: p.root.address, provider: reg.provider.address, nonce, issuedAt: now, expiresAt: now + 600 },
            p.verifiers[0],
        );
        return { request, proof, ticket };
    }

    it('an honest peer refuses to co-sign a proof whose modelHash is not the one report_data binds', async () => {
        const store = new VerifierStore(join(tempDir('cosign-model'), 'v.sqlite'));
        try {
            const c = forgedCosignRequest(4242n);
            await expect(honestPeer(store).cosign(c, p.verifiers[0].publicKey)).rejects.toMatchObject({ code: 'proof-mismatch' });
        } finally {
            store.close();
        }
    });

    it('without that co-signature no proof naming the listed model lands, and no session for it opens', async () => {
        const store = new VerifierStore(join(tempDir('cosign-model'), 'v.sqlite'));
        let opened = false;
        try {
            const c = forgedCosignRequest(4343n);
            const peerSig = await honestPeer(store)
                .cosign(c, p.verifiers[0].publicKey)
                .catch(() => null);
            if (peerSig) {
                const signatures = buildSignatureChain([signProof(c.proof, p.verifiers[0].secretKey), peerSig]);
                const r = await reg.provider.send(
                    reg.owner.getSender(),
                    { value: toNano('0.1') },
                    { $$type: 'SubmitAttestation', queryId: 0n, proof: c.proof, signatures },
                );
                requireSuccess(r.transactions, p.root.address, reg.provider.address);
                expect((await reg.provider.getAttestation())!.modelHash).toBe(key256(LISTED));
                const { session } = await sendOpenSession(p, reg.owner.address);
                opened = (await session.getStatus()) === SESSION_OPEN;
            }
        } finally {
            store.close();
        }
        expect(opened).toBe(false);
    });

    it('verifyProviderEvidence refuses evidence for another model than the attestation names', async () => {
        // the attestation on-chain says LISTED with the SERVED measurement (as the forged proof above
        // would put it; signed here directly by two verifier keys to isolate the client's check)
        const now = p.blockchain.now!;
        const fields = {
            globalId: p.globalId,
            root: p.root.address,
            provider: reg.provider.address,
            signingKey: enclave.signing.publicKey,
            encryptionKey: enclave.encryption,
            measurement: SERVED_MEASUREMENT,
            modelHash: LISTED,
            tcbStatus: Number(TCB_SIMULATED),
            issuedAt: now,
            validUntil: now + 3600,
            nonce: 5n,
        };
        const proof = buildAttestationProof(fields);
        const signatures = buildSignatureChain(p.verifiers.slice(0, 2).map((k) => signProof(proof, k.secretKey)));
        const r = await reg.provider.send(
            reg.owner.getSender(),
            { value: toNano('0.1') },
            { $$type: 'SubmitAttestation', queryId: 0n, proof, signatures },
        );
        requireSuccess(r.transactions, p.root.address, reg.provider.address);
        // the worker serves its real evidence: report_data binds SERVED
        const binding = {
            signingKey: enclave.signing.publicKey,
            encryptionKey: enclave.encryption,
            provider: reg.provider.address,
            nonce: 5n,
            modelHash: SERVED,
        };
        served = simulatedAttestation(binding);
        const wallet = await p.blockchain.treasury('distrusting-client');
        const client = new CocoonClient({ chain: sandboxChain(p.blockchain), wallet: wallet.getSender() as never, root: p.root.address });
        const judge = (req: AttestationRequest) =>
            judgeEvidence(req, {
                devMode: true,
                collateral: { collateralFor: () => Promise.reject(new Error('simulated')) },
                policy: DEFAULT_TCB_POLICY,
                now: () => p.blockchain.now!,
            });
        await expect(client.verifyProviderEvidence(reg.provider.address, judge)).rejects.toMatchObject({ code: 'evidence-mismatch' });
    });
});
