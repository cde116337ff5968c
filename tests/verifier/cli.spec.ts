// `npm run verifier -- verify-quote`, run as a process: the JSON it prints and its exit codes.
import { spawnSync } from 'child_process';
import { readFileSync, writeFileSync } from 'fs';
import { join } from 'path';
import { FIXTURES, TDX_TIME, tdxQuote } from './fixtures';
import { tdxMeasurement } from '../../protocol/evidence';
import { tempDir } from '../tmp';
import { nodeArgs } from '../../testkit/compiled';

const ROOT = join(__dirname, '..', '..');
function verifier(...args: string[]) {
    const r = spawnSync(process.execPath, [...nodeArgs('tee-verifier/src/cli.ts'), ...args], {
        cwd: ROOT,
        encoding: 'utf8',
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr.trim() };
}
const fixture = (name: string) => join(FIXTURES, name);

// The exact TDX quote (the fixture file carries zero padding after it), written once.
let exactQuote: string;
beforeAll(() => {
    exactQuote = join(tempDir('quote'), 'tdx_quote.bin');
    writeFileSync(exactQuote, tdxQuote);
});

const verifyQuoteArgs = (quote: string, ...more: string[]) => [
    'verify-quote',
    '--quote',
    quote,
    '--collateral',
    fixture('tdx_quote_collateral.json'),
    '--now',
    String(TDX_TIME),
    ...more,
];

describe('verifier CLI: verify-quote', () => {
    it('prints what a TDX quote attests and exits 0', () => {
        const r = verifier(...verifyQuoteArgs(exactQuote));
        expect(r.status).toBe(0);
        const out = JSON.parse(r.stdout);
        expect(out).toMatchObject({ teeType: 'TDX', quoteVersion: 4, tcbStatus: 'UpToDate', advisoryIds: [], accepted: true });
        for (const k of ['mrtd', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3']) expect(out[k]).toMatch(/^[0-9a-f]{96}$/);
        expect(out.reportData).toMatch(/^[0-9a-f]{128}$/);
        expect(out.measurement).toMatch(/^[0-9a-f]{64}$/);
        expect(out.modelHash).toBeNull(); // no model folded in: say so
    });

    it('folds the GPU digest and the model hash into the measurement it prints (what governance allowlists)', () => {
        const regs = (o: Record<string, string>) => ({
            mrTd: Buffer.from(o.mrtd, 'hex'),
            rtMr0: Buffer.from(o.rtmr0, 'hex'),
            rtMr1: Buffer.from(o.rtmr1, 'hex'),
            rtMr2: Buffer.from(o.rtmr2, 'hex'),
            rtMr3: Buffer.from(o.rtmr3, 'hex'),
        });
        const gpu = 'aa'.repeat(32);
        const model = 'bb'.repeat(32);
        const r = verifier(...verifyQuoteArgs(exactQuote, '--gpu-digest', gpu, '--model-hash', model));
        expect(r.status).toBe(0);
        const out = JSON.parse(r.stdout);
        expect(out.measurement).toBe(tdxMeasurement(regs(out), Buffer.from(gpu, 'hex'), Buffer.from(model, 'hex')).toString('hex'));
        expect([out.gpuDigest, out.modelHash]).toEqual([gpu, model]);
        const bad = verifier(...verifyQuoteArgs(exactQuote, '--model-hash', 'xyz'));
        expect(bad.status).toBe(64);
        expect(bad.stderr).toContain('--model-hash must be 64 hex digits');
    });

    it('reads a quote written as hex, and says "not hex" for text that is not', () => {
        const dir = tempDir('quote');
        writeFileSync(join(dir, 'quote.hex'), tdxQuote.toString('hex') + '\n');
        expect(verifier(...verifyQuoteArgs(join(dir, 'quote.hex'))).status).toBe(0);
        writeFileSync(join(dir, 'odd.hex'), tdxQuote.toString('hex').slice(1));
        const r = verifier(...verifyQuoteArgs(join(dir, 'odd.hex')));
        expect(r.status).toBe(2);
        expect(JSON.parse(r.stdout)).toEqual({ accepted: false, code: 'malformed-quote', message: expect.stringContaining('not hex') });
    });

    it('a quote with trailing bytes is rejected as JSON with its code', () => {
        const r = verifier(...verifyQuoteArgs(fixture('tdx_quote')));
        expect(r.status).toBe(2);
        expect(JSON.parse(r.stdout)).toEqual({
            accepted: false,
            code: 'malformed-quote',
            message: `the quote declares ${tdxQuote.length} bytes but the input has 5006: 70 trailing bytes`,
        });
        expect(r.stderr).toBe(
            `rejected (malformed-quote): the quote declares ${tdxQuote.length} bytes but the input has 5006: 70 trailing bytes`,
        );
    });

    it('an SGX quote the policy refuses: JSON with what it attests, the code and the reason; one line on stderr; exit 2', () => {
        const r = verifier(
            'verify-quote',
            '--quote',
            fixture('sgx_quote'),
            '--collateral',
            fixture('sgx_quote_collateral.json'),
            '--now',
            String(TDX_TIME),
        );
        expect(r.status).toBe(2);
        const out = JSON.parse(r.stdout);
        expect(out).toMatchObject({
            teeType: 'SGX',
            tcbStatus: 'ConfigurationAndSWHardeningNeeded',
            accepted: false,
            code: 'tcb-rejected',
        });
        expect(out.message).toContain('INTEL-SA-00289');
        expect(out.mrenclave).toMatch(/^[0-9a-f]{64}$/);
        expect(r.stderr.split('\n')).toHaveLength(1);
        expect(r.stderr).toContain('INTEL-SA-00289');
        // --accept-status is the operator's explicit choice of statuses
        const accepted = verifier(
            'verify-quote',
            '--quote',
            fixture('sgx_quote'),
            '--collateral',
            fixture('sgx_quote_collateral.json'),
            '--now',
            String(TDX_TIME),
            '--accept-status',
            'UpToDate',
            'ConfigurationAndSWHardeningNeeded',
        );
        expect([accepted.status, JSON.parse(accepted.stdout).accepted]).toEqual([0, true]);
    });

    it('at the wall clock the fixture collateral has expired: JSON and a one-line reason', () => {
        const r = verifier('verify-quote', '--quote', exactQuote, '--collateral', fixture('tdx_quote_collateral.json'));
        expect(r.status).toBe(2);
        expect(JSON.parse(r.stdout)).toEqual({
            accepted: false,
            code: 'collateral-expired',
            message: 'quote does not verify: TCBInfo expired',
        });
        expect(r.stderr).toBe('rejected (collateral-expired): quote does not verify: TCBInfo expired');
    });

    it('usage errors exit 64 with JSON: a missing file, a bad --now, a missing option, an unknown command', () => {
        let r = verifier('verify-quote', '--quote', '/no/such/quote', '--collateral', fixture('tdx_quote_collateral.json'));
        expect(r.status).toBe(64);
        expect(r.stderr).toBe('error: cannot read the quote file /no/such/quote: ENOENT');
        expect(JSON.parse(r.stdout)).toEqual({
            accepted: false,
            code: 'usage',
            message: 'cannot read the quote file /no/such/quote: ENOENT',
        });
        r = verifier(...verifyQuoteArgs(exactQuote).slice(0, -1), 'yesterday');
        expect(r.status).toBe(64);
        expect(r.stderr).toContain('--now must be a positive whole number of seconds');
        r = verifier('verify-quote', '--quote', exactQuote);
        expect(r.status).toBe(64);
        expect(JSON.parse(r.stdout)).toMatchObject({ accepted: false, code: 'usage', message: expect.stringContaining('--collateral') });
        r = verifier('verify-everything');
        expect(r.status).toBe(64);
        expect(JSON.parse(r.stdout)).toMatchObject({ accepted: false, code: 'usage' });
    });

    it('documents --accept-status', () => {
        const r = verifier('verify-quote', '--help');
        expect(r.status).toBe(0);
        expect(r.stdout).toContain('--accept-status');
        expect(r.stdout).toContain('ConfigurationAndSWHardeningNeeded');
    });
});

describe('verifier CLI: verify-gpu', () => {
    const nvidia = (name: string) => join(FIXTURES, 'nvidia', name);
    const rims = ['--rim', nvidia('Driver_RIM_test_no_gpu.swidtag'), '--rim', nvidia('1010_0200_882_96005E0001_test_no_gpu.swidtag')];
    const NONCE = '4cff7f5380ead8fad8ec2c531c110aca4302a88f603792801a8ca29ee151af2e';

    it('accepts the genuine report with its nonce under the offline revocation policy, and exits 0', () => {
        const r = verifier(
            'verify-gpu',
            '--report',
            nvidia('attestationReport.txt'),
            '--chain',
            nvidia('gpuAkCertChain.txt'),
            ...rims,
            '--nonce',
            NONCE,
            '--offline-revocation',
            '--now',
            '1717200000',
        );
        expect(r.status).toBe(0);
        expect(JSON.parse(r.stdout)).toMatchObject({
            accepted: true,
            code: 'accepted',
            driverVersion: '545.00',
            measurementsChecked: 33,
            gpuEvidenceDigest: expect.stringMatching(/^[0-9a-f]{64}$/),
        });
    });

    it('refuses the other driver as JSON naming the indices (exit 2), and a missing --nonce is a usage error (exit 64)', () => {
        const args = ['verify-gpu', '--report', nvidia('hopperAttestationReport.txt'), '--chain', nvidia('hopperCertChain.txt'), ...rims];
        const r = verifier(...args, '--nonce', '931d8dd0' + '00'.repeat(28), '--offline-revocation', '--now', '1717200000');
        expect(r.status).toBe(2);
        // the nonce is checked before the measurements
        expect(JSON.parse(r.stdout)).toMatchObject({ accepted: false, code: 'nonce-mismatch' });
        const hopperNonce = Buffer.from(readFileSync(nvidia('hopperAttestationReport.txt'), 'utf8').trim(), 'hex').subarray(4, 36);
        const m = verifier(...args, '--nonce', hopperNonce.toString('hex'), '--offline-revocation', '--now', '1717200000');
        expect(m.status).toBe(2);
        expect(JSON.parse(m.stdout)).toMatchObject({
            accepted: false,
            code: 'measurement-mismatch',
            mismatchedIndices: expect.arrayContaining([1, 40]),
        });
        const usage = verifier(...args, '--now', '1717200000');
        expect(usage.status).toBe(64);
        expect(JSON.parse(usage.stdout)).toMatchObject({ accepted: false, code: 'usage', message: expect.stringContaining('--nonce') });
    });
});
