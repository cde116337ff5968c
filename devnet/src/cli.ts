#!/usr/bin/env node
// `npm run devnet`: a local TON network every tool can talk to. @ton/sandbox's emulator behind a
// toncenter v2 API (api.ts), with wall-clock time, state kept in --state across restarts, funded
// wallets and, unless --no-deploy, the protocol deployed for development (setup.ts).
import { Command } from 'commander';
import { homedir } from 'os';
import { join, resolve } from 'path';
import { UsageError, positiveInt } from '../../protocol/cli';
import { withProgress } from '../../protocol/progress';
import { DEMO_MODEL_HASH } from '../../testkit/local-network';
import { startDevnet } from '.';

interface Options {
    port: number;
    host: string;
    state: string;
    deploy: boolean;
    verifiers: number;
    wallets: number;
    modelHash?: string;
    quiet: boolean;
}

async function run(o: Options) {
    if (o.modelHash && !/^[0-9a-fA-F]{64}$/.test(o.modelHash))
        throw new UsageError('--model-hash must be 64 hex digits (npm run worker -- model-hash DIR)');
    // (a new devnet funds its wallets and deploys the protocol first: seconds of emulation)
    const setUp = `Starting the devnet in ${resolve(o.state)} (a new one funds ${o.wallets} wallets${o.deploy ? ' and deploys the protocol' : ''})`;
    const net = await withProgress(
        setUp,
        () =>
            startDevnet({
                dir: o.state,
                port: o.port,
                host: o.host,
                deploy: o.deploy,
                verifiers: o.verifiers,
                wallets: o.wallets,
                modelHash: o.modelHash ? Buffer.from(o.modelHash, 'hex') : DEMO_MODEL_HASH,
            }),
        { quiet: o.quiet },
    );
    const { info } = net;
    console.log(
        net.fresh
            ? `new devnet in ${resolve(o.state)}`
            : `devnet loaded from ${resolve(o.state)} (chain time ${new Date(net.chain.now() * 1000).toISOString()})`,
    );
    for (const w of info.wallets) console.log(`wallet ${w.name.padEnd(10)} ${w.address}  mnemonic: ${w.mnemonic}`);
    for (const f of info.verifierKeyFiles) console.log(`development verifier key: ${f}`);
    if (info.modelHash) console.log(`allowlisted: the development measurement of model hash ${info.modelHash}`);
    if (info.root) console.log(`Root at ${info.root}`);
    console.log(`toncenter-compatible API at ${net.url}`);
    if (net.dashboard) console.log(`dashboard at ${net.dashboard}`);
    const stop = async () => {
        await net.close();
        process.exit(0);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
}

const program = new Command()
    .name('cocoon-devnet')
    .description('a local TON network (@ton/sandbox) behind a toncenter-compatible HTTP API, with Cocoon deployed for development')
    .option('--port <port>', 'port of the API', (v) => positiveInt('--port', v), 8081)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--state <dir>', 'where the chain is kept across restarts', join(homedir(), '.cocoon', 'devnet'))
    .option('--no-deploy', 'start with funded wallets only, no protocol')
    .option('--verifiers <n>', 'development verifiers on Root (all must sign)', (v) => positiveInt('--verifiers', v), 2)
    .option('--wallets <n>', 'funded wallets (1,000,000 TON each; the first is governance)', (v) => positiveInt('--wallets', v), 4)
    .option('--model-hash <hex>', "the model whose development measurement Root allowlists (default: the built-in backend's)")
    .option('--quiet', 'no progress while starting (COCOON_QUIET=1 does the same)', false)
    .action(run);

program.parseAsync(process.argv).catch((e) => {
    console.error(`error: ${(e as Error).message}`);
    process.exit(e instanceof UsageError ? 64 : 1);
});
