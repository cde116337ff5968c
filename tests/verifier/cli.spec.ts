// `npm run verifier -- verify-quote`, run as a process: the JSON it prints and its exit codes.
import { spawnSync } from 'child_process';
import { writeFileSync } from 'fs';
import { join } from 'path';
import { FIXTURES, TDX_TIME, tdxQuote } from './fixtures';
import { tempDir } from '../tmp';

const ROOT = join(__dirname, '..', '..');
function verifier(...args: string[]) {
    const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', join(ROOT, 'tee-verifier/src/cli.ts'), ...args], {
        cwd: ROOT,
        encoding: 'utf8',
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr.trim() };
}
const fixture = (name: string) => join(FIXTURES, name);

describe('verifier CLI: verify-quote', () => {
    it('prints what a TDX quote attests and exits 0', () => {
        const r = verifier(
            'verify-quote',
            '--quote',
            fixture('tdx_quote'),
            '--collateral',
            fixture('tdx_quote_collateral.json'),
            '--now',
            String(TDX_TIME),
        );
        expect(r.status).toBe(0);
        const out = JSON.parse(r.stdout);
        expect(out).toMatchObject({ teeType: 'TDX', quoteVersion: 4, tcbStatus: 'UpToDate', advisoryIds: [], accepted: true });
        for (const k of ['mrtd', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3']) expect(out[k]).toMatch(/^[0-9a-f]{96}$/);
        expect(out.reportData).toMatch(/^[0-9a-f]{128}$/);
        expect(out.measurement).toMatch(/^[0-9a-f]{64}$/);
    });

    it('reads a quote written as hex', () => {
        const dir = tempDir('quote');
        writeFileSync(join(dir, 'quote.hex'), tdxQuote.toString('hex') + '\n');
        const r = verifier(
            'verify-quote',
            '--quote',
            join(dir, 'quote.hex'),
            '--collateral',
            fixture('tdx_quote_collateral.json'),
            '--now',
            String(TDX_TIME),
        );
        expect(r.status).toBe(0);
    });

    it('an SGX quote the policy refuses: JSON with the reason, a one-line reason, non-zero exit', () => {
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
        expect(out).toMatchObject({ teeType: 'SGX', tcbStatus: 'ConfigurationAndSWHardeningNeeded', accepted: false });
        expect(out.mrenclave).toMatch(/^[0-9a-f]{64}$/);
        expect(r.stderr.split('\n')).toHaveLength(1);
        expect(r.stderr).toContain('INTEL-SA-00289');
    });

    it('at the wall clock the fixture collateral has expired', () => {
        const r = verifier('verify-quote', '--quote', fixture('tdx_quote'), '--collateral', fixture('tdx_quote_collateral.json'));
        expect(r.status).toBe(2);
        expect(r.stderr).toBe('rejected (collateral-expired): quote does not verify: TCBInfo expired');
    });

    it('names a missing file and a bad --now', () => {
        let r = verifier('verify-quote', '--quote', '/no/such/quote', '--collateral', fixture('tdx_quote_collateral.json'));
        expect(r.status).toBe(64);
        expect(r.stderr).toBe('error: cannot read the quote file /no/such/quote: ENOENT');
        r = verifier(
            'verify-quote',
            '--quote',
            fixture('tdx_quote'),
            '--collateral',
            fixture('tdx_quote_collateral.json'),
            '--now',
            'yesterday',
        );
        expect(r.status).not.toBe(0);
        expect(r.stderr).toContain('--now must be a positive whole number of seconds');
    });
});
