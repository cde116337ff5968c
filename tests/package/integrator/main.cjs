// The flow from a CommonJS project: require('cocoon/wrappers'), require('cocoon/sdk').
const flow = require('./flow.cjs');
flow({
    wrappers: require('cocoon/wrappers'),
    sdk: require('cocoon/sdk'),
    sandbox: require('@ton/sandbox'),
    core: require('@ton/core'),
    tonCrypto: require('@ton/crypto'),
}).then(
    (r) => console.log(JSON.stringify(r)),
    (e) => {
        console.error(e);
        process.exit(1);
    },
);
