// Why a quote or its collateral was refused: a stable machine-readable code and a message that
// names what was wrong. Everything that checks a quote (quote.ts, revocation.ts) throws only this.
export type RejectionCode =
    | 'malformed-quote' // not hex, wrong length, trailing bytes, a structure that does not decode
    | 'malformed-collateral' // collateral missing a part, or a part (TCB info, QE identity, a CRL) that does not parse
    | 'invalid-quote' // a signature, certificate or hash in the quote does not verify
    | 'invalid-collateral' // a signature over the collateral (TCB info, QE identity, a CRL) does not verify
    | 'collateral-expired' // the verification time is past a nextUpdate
    | 'collateral-not-yet-valid' // the verification time is before an issueDate or thisUpdate
    | 'collateral-mismatch' // collateral for another platform or TEE type
    | 'certificate-expired' // a certificate of a chain is expired or not yet valid at the verification time
    | 'certificate-revoked'
    | 'tcb-rejected'
    | 'attributes-refused' // TD attributes Cocoon does not accept (reserved bits, SEPT_VE_DISABLE off)
    | 'debug-enclave';

export class QuoteRejected extends Error {
    constructor(
        readonly code: RejectionCode,
        message: string,
    ) {
        super(message);
        this.name = 'QuoteRejected';
    }
}
