// docs/messages.md is generated from the contracts' sources; this fails when it was not
// regenerated (`npm run docs`) after a message, event, struct or exit code changed.
import { readFileSync } from 'fs';
import { join } from 'path';
import { renderMessagesDoc } from '../tools/messages-doc';
import * as generated from '../wrappers';

it('docs/messages.md matches the contracts (run `npm run docs` to update it)', () => {
    expect(readFileSync(join(__dirname, '..', 'docs', 'messages.md'), 'utf8')).toBe(renderMessagesDoc());
});

it('every opcode and exit code the compiler exports is in the reference', () => {
    const doc = readFileSync(join(__dirname, '..', 'docs', 'messages.md'), 'utf8');
    for (const [name, value] of Object.entries(generated)) {
        if (name.startsWith('ERR_') && typeof value === 'bigint') expect(doc).toContain(`| ${value} | \`${name}\` |`);
        if (
            name.startsWith('store') &&
            !name.startsWith('storeTuple') &&
            !name.includes('$') &&
            ![
                'storeStateInit',
                'storeContext',
                'storeSendParameters',
                'storeMessageParameters',
                'storeDeployParameters',
                'storeSignedBundle',
                'storeDataSize',
                'storeStdAddress',
                'storeVarAddress',
                'storeBasechainAddress',
                'storeDeploy',
                'storeDeployOk',
                'storeFactoryDeploy',
            ].includes(name)
        ) {
            expect(doc).toContain(`\`${name.slice('store'.length)}\``);
        }
    }
});
