// npx blueprint run openSession --testnet --mnemonic -- --provider PROVIDER --model NAME --budget TON --client-key FILE [--hours H] [--nonce N]
// Client: open an escrowed session with a provider. Checks before sending that the provider is
// active, attested for now, lists the model and that the budget meets the minimum; the Provider
// checks again on-chain (and refunds if it refuses). The session key in --client-key (created,
// mode 0600, when the file does not exist) is the one the worker will accept requests from: keep it.
import { NetworkProvider } from '@ton/blueprint';
import { beginCell, fromNano } from '@ton/core';
import { randomBytes } from 'crypto';
import * as w from '../wrappers';
import { loadOrCreateSessionKey } from '../sdk/keyfile';

export async function run(provider: NetworkProvider, args: string[]) {
    const ui = provider.ui();
    const opts = w.parseOptions(args);
    const target = await w.deployedTarget(provider, opts, 'provider', 'Provider');
    const model = await w.requiredOption(provider, opts, 'model', 'Model name');
    const budget = w.parseTon(await w.requiredOption(provider, opts, 'budget', 'Budget (TON)'), '--budget');
    const keyFile = await w.requiredOption(provider, opts, 'client-key', 'Session key file (created if missing)');
    const hours = Number(opts.get('hours') ?? '24');
    if (!Number.isFinite(hours) || hours <= 0) throw new w.InputError('--hours must be a positive number');
    const p = provider.open(w.Provider.fromAddress(target));
    const status = Number(await p.getStatus());
    if (status !== Number(w.STATUS_ACTIVE))
        throw new w.InputError(`the provider is ${w.PROVIDER_STATUS_NAMES[status]}, not active: it accepts no session`);
    const attestation = await p.getAttestation();
    const now = Math.floor(Date.now() / 1000);
    if (!attestation || Number(attestation.validUntil) <= now)
        throw new w.InputError('the provider has no valid attestation now: it accepts no session until it is attested again');
    const offer = (await p.getListing())?.models.get(w.modelKey(model));
    if (!offer) throw new w.InputError(`the provider does not list the model ${model}`);
    const params = (await p.getParams())!;
    if (budget < params.minSessionBudget) throw new w.InputError(`the budget must be at least ${fromNano(params.minSessionBudget)} TON`);
    const { key, created } = await loadOrCreateSessionKey(keyFile);
    ui.write(`${created ? 'Created' : 'Using'} session key ${key.publicKey.toString('hex')} (${keyFile})`);
    const nonce = opts.get('nonce') ? BigInt(opts.get('nonce')!) : randomBytes(8).readBigUInt64BE();
    const client = provider.sender().address!;
    const session = await w.sessionFor(target, client, nonce);
    ui.write(`Session ${session.address.toString({ testOnly: provider.network() !== 'mainnet' })} (nonce ${nonce})`);
    ui.write(
        `  ${model} at ${fromNano(offer.pricePerMillionIn)} / ${fromNano(offer.pricePerMillionOut)} TON per million tokens in / out, budget ${fromNano(budget)} TON, ${hours} h`,
    );
    const outcome = await w.sendAndReport(provider, {
        to: session.address,
        value: budget + w.SESSION_OPEN_OVERHEAD,
        minValue: params.minSessionBudget + w.SESSION_OPEN_OVERHEAD,
        body: beginCell()
            .store(
                w.storeOpenSession({
                    $$type: 'OpenSession',
                    queryId: 0n,
                    modelKey: w.modelKey(model),
                    deadline: BigInt(now + Math.round(hours * 3600)),
                    clientKeyHash: w.clientKeyHashOf(key.publicKey),
                }),
            )
            .endCell(),
        init: session.init!,
        what: 'OpenSession',
    });
    return { ...outcome, address: session.address };
}
