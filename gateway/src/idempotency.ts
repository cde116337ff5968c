// Requests sent with an Idempotency-Key header. A retry with the same key goes to the same session
// under the same request id, so that an answer lost on the way is returned by the worker that
// kept it, charged once; and once any attempt under a key may have been served, the key never
// goes to another provider (that one would charge it again).
//
// Keys live in the gateway's memory: `ttlMs` after their last use (workers keep answers 10
// minutes by default), at most `perTenant` for each API key (the oldest idle one is forgotten
// first, so one tenant cannot push out another's), and not across a restart of the gateway.
import { createHash } from 'crypto';
import type { ClientSession } from '../../sdk';

export interface KeyedRequest {
    requestId: string; // the request id every attempt under this key uses
    session?: ClientSession; // where its attempts go (none yet, or its provider failed proven-unserved)
    maybeServed: boolean; // an attempt may have been served: never sent elsewhere
    bodyHash: string; // the request it was first used for (another body is a conflict)
    tenant: string;
    inFlight: boolean;
    lastUse: number; // ms
}

export class KeyConflict extends Error {
    constructor(
        readonly code: 'idempotency_key_reused' | 'idempotency_key_in_flight',
        message: string,
    ) {
        super(message);
    }
}

export class IdempotencyKeys {
    private entries = new Map<string, KeyedRequest>(); // by scoped key, least recently used first
    private perTenantCount = new Map<string, number>();

    constructor(private readonly o: { ttlMs: number; perTenant: number }) {}

    // The entry for `key` sent by `tenant` with `body`, marked in flight until `done(entry)`.
    begin(key: string, tenant: string, body: unknown): KeyedRequest {
        this.sweep();
        const scoped = createHash('sha256').update(tenant).update('\0').update(key).digest('base64url');
        const bodyHash = createHash('sha256').update(JSON.stringify(body)).digest('base64url');
        let entry = this.entries.get(scoped);
        if (entry) {
            if (entry.bodyHash !== bodyHash) {
                throw new KeyConflict(
                    'idempotency_key_reused',
                    'this Idempotency-Key was used for another request: use a new key for a new request',
                );
            }
            if (entry.inFlight) {
                throw new KeyConflict(
                    'idempotency_key_in_flight',
                    'a request with this Idempotency-Key is still being answered: wait for its answer, then retry if it failed',
                );
            }
            this.entries.delete(scoped); // (re-inserted below: most recently used last)
        } else {
            entry = { requestId: scoped.slice(0, 32), maybeServed: false, bodyHash, tenant, inFlight: false, lastUse: 0 };
            this.count(tenant, +1);
            this.evictOldest(tenant);
        }
        entry.inFlight = true;
        entry.lastUse = Date.now();
        this.entries.set(scoped, entry);
        return entry;
    }

    done(entry: KeyedRequest) {
        entry.inFlight = false;
        entry.lastUse = Date.now();
    }

    get size(): number {
        return this.entries.size;
    }

    private sweep() {
        const now = Date.now();
        for (const [k, e] of this.entries) {
            if (now - e.lastUse <= this.o.ttlMs) break; // (the rest were used later)
            if (e.inFlight) continue;
            this.entries.delete(k);
            this.count(e.tenant, -1);
        }
    }

    private evictOldest(tenant: string) {
        if ((this.perTenantCount.get(tenant) ?? 0) <= this.o.perTenant) return;
        for (const [k, e] of this.entries) {
            if (e.tenant !== tenant || e.inFlight) continue;
            this.entries.delete(k);
            this.count(tenant, -1);
            return;
        }
    }

    private count(tenant: string, delta: number) {
        const n = (this.perTenantCount.get(tenant) ?? 0) + delta;
        if (n > 0) this.perTenantCount.set(tenant, n);
        else this.perTenantCount.delete(tenant);
    }
}
