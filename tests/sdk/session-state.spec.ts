// What counts as a Session when reading one (Session.getStateIfSession, behind readSession): an
// account whose `state` getter throws, or answers what no Session's getter answers, is no Session
// (the worker refuses it as unknown, counted against the asker); an endpoint that cannot be
// reached is a failure to read, not an answer.
import { Address, ContractProvider, TupleItem, TupleReader } from '@ton/core';
import { Session } from '../../wrappers';

const address = new Address(0, Buffer.alloc(32, 7));
const answering = (get: () => Promise<TupleItem[]>) =>
    ({ get: async () => ({ stack: new TupleReader(await get()) }) }) as unknown as ContractProvider;

describe('Session.getStateIfSession', () => {
    it("is null for a getter that throws (the contract's exit code) or answers something else; throws when the chain cannot be reached or the node does not have the account (yet)", async () => {
        const session = Session.fromAddress(address);
        const exitCode = answering(async () => {
            throw new Error('Unable to execute get method. Got exit_code: 11');
        });
        await expect(session.getStateIfSession(exitCode)).resolves.toBeNull();
        const other = answering(async () => [{ type: 'int', value: 1n }]);
        await expect(session.getStateIfSession(other)).resolves.toBeNull();
        const unreachable = answering(async () => {
            throw new Error('connect ECONNREFUSED 127.0.0.1:8081');
        });
        await expect(session.getStateIfSession(unreachable)).rejects.toThrow('ECONNREFUSED');
        const outOfGas = answering(async () => {
            throw new Error('Unable to execute get method. Got exit_code: -14'); // (a Session's getter needs little gas)
        });
        await expect(session.getStateIfSession(outOfGas)).resolves.toBeNull();
        const notThereYet = answering(async () => {
            throw new Error('Unable to execute get method. Got exit_code: -13'); // (the node's code, not a contract's)
        });
        await expect(session.getStateIfSession(notThereYet)).rejects.toThrow('exit_code: -13');
    });
});
