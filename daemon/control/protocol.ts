/**
 * The control socket protocol between dmvpnctl and dmvpnd: one JSON object per
 * line each way over a unix stream socket.
 */
export const DEFAULT_SOCKET = '/run/dmvpnd/dmvpnd.sock';

export function socketPath(explicit?: string): string {
  return explicit ?? process.env.DMVPN_SOCKET ?? DEFAULT_SOCKET;
}

export interface ControlRequest {
  /** Words as the operator typed them, e.g. ["show", "ip", "nhrp", "brief"]. */
  readonly words: readonly string[];
  readonly json: boolean;
}

export type ControlResponse =
  | { readonly ok: true; readonly text?: string; readonly data?: unknown }
  | { readonly ok: false; readonly code: string; readonly error: string };

/** Upper bound on one request line; longer input is refused, not buffered forever. */
export const MAX_REQUEST_BYTES = 64 * 1024;
