// Runs `duplicity-ts rdiff <args>` through the same code the CLI uses (runRdiff from the built CLI
// package) and prints the seconds spent in it, without Node's own start-up and module loading.
import { runRdiff } from '../../packages/cli/dist/actions/rdiff.js';

const t = process.hrtime.bigint();
const code = await runRdiff(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
const seconds = Number(process.hrtime.bigint() - t) / 1e9;
process.stderr.write(`${JSON.stringify({ code, seconds })}\n`);
process.exitCode = code;
