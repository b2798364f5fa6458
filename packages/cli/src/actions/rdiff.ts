export async function runRdiff(
  _argv: string[],
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream },
): Promise<number> {
  io.stderr.write('duplicity-ts rdiff: not implemented yet\n');
  return 2;
}
