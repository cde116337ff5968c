// npx blueprint run multisigKey -- --out KEY_FILE      a new owner key (24 words), readable by its owner only
// npx blueprint run multisigKey -- --key KEY_FILE      the public key of an existing key file
// An owner of the multisig holds an ed25519 key: this prints its public key, which multisigDeploy
// takes in --owners. Keep the file offline; multisigSign and multisigSend read it.
import { NetworkProvider } from '@ton/blueprint';
import { mnemonicNew, mnemonicToPrivateKey } from '@ton/crypto';
import { existsSync, writeFileSync } from 'fs';
import * as cli from './lib';
import { ownerKeyOption } from './multisigOrder';

export async function run(provider: NetworkProvider, args: string[]) {
    provider = cli.withEndpoints(provider); // (reads through COCOON_ENDPOINTS when it is set)
    const ui = provider.ui();
    const opts = cli.parseOptions(args);
    let publicKey: Buffer;
    const out = opts.get('out');
    if (out) {
        if (existsSync(out)) throw new cli.InputError(`--out ${out} exists already: a key file is never overwritten`);
        const words = await mnemonicNew(24);
        writeFileSync(out, words.join(' ') + '\n', { mode: 0o600 });
        publicKey = (await mnemonicToPrivateKey(words)).publicKey;
        ui.write(`New owner key written to ${out}`);
    } else {
        publicKey = (await ownerKeyOption(provider, opts)).publicKey;
    }
    ui.write(`Public key: ${publicKey.toString('hex')}`);
    return { publicKey: publicKey.toString('hex') };
}
