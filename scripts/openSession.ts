// npx blueprint run openSession --testnet --mnemonic -- --root ROOT --provider PROVIDER --model NAME --budget TON --client-key FILE [--hours H] [--nonce N]
// Client: open an escrowed session with a provider of the Root you trust. A provider of another
// Root (or a contract that only looks like one) is refused before anything is sent, and the
// Session itself can only deal with the Provider that Root has for the provider's owner.
// Everything the Provider checks on-chain (sdk/client.ts sessionOpeningProblem) is checked
// before sending; the Provider checks again (and refunds if it refuses). The session key in --client-key (created,
// mode 0600, when the file does not exist) is the one the worker will accept requests from: keep it.
import { NetworkProvider } from '@ton/blueprint';
import { beginCell, fromNano } from '@ton/core';
import { randomBytes } from 'crypto';
import * as w from '../wrappers';
import * as cli from './lib';
import { loadOrCreateSessionKey } from '../sdk/keyfile';
import { networkProviderChain } from '../protocol/chain';
import { sessionOpeningProblem } from '../sdk/client';
import { isProviderOf } from '../protocol/state';
import { offerFor, readProvider } from '../protocol/state';

export async function run(provider: NetworkProvider, args: string[]) {
    provider = cli.withEndpoints(provider); // (reads through COCOON_ENDPOINTS when it is set)
    const ui = provider.ui();
    const opts = cli.parseOptions(args);
    const root = await cli.deployedTarget(provider, opts, 'root', 'Root');
    const target = await cli.deployedTarget(provider, opts, 'provider', 'Provider');
    const model = await cli.requiredOption(provider, opts, 'model', 'Model name');
    const budget = cli.parseTon(await cli.requiredOption(provider, opts, 'budget', 'Budget (TON)'), '--budget');
    const keyFile = await cli.requiredOption(provider, opts, 'client-key', 'Session key file (created if missing)');
    const hours = Number(opts.get('hours') ?? '24');
    if (!Number.isFinite(hours) || hours <= 0) throw new cli.InputError('--hours must be a positive number');
    // The Provider's own rules, checked here first (sdk/client.ts) so a refusal names the rule.
    const state = await readProvider(networkProviderChain(provider), target).catch(() => null);
    if (!state || !(await isProviderOf(root, state))) {
        throw new cli.InputError(
            `${target.toString()} is not a Provider of the Root ${root.toString()}: refusing to open a session with it`,
        );
    }
    if (!state.params) throw new cli.InputError(`the Provider at ${target.toString()} is not registered`);
    const now = Math.floor(Date.now() / 1000);
    const durationSeconds = Math.round(hours * 3600);
    const problem = sessionOpeningProblem(state, { model, budget, durationSeconds }, now, 0);
    if (problem) throw new cli.InputError(problem.message);
    const offer = offerFor(state.listing, model)!;
    const params = state.params;
    const { key, created } = await loadOrCreateSessionKey(keyFile);
    ui.write(`${created ? 'Created' : 'Using'} session key ${key.publicKey.toString('hex')} (${keyFile})`);
    const nonce = opts.get('nonce') ? BigInt(opts.get('nonce')!) : randomBytes(8).readBigUInt64BE();
    const client = provider.sender().address!;
    const session = await w.sessionFor(root, state.owner, client, nonce);
    ui.write(`Session ${session.address.toString({ testOnly: provider.network() !== 'mainnet' })} (nonce ${nonce})`);
    ui.write(`  ${model} at ${w.formatPrices(offer.prices)}, budget ${fromNano(budget)} TON, ${hours} h`);
    const outcome = await cli.sendAndReport(provider, {
        to: session.address,
        value: budget + w.SESSION_OPEN_OVERHEAD,
        minValue: params.minSessionBudget + w.SESSION_OPEN_OVERHEAD,
        body: beginCell()
            .store(
                w.storeOpenSession({
                    $$type: 'OpenSession',
                    queryId: 0n,
                    modelKey: w.modelKey(model),
                    deadline: BigInt(now + durationSeconds),
                    clientKeyHash: w.clientKeyHashOf(key.publicKey),
                }),
            )
            .endCell(),
        init: session.init!,
        what: 'OpenSession',
        quiet: cli.quietOption(opts),
    });
    return { ...outcome, address: session.address };
}
