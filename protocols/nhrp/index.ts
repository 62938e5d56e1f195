/** NHRP wire codec (RFC 2332 with Cisco's DMVPN additions): one import for the protocol engine. */
export * from './constants.js';
export * from './cie.js';
export * from './extensions.js';
export * from './wire.js';
export * from './build.js';
