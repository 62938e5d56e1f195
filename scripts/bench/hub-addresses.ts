/**
 * Addresses of the hub benchmark, shared by the parent (hub.ts) and the
 * generator (hub-gen.ts): the hub on a veth to the generator's namespace, the
 * simulated spokes' NBMA addresses in 198.18.0.0/15 (benchmarking range,
 * RFC 2544) and their tunnel addresses in the hub's 10.0.0.0/16.
 */
export const HUB_NBMA = '203.0.113.1';
export const HUB_PROTO = '10.0.0.1';
export const GEN_NBMA = '203.0.113.2';
export const SPOKE_NBMA_RANGE = '198.18.0.0/15';
export const SPOKE_NBMA_FIRST = '198.18.0.1';
export const SPOKE_PROTO_FIRST = '10.0.0.2';
/** The tunnel /16 holds 65,534 hosts: the hub and up to 60,000 spokes. */
export const MAX_SPOKES = 60_000;
