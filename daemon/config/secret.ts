/**
 * A configured secret (IKEv2 pre-shared key, NHRP authentication string, key
 * chain key-string, EIGRP HMAC password). The value is held in a private field
 * and every way a model gets printed (String(), JSON.stringify, util.inspect,
 * pino) shows a placeholder, so a key cannot leak into logs, error messages or
 * `--json` output by accident. Protocol code that needs the key calls reveal().
 */
export const REDACTED = '<removed>';

const inspectSymbol = Symbol.for('nodejs.util.inspect.custom');

export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The cleartext; only for the protocol that uses the key (and the unredacted renderer). */
  reveal(): string {
    return this.#value;
  }

  /** Constant-shape comparison used by tests and by reload diffing. */
  equals(other: Secret): boolean {
    return other.#value === this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspectSymbol](): string {
    return `Secret(${REDACTED})`;
  }
}
