// Which contract code this version of Cocoon deploys and talks to. An integrator compares these
// with the code of the accounts it uses (`getContractState(...).code`) and with the release's entry
// in CHANGELOG.md: another hash is another protocol version.
import { Address, Cell } from '@ton/core';
import { rootForDeployment } from './Root';
import { providerForOwner } from './Provider';
import { Session } from './Session';
import { EXAMPLE_PARAMS } from './params';

/** The SHA-256 representation hashes (hex) of the Root, Provider and Session code in this package. */
export async function contractCodeHashes(): Promise<{ root: string; provider: string; session: string }> {
    const anyone = new Address(0, Buffer.alloc(32)); // (the code does not depend on the initial data)
    const hash = (c: { init?: { code: Cell } | null }) => c.init!.code.hash().toString('hex');
    return {
        root: hash(await rootForDeployment({ owner: anyone, globalId: -239, params: EXAMPLE_PARAMS })),
        provider: hash(await providerForOwner(anyone, anyone)),
        session: hash(await Session.fromInit(anyone, anyone, anyone, 0n)),
    };
}
