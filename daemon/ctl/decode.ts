/** dmvpnctl decode: filled in by the dissector milestone. */
export async function decodeCommand(args: string[]): Promise<number> {
  console.error(`dmvpnctl decode: not available yet (${args.join(' ')})`);
  return 2;
}
