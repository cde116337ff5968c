// Attestation evidence for the enclave keys: a real TDX quote through the Linux configfs-tsm
// interface when the machine is a TDX guest, otherwise (only when the operator allows it) the
// simulated format that verifiers accept in development mode and Root's allowlist never does.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'fs';
import { join } from 'path';
import { randomBytes } from 'crypto';
import {
    Evidence,
    GpuEvidence,
    ReportDataBinding,
    SealingBinding,
    expectedGpuNonce,
    expectedReportData,
    sealingGpuNonce,
    sealingReportData,
} from '../../protocol/evidence';

export const TSM_REPORT_DIR = '/sys/kernel/config/tsm/report';

export interface EvidenceOptions {
    tsmDir: string; // TSM_REPORT_DIR, or another path in tests
    allowSimulated: boolean;
    // Collects the GPUs' evidence for a nonce (gpu-evidence.ts: nvattest); absent only in
    // development mode, where the proof then carries no GPU evidence.
    gpu?: (nonce: Buffer) => Promise<GpuEvidence[]>;
}

export class EvidenceUnavailable extends Error {
    constructor(message: string) {
        super(message);
        this.name = 'EvidenceUnavailable';
    }
}

export function teeKind(o: EvidenceOptions): 'tdx' | 'simulated' {
    if (existsSync(o.tsmDir)) return 'tdx';
    if (o.allowSimulated) return 'simulated';
    throw new EvidenceUnavailable(
        `no TDX quote interface at ${o.tsmDir}: run the worker in a TDX guest with configfs-tsm ` +
            '(Linux 6.7+, mount -t configfs none /sys/kernel/config), or pass --dev to use simulated evidence that only development verifiers accept',
    );
}

// The evidence for one attestation: the quote (or simulated report data) over the binding of
// keys, provider and verifier nonce, and the GPUs' reports over the GPU nonce of the same binding.
export function collectEvidence(binding: ReportDataBinding, o: EvidenceOptions): Promise<Evidence> {
    return evidenceOver(expectedReportData(binding), expectedGpuNonce(binding), o);
}

// The evidence of a sealing request (sealed-keys.ts), the same way over its own report_data and
// GPU nonce (the verifier allowlists the whole measurement).
export function sealingEvidence(binding: SealingBinding, o: EvidenceOptions): Promise<Evidence> {
    return evidenceOver(sealingReportData(binding), sealingGpuNonce(binding), o);
}

async function evidenceOver(reportData: Buffer, gpuNonce: Buffer, o: EvidenceOptions): Promise<Evidence> {
    const gpu = o.gpu ? { gpu: await o.gpu(gpuNonce) } : {};
    if (teeKind(o) === 'simulated') return { kind: 'simulated', reportData, ...gpu };
    return { kind: 'tdx', quote: tsmQuote(reportData, o.tsmDir), ...gpu };
}

// configfs-tsm: create a report entry, write the report data to inblob, read the quote from
// outblob, remove the entry. The kernel asks the TDX module and the quoting service for us.
export function tsmQuote(reportData: Buffer, tsmDir: string): Buffer {
    const entry = join(tsmDir, `cocoon-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
        mkdirSync(entry);
    } catch (e) {
        throw new EvidenceUnavailable(`cannot create ${entry} (${(e as Error).message}): the worker needs write access to ${tsmDir}`);
    }
    try {
        const provider = readIfPresent(join(entry, 'provider'));
        if (provider !== undefined && provider.trim() !== 'tdx_guest') {
            throw new EvidenceUnavailable(`configfs-tsm is backed by "${provider.trim()}", not tdx_guest: Cocoon attests TDX guests`);
        }
        writeFileSync(join(entry, 'inblob'), reportData);
        let quote: Buffer;
        try {
            quote = readFileSync(join(entry, 'outblob'));
        } catch (e) {
            throw new EvidenceUnavailable(
                `reading the quote from ${join(entry, 'outblob')} failed (${(e as Error).message}): check that the host runs a TDX quoting service (QGS) reachable from the guest`,
            );
        }
        if (quote.length < 48)
            throw new EvidenceUnavailable(`the quote from configfs-tsm is ${quote.length} bytes, too short to be a TDX quote`);
        return quote;
    } finally {
        try {
            rmdirSync(entry);
        } catch {
            // a leftover entry costs nothing and is reused by nobody
        }
    }
}

function readIfPresent(path: string): string | undefined {
    try {
        return readFileSync(path, 'utf8');
    } catch {
        return undefined;
    }
}
