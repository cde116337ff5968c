// Where the model backend may be: inside the TD. A prompt leaves the enclave's encryption only
// inside the worker, so the backend it goes to must run in the same TD: on a loopback address
// (127.0.0.0/8, ::1) or behind a unix socket (`unix:/run/vllm.sock`, as vLLM's --uds serves).
// Names, `localhost` included, are refused: they resolve through DNS and hosts files the TD's
// host may control. Any other address could be another machine, outside the attested boundary;
// it is accepted only in development mode. (The backend client also refuses redirects.)
import { isIP } from 'net';

export type BackendTarget = { kind: 'http'; url: URL } | { kind: 'unix'; socketPath: string };

export class BackendRefused extends Error {}

export function parseBackendTarget(spec: string): BackendTarget {
    if (spec.startsWith('unix:')) {
        const socketPath = spec.slice('unix:'.length);
        if (!socketPath.startsWith('/'))
            throw new BackendRefused(`--backend ${spec}: a unix socket is named by its absolute path, e.g. unix:/run/vllm.sock`);
        return { kind: 'unix', socketPath };
    }
    let url: URL;
    try {
        url = new URL(spec);
    } catch {
        throw new BackendRefused(`--backend ${spec} is neither an http(s) URL nor unix:/path/to/socket`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
        throw new BackendRefused(`--backend ${spec}: only http(s) URLs and unix sockets are served`);
    return { kind: 'http', url };
}

export function isInsideTd(t: BackendTarget): boolean {
    if (t.kind === 'unix') return true;
    const host = t.url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    if (isIP(host) === 4) return host.split('.')[0] === '127';
    if (isIP(host) === 6) return host === '::1' || /^::ffff:127\./.test(host);
    return false;
}

// The backend a worker may use: anywhere in development mode, inside the TD otherwise.
export function requireBackendInsideTd(spec: string, dev: boolean): BackendTarget {
    const target = parseBackendTarget(spec);
    if (!dev && !isInsideTd(target)) {
        throw new BackendRefused(
            `--backend ${spec} is not inside this TD: prompts are decrypted only inside the enclave, so the model must run there too. ` +
                'Serve it on a loopback address (http://127.0.0.1:PORT, not a name such as localhost) or a unix socket (unix:/run/vllm.sock); another host is accepted only with --dev',
        );
    }
    return target;
}
