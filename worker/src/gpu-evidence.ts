// GPU evidence for an attestation, collected with NVIDIA's Attestation CLI, `nvattest` (NVIDIA
// Attestation SDK, nvtrust), which reads each Hopper-or-later GPU in confidential-computing mode
// through NVML: `nvattest collect-evidence --device gpu --format json --nonce HEX` prints
//   {"evidences": [{"arch": "HOPPER", "nonce": "…", "evidence": BASE64, "certificate": BASE64,
//                   …}], "result_code": 0, "result_message": "Ok"}
// where `evidence` is the GPU's SPDM GET_MEASUREMENTS request and signed response and
// `certificate` its attestation key chain in PEM (the layout of ../shared/fixtures/nvidia). The
// nonce is the one the verifier expects for this attestation (protocol/evidence.ts
// expectedGpuNonce), so a report cannot be lifted from another machine or moment; this module
// checks it too, so that a wrong answer is named here rather than as a verifier refusal.
import { spawn } from 'child_process';
import { z } from 'zod';
import { GpuEvidence, MAX_GPU_REPORT_BYTES, MAX_GPUS } from '../../protocol/evidence';
import { EvidenceUnavailable } from './evidence';

export const NVATTEST_COMMAND = ['nvattest', 'collect-evidence', '--device', 'gpu', '--format', 'json'];

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'not base64');

const nvattestOutputSchema = z.object({
    evidences: z.array(z.object({ evidence: base64, certificate: base64, arch: z.string().optional() }).passthrough()),
    result_code: z.number(),
    result_message: z.string().optional(),
});

// SPDM 1.1 GET_MEASUREMENTS: version 0x11, request code 0xE0; the requester's nonce is bytes 4..35.
const SPDM_VERSION_1_1 = 0x11;
const GET_MEASUREMENTS = 0xe0;

// The GPUs' evidence from nvattest's JSON output, checked against the nonce it was asked for.
export function parseNvattestOutput(stdout: string, expectedNonce: Buffer): GpuEvidence[] {
    let json: unknown;
    try {
        json = JSON.parse(stdout);
    } catch {
        throw new EvidenceUnavailable(
            'nvattest printed no JSON: check that it is NVIDIA Attestation CLI 1.0 or later (`nvattest version`)',
        );
    }
    const out = nvattestOutputSchema.safeParse(json);
    if (!out.success) {
        const issue = out.error.issues[0];
        throw new EvidenceUnavailable(
            `nvattest's output is not the evidence format this worker reads (${issue.path.join('.')}: ${issue.message})`,
        );
    }
    const { evidences, result_code, result_message } = out.data;
    if (result_code !== 0) {
        throw new EvidenceUnavailable(
            `nvattest could not collect GPU evidence: ${result_message ?? 'no message'} (result code ${result_code}); check that the GPUs are in confidential-computing mode (nvidia-smi conf-compute -f)`,
        );
    }
    if (evidences.length === 0) throw new EvidenceUnavailable('nvattest found no GPU in confidential-computing mode');
    if (evidences.length > MAX_GPUS)
        throw new EvidenceUnavailable(`nvattest returned ${evidences.length} GPUs; a worker attests at most ${MAX_GPUS}`);
    const seen = new Set<string>();
    return evidences.map((e, i) => {
        const report = Buffer.from(e.evidence, 'base64');
        if (report.length < 37 || report.length > MAX_GPU_REPORT_BYTES) {
            throw new EvidenceUnavailable(
                `GPU ${i}: the evidence is ${report.length} bytes, not an SPDM report of at most ${MAX_GPU_REPORT_BYTES}`,
            );
        }
        if (report[0] !== SPDM_VERSION_1_1 || report[1] !== GET_MEASUREMENTS) {
            throw new EvidenceUnavailable(`GPU ${i}: the evidence does not start with an SPDM 1.1 GET_MEASUREMENTS request`);
        }
        if (!report.subarray(4, 36).equals(expectedNonce)) {
            throw new EvidenceUnavailable(`GPU ${i}: the report answers another nonce than the one this attestation asked for`);
        }
        const certChain = Buffer.from(e.certificate, 'base64').toString('utf8');
        if (!certChain.includes('-----BEGIN CERTIFICATE-----')) {
            throw new EvidenceUnavailable(`GPU ${i}: the certificate field holds no PEM certificate chain`);
        }
        // one GPU listed twice would attest as two: the verifier refuses it, so it is named here
        const leaf = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(certChain)?.[1].replace(/\s+/g, '') ?? '';
        for (const key of [`report:${report.toString('hex')}`, `device:${leaf}`]) {
            if (seen.has(key)) throw new EvidenceUnavailable(`GPU ${i}: the same GPU as an earlier entry (nvattest listed it twice)`);
            seen.add(key);
        }
        return { report, certChain };
    });
}

// Runs nvattest (or `command`, the same CLI elsewhere) for this nonce and reads its output. It
// runs in its own process group, killed outright (SIGKILL) at the timeout: a tool stuck in a
// driver call must not hold the worker, which goes on serving and claiming meanwhile.
export function collectGpuEvidence(nonce: Buffer, command: string[] = NVATTEST_COMMAND, timeoutMs = 60_000): Promise<GpuEvidence[]> {
    if (nonce.length !== 32) throw new RangeError('the GPU nonce is 32 bytes');
    const [file, ...args] = command;
    return new Promise((resolve, reject) => {
        const child = spawn(file, [...args, '--nonce', nonce.toString('hex')], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        let failed: Error | undefined;
        const fail = (e: Error) => {
            failed ??= e;
            killGroup(child.pid);
        };
        const timer = setTimeout(
            () => fail(new EvidenceUnavailable(`${file} gave no answer within ${timeoutMs} ms and was stopped`)),
            timeoutMs,
        );
        child.stdout.setEncoding('utf8').on('data', (d: string) => {
            stdout += d;
            if (stdout.length > MAX_OUTPUT)
                fail(new EvidenceUnavailable(`${file} printed more than ${MAX_OUTPUT} bytes: not GPU evidence`));
        });
        child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4096)));
        child.on('error', (e: NodeJS.ErrnoException) =>
            fail(
                new EvidenceUnavailable(
                    e.code === 'ENOENT'
                        ? `${file} was not found: install NVIDIA's Attestation CLI (nvattest, from the NVIDIA Attestation SDK) in the TD`
                        : `${file} failed to run: ${e.message}`,
                ),
            ),
        );
        child.on('close', (status) => {
            clearTimeout(timer);
            if (failed) return reject(failed);
            if (status !== 0 && !stdout.trim()) {
                return reject(
                    new EvidenceUnavailable(`${file} exited with status ${status}: ${stderr.trim().split('\n').slice(-1)[0] ?? ''}`),
                );
            }
            try {
                resolve(parseNvattestOutput(stdout, nonce));
            } catch (e) {
                reject(e);
            }
        });
    });
}

const MAX_OUTPUT = 4 * 1024 * 1024;

function killGroup(pid: number | undefined) {
    if (pid === undefined) return;
    try {
        process.kill(-pid, 'SIGKILL'); // the whole group: the tool and anything it started
    } catch {
        // already gone
    }
}
