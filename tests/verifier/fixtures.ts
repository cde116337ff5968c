// The real Intel DCAP quotes and collateral of shared/fixtures/dcap, copied to data/ (public sample data of
// Phala's dcap-qvl, MIT licensed), and times inside the collateral's validity window: tests
// verify there, never at the wall clock, or they would rot when the collateral expires.
import { readFileSync } from 'fs';
import { join } from 'path';
import { Quote } from '@phala/dcap-qvl';
import { parseCollateral } from '../../tee-verifier/src/quote';

export const FIXTURES = join(__dirname, 'data'); // copies of shared/fixtures/dcap, see data/README.md
const read = (name: string) => readFileSync(join(FIXTURES, name));
// The TDX file carries 70 zero bytes after the quote's declared end; the verifier takes exactly
// one quote, so tests use it without them (tdxQuoteFile is the file as it is).
export const tdxQuoteFile = read('tdx_quote');
const declaredLength = (q: Buffer) => {
    const signed = Quote.parse(q).signedLength();
    return signed + 4 + q.readUInt32LE(signed);
};
export const tdxQuote = tdxQuoteFile.subarray(0, declaredLength(tdxQuoteFile));
export const sgxQuote = read('sgx_quote');
export const tdxCollateral = parseCollateral(read('tdx_quote_collateral.json').toString());
export const sgxCollateral = parseCollateral(read('sgx_quote_collateral.json').toString());
export const issued = (c: typeof tdxCollateral) => Date.parse(JSON.parse(c.tcb_info).issueDate) / 1000;
export const nextUpdate = (c: typeof tdxCollateral) => Date.parse(JSON.parse(c.tcb_info).nextUpdate) / 1000;
export const TDX_TIME = issued(tdxCollateral) + 3600;
export const SGX_TIME = issued(sgxCollateral) + 3600;
