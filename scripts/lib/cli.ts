// Reading what an operator typed: named options, addresses, amounts, hashes, the contract a
// script acts on and the JSON files it reads. Every problem is an InputError found before
// anything is sent.
import { NetworkProvider } from '@ton/blueprint';
import { Address } from '@ton/core';
import { readFileSync } from 'fs';
import {
    GOVERNANCE_VALUE,
    Listing,
    ProtocolParams,
    Provider,
    Session,
    buildListing,
    listingFromJson,
    paramsFromJson,
} from '../../wrappers';
import { isSessionOf } from '../../protocol/state';

// A problem with what the operator asked for, found before anything was sent.
export class InputError extends Error {}

export type Options = { get(name: string): string | undefined; has(name: string): boolean };

// Named options of a script: `--name value`, `--flag`.
export function parseOptions(args: string[]): Options {
    const values = new Map<string, string>();
    const flags = new Set<string>();
    for (let i = 0; i < args.length; i++) {
        const a = args[i];
        if (!a.startsWith('--')) throw new InputError(`unexpected argument ${a}: options are --name value`);
        const name = a.slice(2);
        if (i + 1 < args.length && !args[i + 1].startsWith('--')) values.set(name, args[++i]);
        else flags.add(name);
    }
    return { get: (n) => values.get(n), has: (n) => flags.has(n) || values.has(n) };
}

// --quiet: waits show no progress (COCOON_QUIET=1 does the same for every script and command line).
export function quietOption(opts: Options): boolean {
    return opts.has('quiet');
}

// --<name>, or asked for interactively when missing.
export async function requiredOption(provider: NetworkProvider, opts: Options, name: string, question: string): Promise<string> {
    return opts.get(name) ?? (await provider.ui().input(question));
}

export function parseAddress(text: string, what: string): Address {
    try {
        return Address.parse(text.trim());
    } catch {
        throw new InputError(`${what}: "${text}" is not a TON address`);
    }
}

export function parseTon(text: string, what: string): bigint {
    if (!/^\d+(\.\d{1,9})?$/.test(text.trim())) throw new InputError(`${what}: "${text}" is not an amount of TON (like 1.5)`);
    const [whole, frac = ''] = text.trim().split('.');
    return BigInt(whole) * 1_000_000_000n + BigInt(frac.padEnd(9, '0'));
}

export function parseHex32(text: string, what: string): bigint {
    const hex = text.trim().replace(/^0x/, '');
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new InputError(`${what}: expected 32 bytes as 64 hex characters`);
    return BigInt('0x' + hex);
}

// The value a script attaches to a small message: --value TON, or GOVERNANCE_VALUE.
export function valueOption(opts: Options): bigint {
    return opts.get('value') ? parseTon(opts.get('value')!, '--value') : GOVERNANCE_VALUE;
}

// --<option>: the address of a deployed contract (kind names it in the error).
export async function deployedTarget(provider: NetworkProvider, opts: Options, option: string, kind: string): Promise<Address> {
    const address = parseAddress(await requiredOption(provider, opts, option, `${kind} address`), `--${option}`);
    if (!(await provider.isContractDeployed(address))) throw new InputError(`no ${kind} is deployed at --${option} ${address.toString()}`);
    return address;
}

// --session: a Session of Cocoon's code (isSessionOf), not only a deployed account: a top-up,
// close, finalize or report sent to a contract that merely answers like one is lost, and what
// showSession would print of it is whatever its getter claims.
export async function sessionTarget(provider: NetworkProvider, opts: Options): Promise<Address> {
    const address = await deployedTarget(provider, opts, 'session', 'Session');
    let genuine: boolean;
    try {
        const s = await provider.open(Session.fromAddress(address)).getState();
        const p = provider.open(Provider.fromAddress(s.provider));
        genuine = await isSessionOf({ root: await p.getRoot(), owner: await p.getOwner() }, { address, client: s.client, nonce: s.nonce });
    } catch (e) {
        throw new InputError(`--session ${address.toString()} cannot be read as a Session (${(e as Error).message}): nothing was sent`);
    }
    if (!genuine) {
        throw new InputError(
            `--session ${address.toString()} is not a Session of Cocoon's code: its address is not the one a Session's code and initial data give (nothing was sent)`,
        );
    }
    return address;
}

// A JSON file named by --<option>, parsed by `parse`; any problem names the file.
async function jsonFileOption<T>(
    provider: NetworkProvider,
    opts: Options,
    option: string,
    question: string,
    parse: (text: string) => T,
): Promise<T> {
    const file = await requiredOption(provider, opts, option, question);
    try {
        return parse(readFileSync(file, 'utf8'));
    } catch (e) {
        throw new InputError(`${file}: ${(e as Error).message}`);
    }
}

// --params FILE: protocol parameters (see deploy/params.testnet.json), validated.
export function paramsFileOption(provider: NetworkProvider, opts: Options): Promise<ProtocolParams> {
    return jsonFileOption(provider, opts, 'params', 'Parameters file (JSON)', paramsFromJson);
}

// --listing FILE: a provider's listing (see deploy/listing.example.json), validated.
export function listingFileOption(provider: NetworkProvider, opts: Options): Promise<Listing> {
    return jsonFileOption(provider, opts, 'listing', 'Listing file (JSON)', (text) => buildListing(listingFromJson(text)));
}
