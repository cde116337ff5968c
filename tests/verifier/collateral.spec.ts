// Collateral sources: an offline file, and a PCCS whose answers are cached on disk so that a PCCS
// outage does not stop verification while the cached collateral is valid.
import { createHash } from 'crypto';
import { writeFileSync } from 'fs';
import { join } from 'path';
import { Quote } from '@phala/dcap-qvl';
import { fileCollateral, noCollateral, pccsCollateral } from '../../tee-verifier/src/collateral';
import { FIXTURES, TDX_TIME, nextUpdate, tdxCollateral, tdxQuote } from './fixtures';
import { tempDir } from '../tmp';

const UNREACHABLE_PCCS = 'http://127.0.0.1:9/sgx/certification/v4/';

function cacheWithFixture(): string {
    const dir = tempDir('collateral');
    const platform = createHash('sha256').update(Quote.parse(tdxQuote).rawCertChain()).digest('hex');
    writeFileSync(join(dir, `${platform}.json`), JSON.stringify(tdxCollateral));
    return dir;
}

describe('collateral sources', () => {
    it('a development verifier without collateral refuses a TDX quote, saying what to start it with', async () => {
        await expect(noCollateral().collateralFor(tdxQuote)).rejects.toThrow(
            'this development verifier has no DCAP collateral: TDX quotes need it started with --collateral FILE or --pccs URL',
        );
    });

    it('an offline file serves every quote', async () => {
        const source = fileCollateral(join(FIXTURES, 'tdx_quote_collateral.json'));
        expect(await source.collateralFor(tdxQuote)).toEqual(tdxCollateral);
    });

    it('a PCCS that is down: the valid cached copy is used', async () => {
        const source = pccsCollateral(UNREACHABLE_PCCS, cacheWithFixture(), () => TDX_TIME);
        expect(await source.collateralFor(tdxQuote)).toEqual(tdxCollateral);
    });

    it('a PCCS that is down and a cached copy past its next update: the error names the PCCS', async () => {
        const source = pccsCollateral(UNREACHABLE_PCCS, cacheWithFixture(), () => nextUpdate(tdxCollateral) + 1);
        await expect(source.collateralFor(tdxQuote)).rejects.toThrow(`cannot fetch collateral from the PCCS at ${UNREACHABLE_PCCS}`);
    });

    it('a PCCS that is down and nothing cached: the error says so', async () => {
        const source = pccsCollateral(UNREACHABLE_PCCS, tempDir('collateral'), () => TDX_TIME);
        await expect(source.collateralFor(tdxQuote)).rejects.toThrow('no valid cached copy exists');
    });
});
