// `npm run verifier -- <command>`: the tee-verifier's command line.
import { Command, Option } from 'commander';
import { readFileSync } from 'fs';
import { TcbStatus } from '@phala/dcap-qvl';
import { UsageError, positiveInt } from './usage';
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

program
    .command('serve')
    .description('run the verifier service (HTTP API, durable outbox, on-chain submission)')
    .requiredOption('--root <address>', 'Root contract address (reads its measurement allowlist)')
    .addOption(new Option('--network <name>', 'network the Root is on').choices(['mainnet', 'testnet']).default('testnet'))
    .option('--endpoint <url>', 'TON HTTP API endpoint (toncenter v2 JSON-RPC)', 'https://testnet.toncenter.com/api/v2/jsonRPC')
    .option('--api-key-env <name>', 'environment variable holding the endpoint API key', 'TONCENTER_API_KEY')
    .option('--key-file <file>', 'file holding the verifier ed25519 seed (64 hex characters)')
    .option('--key-env <name>', 'environment variable holding the verifier ed25519 seed', 'COCOON_VERIFIER_KEY')
    .option(
        '--wallet-mnemonic-env <name>',
        'environment variable holding the 24-word mnemonic of the wallet that submits proofs; without it proofs are only returned',
        'COCOON_VERIFIER_MNEMONIC',
    )
    .option('--db <file>', 'SQLite file for nonces, the audit log and the outbox', 'verifier.sqlite')
    .option('--collateral <file>', 'offline mode: verify every quote against this collateral JSON')
    .option('--pccs <url>', 'fetch collateral from this PCCS (cached on disk)')
    .option('--collateral-cache <dir>', 'where PCCS collateral is cached', 'collateral-cache')
    .option('--peer <url...>', 'verifiers to ask for co-signatures', [])
    .option('--threshold <n>', "signatures a proof needs, own included (Root's threshold)", (v) => positiveInt('--threshold', v), 1)
    .option('--validity <seconds>', "proof validity, at most Root's attestationMaxAge", (v) => positiveInt('--validity', v), 6 * 3600)
    .option('--allow-advisory <id...>', 'accept SWHardeningNeeded when every advisory is listed here', [])
    .option('--dev', 'development mode: accept simulated TEE evidence (never in production)', false)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on', (v) => positiveInt('--port', v), 8480)
    .option('--rate-limit <n>', 'requests a minute per client', (v) => positiveInt('--rate-limit', v), 120)
    .action(async (opts) => {
        const { runService } = await import('./service');
        await runService(opts);
    });

program.exitOverride();
program.parseAsync(process.argv).catch((e) => {
    if (e instanceof QuoteRejected) {
        console.error(`rejected (${e.code}): ${e.message}`);
        process.exit(2);
    }
    if (e instanceof UsageError || (e instanceof Error && /key file|environment variable|signing key/.test(e.message))) {
        console.error(`error: ${e.message}`);
        process.exit(64);
    }
    const code = (e as { exitCode?: number }).exitCode;
    if (code === undefined) console.error(`error: ${(e as Error).message}`);
    process.exit(code ?? 1);
});
