// The flow from an ES module project: named imports from 'cocoon/wrappers' and 'cocoon' (the SDK).
import { rootForDeployment, providerForOwner, sessionFor } from 'cocoon/wrappers';
import * as wrappers from 'cocoon/wrappers';
import * as sdk from 'cocoon';
import * as sandbox from '@ton/sandbox';
import * as core from '@ton/core';
import * as tonCrypto from '@ton/crypto';
import flow from './flow.cjs';

if (typeof rootForDeployment !== 'function' || typeof providerForOwner !== 'function' || typeof sessionFor !== 'function') {
    throw new Error('named imports from cocoon/wrappers are missing');
}
try {
    console.log(JSON.stringify(await flow({ wrappers, sdk, sandbox, core, tonCrypto })));
} catch (e) {
    console.error(e);
    process.exit(1);
}
