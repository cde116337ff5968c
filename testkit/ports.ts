// Ports for servers that restart on the same port (a worker after a crash keeps the endpoint its
// Provider lists). Port 0 hands out a port from the kernel's ephemeral range, which every outgoing
// connection of the machine also draws its source ports from: between a stop and the restart, one
// of them (another test's HTTP client, or a retrying client connecting to itself) can take the port
// and the restart fails with EADDRINUSE. Ports below the ephemeral range are never taken that way.
import { createServer } from 'net';
import { readFileSync } from 'fs';

const FALLBACK_EPHEMERAL_START = 32768; // Linux's default

function ephemeralStart(): number {
    try {
        const [start] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
        return Number(start) || FALLBACK_EPHEMERAL_START;
    } catch {
        return FALLBACK_EPHEMERAL_START;
    }
}

function free(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const probe = createServer();
        probe.once('error', () => resolve(false));
        probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
}

// A free loopback port below the ephemeral range, picked at random so that parallel test files
// rarely probe the same one (and a taken one is skipped).
export async function restartablePort(): Promise<number> {
    const high = Math.min(ephemeralStart(), 65536);
    const low = Math.max(1024, high - 12_000);
    for (let attempt = 0; attempt < 50; attempt++) {
        const port = low + Math.floor(Math.random() * (high - low));
        if (await free(port)) return port;
    }
    throw new Error(`no free loopback port in ${low}..${high - 1}`);
}
