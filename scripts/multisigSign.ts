// npx blueprint run multisigSign -- --order ORDER.json --key KEY_FILE
// An owner of the multisig signs an order file (made by multisigOrder) offline: the signature is
// added to the file, which goes on to the next owner. Nothing is sent.
import { NetworkProvider } from '@ton/blueprint';
import * as cli from './lib';
import { ownerIdOf, ownerKeyOption, readOrder, writeOrder } from './multisigOrder';

export async function run(provider: NetworkProvider, args: string[]) {
    provider = cli.withEndpoints(provider); // (reads through COCOON_ENDPOINTS when it is set)
    const ui = provider.ui();
    const opts = cli.parseOptions(args);
    const path = await cli.requiredOption(provider, opts, 'order', 'Order file');
    const { file, order } = readOrder(path);
    const key = await ownerKeyOption(provider, opts);
    const id = ownerIdOf(file, key);
    ui.write(`Order: ${file.description} (${file.message} to ${file.to}, ${file.value} TON), expires ${file.expiresAt}`);
    if (order.signatures[id]) {
        ui.write(`Owner ${id} signed this order already: nothing to do`);
    } else {
        order.sign(id, key.secretKey);
        writeOrder(path, file, order);
    }
    const signed = Object.keys(order.signatures).map(Number);
    ui.write(
        `Signed by owner(s) ${signed.join(', ')}: ${signed.length} of the ${file.k} needed` +
            (signed.length >= file.k ? `; any owner can now send it: multisigSend --order ${path} --key KEY_FILE` : ''),
    );
    return { ok: true, ownerId: id, signatures: signed };
}
