// npx blueprint run registerProvider --testnet --mnemonic -- --root ROOT --listing FILE --value TON
// Registers the connected wallet's Provider with a listing file and stakes the attached value
// (less REGISTRATION_OVERHEAD for gas and the storage reserve). Run again to add stake and replace
// the listing; nothing is reset.
import { NetworkProvider } from '@ton/blueprint';
import { beginCell, fromNano } from '@ton/core';
import * as w from '../wrappers';
import * as cli from './lib';

export async function run(provider: NetworkProvider, args: string[]) {
    provider = cli.withEndpoints(provider); // (reads through COCOON_ENDPOINTS when it is set)
    const ui = provider.ui();
    const opts = cli.parseOptions(args);
    const rootAddress = await cli.deployedTarget(provider, opts, 'root', 'Root');
    const listing = await cli.listingFileOption(provider, opts);
    const value = cli.parseTon(await cli.requiredOption(provider, opts, 'value', 'TON to attach (stake + fees)'), '--value');
    const owner = provider.sender().address!;
    const root = provider.open(w.Root.fromAddress(rootAddress));
    const params = await root.getParams();
    const contract = await w.providerForOwner(rootAddress, owner);
    const opened = provider.open(w.Provider.fromAddress(contract.address));
    const firstTime = !(await provider.isContractDeployed(contract.address));
    const held = firstTime ? 0n : await opened.getStake();
    const minValue = (params.minProviderStake > held ? params.minProviderStake - held : 0n) + w.REGISTRATION_OVERHEAD;
    ui.write(
        `Provider ${contract.address.toString({ testOnly: provider.network() !== 'mainnet' })} (${firstTime ? 'new' : 'already registered'})`,
    );
    ui.write(`  ${listing.gpuCount} x ${listing.gpuModel}, ${listing.models.size} model(s), endpoint ${listing.endpoint}`);
    ui.write(
        `  minimum stake ${fromNano(params.minProviderStake)} TON; about ${fromNano(value - w.REGISTRATION_OVERHEAD)} TON of ${fromNano(value)} TON becomes stake`,
    );
    const outcome = await cli.sendAndReport(provider, {
        to: contract.address,
        value,
        minValue,
        body: beginCell()
            .store(w.storeRegister({ $$type: 'Register', queryId: 0n, listing }))
            .endCell(),
        init: firstTime ? contract.init! : undefined,
        what: 'Register',
        quiet: cli.quietOption(opts),
    });
    if (outcome.ok)
        ui.write(`Status ${w.PROVIDER_STATUS_NAMES[Number(await opened.getStatus())]}, stake ${fromNano(await opened.getStake())} TON`);
    return { ...outcome, address: contract.address };
}
