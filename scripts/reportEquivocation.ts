// npx blueprint run reportEquivocation --testnet --mnemonic -- --session SESSION --receipts FILE
// Anyone: two different receipts of this session with one seqno, signed by its enclave (JSON: [{ receipt, signature }, ...], receipt as base64 BoC, signature hex).
import { NetworkProvider } from '@ton/blueprint';
import { Cell, beginCell } from '@ton/core';
import { readFileSync } from 'fs';
import * as w from '../wrappers';
import * as cli from './lib';

export async function run(provider: NetworkProvider, args: string[]) {
    provider = cli.withEndpoints(provider); // (reads through COCOON_ENDPOINTS when it is set)
    const opts = cli.parseOptions(args);
    const session = await cli.sessionTarget(provider, opts);
    const file = await cli.requiredOption(provider, opts, 'receipts', 'Receipts file (JSON)');
    let pair: { receipt: Cell; signature: Buffer }[];
    try {
        const d = JSON.parse(readFileSync(file, 'utf8')) as { receipt: string; signature: string }[];
        if (!Array.isArray(d) || d.length !== 2) throw new Error('expected exactly two receipts');
        pair = d.map((r) => ({ receipt: Cell.fromBase64(r.receipt), signature: Buffer.from(r.signature, 'hex') }));
        const [a, b] = pair.map((p) => w.parseUsageReceipt(p.receipt));
        if (a.seqno !== b.seqno || pair[0].receipt.hash().equals(pair[1].receipt.hash()))
            throw new Error('not two different receipts with one seqno');
    } catch (e) {
        throw new cli.InputError(`${file}: ${(e as Error).message}`);
    }
    const body = beginCell()
        .store(
            w.storeReportEquivocation({
                $$type: 'ReportEquivocation',
                queryId: 0n,
                first: pair[0].receipt,
                firstSignature: pair[0].signature,
                second: pair[1].receipt,
                secondSignature: pair[1].signature,
            }),
        )
        .endCell();
    return cli.sendAndReport(provider, {
        to: session,
        value: w.FINALIZE_VALUE,
        minValue: w.FINALIZE_MIN_VALUE,
        body,
        what: 'ReportEquivocation',
        quiet: cli.quietOption(opts),
    });
}
