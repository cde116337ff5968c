// Files and fields that hold bytes either raw or as hex text (with or without 0x, whitespace
// ignored). Text is anything made only of printable ASCII: the binary formats read here (a DCAP
// quote starts 03 00, 04 00 or 05 00; an SPDM request 11 e0) never are. Text that is not clean hex
// is refused as such, never read as binary.
export class NotHex extends Error {}

export function decodeHexOrBinary(contents: Buffer, what: string): Buffer {
    const isText = contents.every((b) => (b >= 0x20 && b < 0x7f) || b === 0x09 || b === 0x0a || b === 0x0d);
    if (!isText) return contents;
    const hex = contents.toString('latin1').trim().replace(/^0x/i, '').replace(/\s+/g, '');
    if (hex.length === 0) throw new NotHex(`the ${what} is empty`);
    if (!/^[0-9a-fA-F]*$/.test(hex)) throw new NotHex(`the ${what} is text but not hex: it has characters other than 0-9, a-f`);
    if (hex.length % 2 !== 0) throw new NotHex(`the ${what} is not hex: odd number of digits (${hex.length})`);
    return Buffer.from(hex, 'hex');
}
