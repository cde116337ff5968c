// `npm run verifier -- <command>`: the tee-verifier's command line.
import { Command, Option } from 'commander';
import { readFileSync } from 'fs';
import { TcbStatus } from '@phala/dcap-qvl';
import { DEFAULT_TCB_POLICY, QuoteRejected, VerifiedQuote, applyTcbPolicy, decodeQuoteFile, inspectQuote, parseCollateral } from './quote';

const hex = (b: Buffer) => b.toString('hex');

export function quoteSummary(q: VerifiedQuote) {
    return {
        teeType: q.teeType,
        quoteVersion: q.quoteVersion,
        tcbStatus: q.tcbStatus,
        advisoryIds: q.advisoryIds,
        ...(q.tdx
            ? { mrtd: hex(q.tdx.mrTd), rtmr0: hex(q.tdx.rtMr0), rtmr1: hex(q.tdx.rtMr1), rtmr2: hex(q.tdx.rtMr2), rtmr3: hex(q.tdx.rtMr3) }
            : { mrenclave: hex(q.sgx!.mrEnclave), mrsigner: hex(q.sgx!.mrSigner) }),
        reportData: hex(q.reportData),
        measurement: hex(q.measurement),
    };
}

function readFile(path: string, what: string): Buffer {
    try {
        return readFileSync(path);
    } catch (e) {
        throw new UsageError(`cannot read the ${what} file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
}

class UsageError extends Error {}

const program = new Command('cocoon-verifier').description('Cocoon TEE verifier: checks Intel DCAP quotes and signs attestation proofs');

program
    .command('verify-quote')
    .description('verify a TDX or SGX quote against its collateral and the TCB policy; print what it attests as JSON')
    .requiredOption('--quote <file>', 'the quote, raw bytes or hex')
    .requiredOption('--collateral <file>', 'its collateral, as JSON (PCK CRL and chain, root CA CRL, TCB info, QE identity)')
    .option('--now <unix>', 'verify at this time (seconds) instead of the clock; collateral expires', (v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--now must be a positive whole number of seconds, got ${v}`);
        return n;
    })
    .option('--allow-advisory <id...>', 'accept SWHardeningNeeded when every advisory is listed here', [])
    .addOption(new Option('--accept-status <status...>', 'TCB statuses accepted outright').default(DEFAULT_TCB_POLICY.acceptedStatuses))
    .action((opts: { quote: string; collateral: string; now?: number; allowAdvisory: string[]; acceptStatus: TcbStatus[] }) => {
        const quote = decodeQuoteFile(readFile(opts.quote, 'quote'));
        const collateral = parseCollateral(readFile(opts.collateral, 'collateral').toString('utf8'));
        const verified = inspectQuote(quote, collateral, opts.now ?? Math.floor(Date.now() / 1000));
        const summary = quoteSummary(verified);
        try {
            applyTcbPolicy(verified, { allowedAdvisories: opts.allowAdvisory, acceptedStatuses: opts.acceptStatus });
            console.log(JSON.stringify({ ...summary, accepted: true }, null, 2));
        } catch (e) {
            console.log(JSON.stringify({ ...summary, accepted: false, reason: (e as Error).message }, null, 2));
            throw e;
        }
    });

program.exitOverride();
try {
    program.parse(process.argv);
} catch (e) {
    if (e instanceof QuoteRejected) {
        console.error(`rejected (${e.code}): ${e.message}`);
        process.exit(2);
    }
    if (e instanceof UsageError) {
        console.error(`error: ${e.message}`);
        process.exit(64);
    }
    const code = (e as { exitCode?: number }).exitCode;
    process.exit(code ?? 1);
}
