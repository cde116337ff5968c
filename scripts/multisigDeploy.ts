// npx blueprint run multisigDeploy --testnet --mnemonic -- --owners HEX,HEX,HEX --k 2 [--wallet-id N] [--value TON] [--yes]
// Deploys TON's multisig (@ton/ton MultisigWallet: multisig-code.fc of the TON repository) for the
// owners' ed25519 public keys (multisigKey prints one), k of them needed per order. The connected
// wallet pays; the value stays as the multisig's balance, out of which it pays its orders' gas and
// the value of the messages they send. Make it Root's owner next: proposeOwner --new-owner MULTISIG
// from the current owner, then an acceptOwnership order (see docs/guides/deploy.md).
import { NetworkProvider } from '@ton/blueprint';
import { Cell, fromNano } from '@ton/core';
import { MultisigWallet } from '@ton/ton';
import * as cli from './lib';

export async function run(provider: NetworkProvider, args: string[]) {
    provider = cli.withEndpoints(provider); // (reads through COCOON_ENDPOINTS when it is set)
    const ui = provider.ui();
    const opts = cli.parseOptions(args);
    const owners = (await cli.requiredOption(provider, opts, 'owners', 'Owner public keys (hex, comma-separated)'))
        .split(',')
        .map((k, i) => Buffer.from(cli.parseHex32(k, `--owners key ${i}`).toString(16).padStart(64, '0'), 'hex'));
    if (new Set(owners.map((k) => k.toString('hex'))).size !== owners.length) throw new cli.InputError('--owners lists a key twice');
    if (owners.length > 255) throw new cli.InputError('--owners: at most 255 keys');
    const kText = await cli.requiredOption(provider, opts, 'k', 'Signatures needed per order (k)');
    const k = Number(kText);
    if (!/^[0-9]+$/.test(kText) || k < 1 || k > owners.length)
        throw new cli.InputError(`--k must be a whole number from 1 to ${owners.length}`);
    const walletId = Number(opts.get('wallet-id') ?? '0');
    if (!Number.isInteger(walletId) || walletId < 0 || walletId > 0xffffffff)
        throw new cli.InputError('--wallet-id must be a 32-bit whole number');
    const value = opts.get('value') ? cli.parseTon(opts.get('value')!, '--value') : 1_000_000_000n;

    const multisig = new MultisigWallet(owners, 0, walletId, k);
    ui.write(`Multisig ${multisig.address.toString()}: ${k} of ${owners.length} owners, wallet id ${walletId}`);
    owners.forEach((key, id) => ui.write(`  owner ${id}: ${key.toString('hex')}`));
    if (await provider.isContractDeployed(multisig.address)) {
        ui.write('This multisig is already deployed: nothing to do.');
        return { ok: true, address: multisig.address };
    }
    if (!opts.has('yes') && !(await ui.prompt(`Deploy it with ${fromNano(value)} TON as its balance?`))) {
        ui.write('Cancelled: nothing was sent.');
        return { ok: false, address: multisig.address };
    }
    const outcome = await cli.sendAndReport(provider, {
        to: multisig.address,
        value,
        minValue: 100_000_000n,
        body: Cell.EMPTY,
        init: multisig.init,
        what: 'multisig deployment',
        quiet: cli.quietOption(opts),
    });
    return { ...outcome, address: multisig.address };
}
