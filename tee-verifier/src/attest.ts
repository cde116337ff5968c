// The verifier's decision: does this evidence show the allowed code, in a genuine TEE, holding
// these enclave keys, for this provider, now? Only then is a proof signed (and co-signed by peer
// verifiers up to the threshold) and queued for submission.
import { Address, Cell } from '@ton/core';
import { KeyPair } from '@ton/crypto';
import { randomBytes } from 'crypto';
import { sha256 } from '@noble/hashes/sha256';
import { Collateral } from '@phala/dcap-qvl';
import {
    AttestationFields,
    ProofSignature,
    TCB_SIMULATED,
    buildAttestationProof,
    parseAttestationProof,
    signProof,
    verifyProofSignature,
} from '../../wrappers';
import { TcbPolicy, QuoteRejected, verifyQuote } from './quote';
import { NO_GPU_EVIDENCE, expectedReportData, tdxMeasurement } from './measurement';
import { VerifierStore } from './store';

// Development mode: evidence of a TEE that does not exist. Its measurement is this fixed hash,
// which a production allowlist never contains, and the proof carries TCB status TCB_SIMULATED.
export const SIMULATED_MEASUREMENT = Buffer.from(sha256(Buffer.from('cocoon-simulated-tee-v1')));

export const TCB_CODES: Record<string, number> = {
    UpToDate: 0,
    SWHardeningNeeded: 1,
    ConfigurationNeeded: 2,
    ConfigurationAndSWHardeningNeeded: 3,
    OutOfDate: 4,
    OutOfDateConfigurationNeeded: 5,
};

export type Evidence = { kind: 'tdx'; quote: Buffer; gpuEvidenceDigest?: Buffer } | { kind: 'simulated'; reportData: Buffer };

export interface AttestationRequest {
    provider: Address;
    signingKey: Buffer; // enclave ed25519 public key
    encryptionKey: Buffer; // enclave X25519 public key
    nonce: bigint;
    evidence: Evidence;
}

export type RefusalCode =
    | QuoteRejected['code']
    | 'bad-nonce'
    | 'report-data-mismatch'
    | 'measurement-not-allowed'
    | 'simulated-evidence-refused'
    | 'proof-mismatch'
    | 'peers-unavailable'
    | 'chain-unavailable';

export class AttestationRefused extends Error {
    constructor(
        readonly code: RefusalCode,
        message: string,
    ) {
        super(message);
        this.name = 'AttestationRefused';
    }
}

export interface AllowlistReader {
    isAllowed(measurement: Buffer): Promise<boolean>;
}

export interface CollateralSource {
    collateralFor(quote: Buffer): Promise<Collateral>;
}

// Another verifier that co-signs proofs (POST /cosign).
export interface Peer {
    name: string;
    cosign(request: AttestationRequest, proof: Cell): Promise<ProofSignature>;
}

export interface AttestorOptions {
    store: VerifierStore;
    key: KeyPair;
    root: Address;
    globalId: number;
    allowlist: AllowlistReader;
    collateral: CollateralSource;
    policy: TcbPolicy;
    validitySeconds: number; // how long a proof is valid; at most Root's attestationMaxAge
    nonceTtlSeconds: number;
    devMode: boolean; // accept simulated evidence (never in production)
    now: () => number; // unix seconds
    peers: Peer[];
    threshold: number; // signatures a proof needs (own included)
}

interface Verdict {
    measurement: Buffer;
    tcbStatus: number;
}

export class Attestor {
    constructor(readonly o: AttestorOptions) {}

    get publicKey(): Buffer {
        return this.o.key.publicKey;
    }

    issueNonce(provider: Address): bigint {
        const nonce = randomBytes(8).readBigUInt64BE();
        this.o.store.issueNonce(nonce.toString(), provider.toRawString(), this.o.now());
        return nonce;
    }

    // Verifies the evidence, signs a proof, gathers co-signatures and queues it. Every decision,
    // accepted or not, goes to the audit log.
    async attest(req: AttestationRequest): Promise<{ id: number; proof: Cell; signatures: ProofSignature[] }> {
        const now = this.o.now();
        const provider = req.provider.toRawString();
        let verdict: Verdict | undefined;
        try {
            const problem = this.o.store.nonceProblem(req.nonce.toString(), provider, now, this.o.nonceTtlSeconds);
            if (problem) throw new AttestationRefused('bad-nonce', problem);
            verdict = await this.evaluate(req);
            const proof = buildAttestationProof(this.fields(req, verdict, now));
            const signatures = [signProof(proof, this.o.key.secretKey), ...(await this.gatherCosignatures(req, proof))];
            const id = this.o.store.saveProof(
                {
                    provider,
                    nonce: req.nonce.toString(),
                    proofBoc: proof.toBoc().toString('base64'),
                    signatures: signatures.map((s) => ({ publicKey: s.publicKey.toString('hex'), signature: s.signature.toString('hex') })),
                    issuedAt: now,
                    validUntil: now + this.o.validitySeconds,
                    nextAttemptAt: now,
                },
                now,
            );
            this.audit(req, now, true, 'accepted', verdict);
            return { id, proof, signatures };
        } catch (e) {
            const reason =
                e instanceof AttestationRefused || e instanceof QuoteRejected
                    ? `${e.code}: ${e.message}`
                    : `error: ${(e as Error).message}`;
            this.audit(req, now, false, reason, verdict);
            if (e instanceof QuoteRejected) throw new AttestationRefused(e.code, e.message);
            throw e;
        }
    }

    // A peer's proof: re-verify the same evidence, check the proof says exactly what this verifier
    // would sign (its own clock and validity limit aside), and return only the signature.
    async cosign(req: AttestationRequest, proof: Cell): Promise<ProofSignature> {
        const now = this.o.now();
        const verdict = await this.evaluate(req);
        const p = parseAttestationProof(proof);
        const expected = this.fields(req, verdict, p.issuedAt);
        const same =
            p.globalId === expected.globalId &&
            p.root.equals(expected.root) &&
            p.provider.equals(expected.provider) &&
            p.signingKey.equals(expected.signingKey) &&
            p.encryptionKey.equals(expected.encryptionKey) &&
            p.measurement.equals(expected.measurement) &&
            p.tcbStatus === expected.tcbStatus &&
            p.nonce === req.nonce &&
            Math.abs(p.issuedAt - now) <= 300 &&
            p.validUntil - p.issuedAt <= this.o.validitySeconds;
        if (!same)
            throw new AttestationRefused(
                'proof-mismatch',
                'the proof does not state what the evidence shows, or its validity is longer than this verifier allows',
            );
        return signProof(proof, this.o.key.secretKey);
    }

    private fields(req: AttestationRequest, v: Verdict, issuedAt: number): AttestationFields {
        return {
            globalId: this.o.globalId,
            root: this.o.root,
            provider: req.provider,
            signingKey: req.signingKey,
            encryptionKey: req.encryptionKey,
            measurement: v.measurement,
            tcbStatus: v.tcbStatus,
            issuedAt,
            validUntil: issuedAt + this.o.validitySeconds,
            nonce: req.nonce,
        };
    }

    private async evaluate(req: AttestationRequest): Promise<Verdict> {
        const expected = expectedReportData({
            signingKey: req.signingKey,
            encryptionKey: req.encryptionKey,
            provider: req.provider,
            nonce: req.nonce,
        });
        let verdict: Verdict;
        let reportData: Buffer;
        if (req.evidence.kind === 'simulated') {
            if (!this.o.devMode) {
                throw new AttestationRefused(
                    'simulated-evidence-refused',
                    'simulated TEE evidence is accepted only by a verifier started in development mode',
                );
            }
            reportData = req.evidence.reportData;
            verdict = { measurement: SIMULATED_MEASUREMENT, tcbStatus: Number(TCB_SIMULATED) };
        } else {
            const collateral = await this.o.collateral.collateralFor(req.evidence.quote);
            const q = await verifyQuote(req.evidence.quote, collateral, this.o.now(), this.o.policy);
            if (q.teeType !== 'TDX') throw new QuoteRejected('tcb-rejected', 'only Intel TDX quotes attest a Cocoon worker');
            reportData = q.reportData;
            const { mrTd, rtMr0, rtMr1, rtMr2, rtMr3 } = q.tdx!;
            verdict = {
                measurement: tdxMeasurement({ mrTd, rtMr0, rtMr1, rtMr2, rtMr3 }, req.evidence.gpuEvidenceDigest ?? NO_GPU_EVIDENCE),
                tcbStatus: TCB_CODES[q.tcbStatus] ?? 255,
            };
        }
        if (!reportData.equals(expected)) {
            throw new AttestationRefused(
                'report-data-mismatch',
                'report_data does not bind these enclave keys, this provider and this nonce (see tee-verifier/README.md for the layout)',
            );
        }
        let allowed: boolean;
        try {
            allowed = await this.o.allowlist.isAllowed(verdict.measurement);
        } catch (e) {
            throw new AttestationRefused('chain-unavailable', `cannot read Root's measurement allowlist: ${(e as Error).message}`);
        }
        if (!allowed) {
            throw new AttestationRefused(
                'measurement-not-allowed',
                `measurement ${verdict.measurement.toString('hex')} is not on Root's allowlist: governance must send AllowMeasurement for it, or the worker runs an image nobody approved`,
            );
        }
        return verdict;
    }

    private async gatherCosignatures(req: AttestationRequest, proof: Cell): Promise<ProofSignature[]> {
        const needed = this.o.threshold - 1;
        if (needed <= 0) return [];
        const got: ProofSignature[] = [];
        const failures: string[] = [];
        for (const peer of this.o.peers) {
            if (got.length >= needed) break;
            try {
                const s = await peer.cosign(req, proof);
                if (!verifyProofSignature(proof, s)) throw new Error('returned a signature that does not verify');
                got.push(s);
            } catch (e) {
                failures.push(`${peer.name}: ${(e as Error).message}`);
            }
        }
        if (got.length < needed) {
            throw new AttestationRefused(
                'peers-unavailable',
                `needed ${needed} co-signature(s), got ${got.length} (${failures.join('; ') || 'no peers configured'})`,
            );
        }
        return got;
    }

    private audit(req: AttestationRequest, at: number, accepted: boolean, reason: string, verdict?: Verdict) {
        this.o.store.audit({
            at,
            provider: req.provider.toRawString(),
            nonce: req.nonce.toString(),
            accepted,
            reason,
            measurement: verdict ? verdict.measurement.toString('hex') : null,
            tcbStatus: verdict ? String(verdict.tcbStatus) : null,
        });
    }
}
