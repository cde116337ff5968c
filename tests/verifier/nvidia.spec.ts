// NVIDIA GPU evidence on the real H100 fixtures of data/nvidia/ (NVIDIA's nvtrust samples, Apache
// License 2.0): the genuine report accepted, the other driver's report refused naming the differing
// measurements, and each tamper refused with the code of the check it fails. RIMs are verified at
// 2024-06-01 (their signing chain has expired since), never at the wall clock.
import 'reflect-metadata';
import { readFileSync } from 'fs';
import { join } from 'path';
import { Address } from '@ton/core';
import { X509Certificate } from '@peculiar/x509';
import {
    GpuEvidenceRejected,
    GpuTrust,
    gpuEvidenceDigest,
    nvidiaRoots,
    parseGpuReport,
    verifyGpuEvidence,
} from '../../tee-verifier/src/nvidia';
import { expectedGpuNonce, expectedReportData } from '../../protocol/evidence';
import { parsePemChain } from '../../tee-verifier/src/x509-chain';
import { selfMadeChain } from './gpu-fixtures';
import { EXAMPLE_BINDING } from '../../testkit';

export const NVIDIA = join(__dirname, 'data', 'nvidia');
const text = (name: string) => readFileSync(join(NVIDIA, name), 'utf8');
const hexFile = (name: string) => Buffer.from(text(name).trim(), 'hex');

export const GPU_TIME = new Date(1_717_200_000 * 1000);
const report = hexFile('attestationReport.txt');
const certChain = text('gpuAkCertChain.txt');
const NONCE = Buffer.from('4cff7f5380ead8fad8ec2c531c110aca4302a88f603792801a8ca29ee151af2e', 'hex');
const driverRim = text('Driver_RIM_test_no_gpu.swidtag');
const vbiosRim = text('1010_0200_882_96005E0001_test_no_gpu.swidtag');
const trust: GpuTrust = { ...nvidiaRoots(), rims: [driverRim, vbiosRim], revocation: 'offline' };

async function rejection(f: () => Promise<unknown>): Promise<GpuEvidenceRejected> {
    try {
        await f();
    } catch (e) {
        if (e instanceof GpuEvidenceRejected) return e;
        throw e;
    }
    throw new Error('expected a rejection, the evidence was accepted');
}

const pems = (certs: X509Certificate[]) => certs.map((c) => c.toString('pem')).join('\n');

describe('NVIDIA GPU evidence', () => {
    it('the genuine report with its chain is accepted with its nonce, every golden value checked', async () => {
        const v = await verifyGpuEvidence({ report, certChain }, NONCE, trust, GPU_TIME);
        expect(v).toMatchObject({ driverVersion: '545.00', vbiosVersion: '96.00.5E.00.01', measurementsChecked: 33 });
        expect(v.digest).toHaveLength(32);
        // the digest covers exactly the golden-checked measurements (RIM indices 0-12 and 21-40), by RIM index
        const parsed = parseGpuReport(report);
        const golden = [...Array.from({ length: 13 }, (_, i) => i), ...Array.from({ length: 20 }, (_, i) => 21 + i)];
        expect(v.digest).toEqual(gpuEvidenceDigest(golden.map((i) => [i, parsed.measurements.get(i + 1)!])));
    });

    it('the other driver version is refused as a measurement mismatch naming the differing indices', async () => {
        const hopper = hexFile('hopperAttestationReport.txt');
        const r = await rejection(() =>
            verifyGpuEvidence({ report: hopper, certChain: text('hopperCertChain.txt') }, hopper.subarray(4, 36), trust, GPU_TIME),
        );
        expect(r.code).toBe('measurement-mismatch');
        expect(r.details.mismatchedIndices).toEqual([1, 2, 3, 7, 9, 11, 21, 22, 25, 26, 27, 29, 30, 31, 32, 34, 36, 37, 39, 40]);
        expect(r.message).toContain('20 of 33 measurements differ');
        expect(r.message).toContain('driver 550.90.07');
    });

    it('a flipped bit of the signature, or a byte of a measurement, breaks the signature', async () => {
        const flipped = Buffer.from(report);
        flipped[flipped.length - 1] ^= 0x01;
        expect((await rejection(() => verifyGpuEvidence({ report: flipped, certChain }, NONCE, trust, GPU_TIME))).code).toBe(
            'signature-invalid',
        );
        const measured = Buffer.from(report);
        measured[37 + 8 + 7 * 55 + 7 + 10] ^= 0x01; // inside the value of block 8 (RIM index 7)
        expect((await rejection(() => verifyGpuEvidence({ report: measured, certChain }, NONCE, trust, GPU_TIME))).code).toBe(
            'signature-invalid',
        );
    });

    it('a nonce other than the expected one is refused', async () => {
        const other = Buffer.from(NONCE);
        other[0] ^= 0x01;
        const r = await rejection(() => verifyGpuEvidence({ report, certChain }, other, trust, GPU_TIME));
        expect([r.code, r.message]).toEqual(['nonce-mismatch', expect.stringContaining(NONCE.toString('hex'))]);
    });

    it('a chain with a missing intermediate, or in the wrong order, is refused', async () => {
        const certs = parsePemChain(certChain);
        expect(certs).toHaveLength(5);
        let r = await rejection(() =>
            verifyGpuEvidence({ report, certChain: pems([certs[0], ...certs.slice(2)]) }, NONCE, trust, GPU_TIME),
        );
        expect([r.code, r.message]).toEqual(['chain-incomplete', expect.stringContaining('GH100 A01 GSP BROM')]);
        r = await rejection(() =>
            verifyGpuEvidence({ report, certChain: pems([certs[0], certs[2], certs[1], certs[3], certs[4]]) }, NONCE, trust, GPU_TIME),
        );
        expect(r.code).toBe('chain-order');
        r = await rejection(() => verifyGpuEvidence({ report, certChain: pems([...certs].reverse()) }, NONCE, trust, GPU_TIME));
        expect(r.code).toBe('chain-order');
    });

    it("a self-made chain carrying NVIDIA's subject names, signing its own report, is refused", async () => {
        const { chain, signReport } = await selfMadeChain(parsePemChain(certChain));
        const forged = signReport(report);
        const r = await rejection(() => verifyGpuEvidence({ report: forged, certChain: pems(chain) }, NONCE, trust, GPU_TIME));
        expect([r.code, r.message]).toEqual([
            'chain-untrusted',
            expect.stringContaining('the pinned root "CN=NVIDIA Device Identity CA, O=NVIDIA"'),
        ]);
    });

    it('a measurement byte changed in a report signed by a trusted key is a mismatch at that index', async () => {
        // the same self-made chain, this time trusted as the root: the signature holds, the measurement does not
        const { chain, signReport } = await selfMadeChain(parsePemChain(certChain));
        const changed = Buffer.from(report);
        changed[37 + 8 + 7 * 55 + 7 + 10] ^= 0x01;
        const testTrust = { ...trust, deviceRoot: chain[chain.length - 1] };
        const r = await rejection(() =>
            verifyGpuEvidence({ report: signReport(changed), certChain: pems(chain) }, NONCE, testTrust, GPU_TIME),
        );
        expect([r.code, r.details.mismatchedIndices]).toEqual(['measurement-mismatch', [7]]);
        // and unchanged, that trust accepts it: the tamper alone is refused
        await expect(
            verifyGpuEvidence({ report: signReport(report), certChain: pems(chain) }, NONCE, testTrust, GPU_TIME),
        ).resolves.toBeDefined();
    });

    it('a RIM with one golden value changed is refused: its XML signature no longer verifies', async () => {
        const golden = '0e0ee161b59bf124ce6b6dca6efa7616d28077862c0e57dca7d5efd63d00eeed4851922941e846a38c464cbedbc168d9';
        expect(driverRim).toContain(golden);
        const edited = driverRim.replace(golden, golden.slice(0, -1) + 'a');
        const r = await rejection(() => verifyGpuEvidence({ report, certChain }, NONCE, { ...trust, rims: [edited, vbiosRim] }, GPU_TIME));
        expect(r.code).toBe('rim-signature-invalid');
    });

    it('RIMs are checked at the verification time: at the wall clock their signing chain has expired', async () => {
        const r = await rejection(() => verifyGpuEvidence({ report, certChain }, NONCE, trust, new Date(Date.UTC(2026, 11, 1))));
        expect(r.code).toBe('rim-chain-invalid');
    });

    it('without the explicit offline policy, revocation cannot be checked and the evidence is refused', async () => {
        const r = await rejection(() => verifyGpuEvidence({ report, certChain }, NONCE, { ...trust, revocation: 'required' }, GPU_TIME));
        expect(r.code).toBe('revocation-unchecked');
    });

    it('a report cut short, with trailing bytes, or not SPDM is malformed', async () => {
        for (const bad of [
            report.subarray(0, report.length - 1),
            Buffer.concat([report, Buffer.alloc(1)]),
            Buffer.alloc(100),
            Buffer.alloc(0),
        ]) {
            expect((await rejection(() => verifyGpuEvidence({ report: bad, certChain }, NONCE, trust, GPU_TIME))).code).toBe(
                'malformed-report',
            );
        }
    });
});

describe('GPU nonce binding', () => {
    const binding = EXAMPLE_BINDING;

    it('is 32 bytes, differs from report_data, and changes with every bound field', () => {
        const base = expectedGpuNonce(binding);
        expect(base).toHaveLength(32);
        expect(expectedReportData(binding).subarray(0, 32).equals(base)).toBe(false);
        for (const change of [
            { signingKey: Buffer.alloc(32, 9) },
            { encryptionKey: Buffer.alloc(32, 9) },
            { provider: new Address(-1, Buffer.alloc(32, 3)) },
            { nonce: 43n },
            { modelHash: Buffer.alloc(32, 5) },
        ]) {
            expect(expectedGpuNonce({ ...binding, ...change }).equals(base)).toBe(false);
        }
    });
});
