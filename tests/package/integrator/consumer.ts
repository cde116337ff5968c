// An integrator's TypeScript, type-checked against the package's declarations (tsconfig.*.json:
// Node's ES module resolution, and the classic resolution older projects use).
import { Address, toNano } from '@ton/core';
import { AttestationFields, Session, buildUsageReceipt, contractCodeHashes, sessionFor } from 'cocoon/wrappers';
import { CocoonClient, ClientOptions, SessionState } from 'cocoon/sdk';
import { buildGateway } from 'cocoon/gateway';

export async function typed(root: Address, owner: Address, client: Address): Promise<string> {
    const session: Session = await sessionFor(root, owner, client, 1n);
    const receipt = buildUsageReceipt({
        globalId: -239,
        session: session.address,
        openedAt: 0,
        seqno: 1,
        lastRequestAt: 0,
        promptTokens: 1n,
        cachedTokens: 0n,
        completionTokens: 1n,
        reasoningTokens: 0n,
        amountDue: toNano('0.01'),
        resultsHash: 0n,
    });
    const fields: Partial<AttestationFields> = { issuedAt: 0 };
    const options: Partial<ClientOptions> = {};
    const state: SessionState | null = null;
    void [fields, options, state, CocoonClient, buildGateway];
    return receipt.hash().toString('hex') + (await contractCodeHashes()).session;
}
