// Sealing shares: how a restarted worker gets back the key its enclave keys are sealed under, and
// nobody else does. A TDX 1.x guest has no hardware sealing key (TDG.MR.KEY.GET comes with TDX
// 2.0); real Cocoon runs an SGX sealing enclave on each host for this. Cocoon's verifiers already
// judge TDX quotes, and a threshold of them already decides which enclave keys Root trusts, so
// they hold the sealing secrets instead: each verifier started with a sealing secret answers a
// TDX quote with a share derived from that secret and the quote's measurement (its MRTD and
// RTMRs, with the model hash), sealed to a key the quote binds and signed with the verifier's key.
// Only code Root allowlists gets a share: the host relays the worker's quotes and could hand it
// one from a TD of its own code (whose share it could then ask for itself); the GPU evidence that
// goes with the quote completes the measurement the allowlist names. The same code on the same
// provider, network and model gets the same share after any restart; a share travels encrypted to
// a key only the TD holds. The worker combines the shares of its verifiers
// (worker/src/sealed-keys.ts): reading its sealed keys takes every one of them.
import { hkdfSync } from 'crypto';
import type { KeyPair } from '@ton/crypto';
import { ed25519Sign } from '../../wrappers';
import { generateX25519KeyPair, sealAuth } from '../../protocol/hpke';
import { SEALING_SHARE_DOMAIN, sealingGpuNonce, sealingReportData, sealingShareSigned } from '../../protocol/evidence';
import { SealingRequest, SealingShare } from '../../protocol/verifier-api';
import { AllowlistReader, AttestationRefused, CollateralSource, GpuPolicy, asRefusal, judgeBoundEvidence, requireAllowed } from './attest';
import { TcbPolicy } from './quote';

export interface SealerOptions {
    secret: Buffer; // at least 32 bytes; whoever holds it and a worker's measurement can derive its share
    key: KeyPair; // the verifier's ed25519 key: the worker checks it is in Root's verifier set
    collateral: CollateralSource;
    policy: TcbPolicy; // the same TCB policy as attestations: an out-of-date platform gets no share
    devMode: boolean; // simulated evidence gets a share (anyone can make it: development only)
    now: () => number;
    allowlist: AllowlistReader; // Root's: only allowlisted code gets a share
    gpu?: GpuPolicy; // as for attestations
}

export class Sealer {
    constructor(readonly o: SealerOptions) {
        if (o.secret.length < 32) throw new RangeError('the sealing secret must be at least 32 bytes');
    }

    // The share for the code the evidence shows, sealed to the request's reply key and signed.
    async share(req: SealingRequest): Promise<SealingShare> {
        const reportData = sealingReportData(req);
        let measurement: Buffer;
        try {
            measurement = await this.measurementOf(req, reportData);
        } catch (e) {
            throw asRefusal(e) ?? e;
        }
        // (the share depends on the TD's code and model only: a GPU driver update keeps the keys)
        const id = Buffer.alloc(4);
        id.writeInt32BE(req.globalId);
        const info = Buffer.concat([
            SEALING_SHARE_DOMAIN,
            id,
            Buffer.from([req.provider.workChain & 0xff]),
            req.provider.hash,
            req.modelHash,
        ]);
        const share = Buffer.from(hkdfSync('sha256', this.o.secret, measurement, info, 32));
        const sender = generateX25519KeyPair();
        const { enc, ciphertext } = sealAuth(req.replyKey, sender, SEALING_SHARE_DOMAIN, reportData, share);
        const sealed = { senderKey: sender.publicKey, enc, ciphertext };
        return {
            publicKey: this.o.key.publicKey,
            ...sealed,
            signature: ed25519Sign(sealingShareSigned(reportData, sealed), this.o.key.secretKey),
        };
    }

    // The code's measurement: the TD's registers and the model, without the GPUs (they are not
    // code). The full measurement, with the GPUs' evidence, must be on Root's allowlist.
    private async measurementOf(req: SealingRequest, reportData: Buffer): Promise<Buffer> {
        const mismatch = () =>
            new AttestationRefused(
                'report-data-mismatch',
                'report_data does not bind this reply key, network, provider and model (sealingReportData)',
            );
        const bound = { reportData, gpuNonce: sealingGpuNonce(req), modelHash: req.modelHash };
        const verdict = await judgeBoundEvidence(req.evidence, bound, this.o, mismatch);
        await requireAllowed(this.o.allowlist, verdict.measurement);
        return verdict.codeMeasurement;
    }
}
