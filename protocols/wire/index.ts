export { WireError, isWireError } from './error.js';
export { Reader } from './reader.js';
export { Writer, encode } from './writer.js';
export { onesSum, internetChecksum, checksumValid } from './checksum.js';
export * from './addr.js';
