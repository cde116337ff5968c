// npx blueprint run deployRoot --testnet --mnemonic -- --params deploy/params.testnet.json [--nonce N] [--value TON] [--yes]
// Deploys Root with the parameters of a JSON file, owned by the wallet that sends it.
import { NetworkProvider } from '@ton/blueprint';
import { beginCell, fromNano } from '@ton/core';
import { GLOBAL_ID_MAINNET, GLOBAL_ID_TESTNET, ROOT_STORAGE_RESERVE, rootForDeployment, storeDeployRoot } from '../wrappers';
import { InputError, paramsFileOption, parseOptions, parseTon, quietOption, sendAndReport, withEndpoints } from './lib';

export async function run(provider: NetworkProvider, args: string[]) {
    provider = withEndpoints(provider); // (reads through COCOON_ENDPOINTS when it is set)
    const ui = provider.ui();
    const opts = parseOptions(args);
    const params = await paramsFileOption(provider, opts);
    const network = provider.network();
    const globalId = opts.get('global-id')
        ? Number(opts.get('global-id'))
        : network === 'mainnet'
          ? GLOBAL_ID_MAINNET
          : network === 'testnet'
            ? GLOBAL_ID_TESTNET
            : NaN;
    if (!Number.isInteger(globalId)) throw new InputError('on a custom network, give --global-id (config param 19 of that network)');
    const owner = provider.sender().address;
    if (!owner) throw new InputError('the sender has no address: connect a wallet');
    const value = opts.get('value') ? parseTon(opts.get('value')!, '--value') : 1_000_000_000n;
    const nonce = BigInt(opts.get('nonce') ?? '0');
    const root = await rootForDeployment({ owner, globalId, params, nonce });

    ui.write(`Root ${root.address.toString({ testOnly: network !== 'mainnet' })} on ${network} (global id ${globalId})`);
    ui.write(`  owner ${owner.toString()}`);
    ui.write(
        `  min provider stake ${fromNano(params.minProviderStake)} TON, unbonding ${params.unbondingPeriod} s, attestation max age ${params.attestationMaxAge} s`,
    );
    ui.write(`  protocol fee ${Number(params.protocolFeeBps) / 100}%, collateral ${Number(params.collateralBps) / 100}% of a budget`);
    ui.write(
        `  slashes: timeout ${Number(params.timeoutSlashBps) / 100}%, revocation ${Number(params.revocationSlashBps) / 100}%, equivocation ${Number(params.equivocationSlashBps) / 100}%; reporter reward ${Number(params.reporterRewardBps) / 100}%`,
    );
    ui.write(
        `  sessions: budget from ${fromNano(params.minSessionBudget)} TON, up to ${params.maxSessionDuration} s, close grace ${params.closeGracePeriod} s`,
    );
    if (await provider.isContractDeployed(root.address)) {
        ui.write('This Root is already deployed: nothing to do.');
        return { ok: true, address: root.address };
    }
    if (!opts.has('yes') && !(await ui.prompt(`Deploy it with ${fromNano(value)} TON as its operating balance?`))) {
        ui.write('Cancelled: nothing was sent.');
        return { ok: false, address: root.address };
    }
    const outcome = await sendAndReport(provider, {
        to: root.address,
        value,
        minValue: ROOT_STORAGE_RESERVE + 20_000_000n,
        body: beginCell()
            .store(storeDeployRoot({ $$type: 'DeployRoot', queryId: 0n }))
            .endCell(),
        init: root.init!,
        what: 'DeployRoot',
        quiet: quietOption(opts),
    });
    return { ...outcome, address: root.address };
}
