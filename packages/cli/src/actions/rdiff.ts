/**
 * `duplicity-ts rdiff signature|delta|patch`: rdiff's command line over @duplicity-ts/rsync.
 * File arguments may be omitted or `-` for stdin/stdout, as with rdiff; outputs are not overwritten
 * without -f; errors are one line and the exit status is librsync's result code, as rdiff's is.
 */
import { closeSync, fstatSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import {
  DeltaBuilder,
  fileBasis,
  parallelSignature,
  patch,
  rdiffSignatureParams,
  RsyncError,
  Signature,
  SignatureBuilder,
  type RsyncStatus,
  type StrongHash,
  type WeakSum,
} from '@duplicity-ts/rsync';

interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin?: NodeJS.ReadableStream;
}

/** librsync's rs_result values, which rdiff uses as its exit status. */
const EXIT: Record<RsyncStatus | 'syntax', number> = {
  io: 100,
  syntax: 101,
  'input-ended': 103,
  'bad-magic': 104,
  corrupt: 106,
  param: 108,
};

const READ_SIZE = 1 << 20;
/**
 * Inputs at least this large are hashed on worker threads. Starting a worker touches tens of MB of
 * fresh memory (a V8 isolate, a WebAssembly memory); on the 2-core CI-like machine that cost only pays
 * off for very large files, and not at all when other processes keep both cores busy.
 */
const PARALLEL_SIGNATURE_MIN = 1 << 30;

class UsageError extends Error {}

/** An input file or stdin, read in READ_SIZE pieces. */
class Input {
  private constructor(
    private readonly fd: number | undefined,
    private readonly stream: NodeJS.ReadableStream | undefined,
    readonly name: string,
    /** Size when the input is a regular file (also for stdin redirected from a file). */
    readonly size: number | undefined,
  ) {}

  static open(path: string | undefined, io: Io): Input {
    if (path === undefined || path === '-') {
      const stdin = io.stdin ?? process.stdin;
      let size: number | undefined;
      if (stdin === process.stdin) {
        try {
          const st = fstatSync(0);
          if (st.isFile()) size = st.size;
        } catch {
          // no usable fd 0: size unknown
        }
      }
      return new Input(undefined, stdin, 'stdin', size);
    }
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (err) {
      throw new RsyncError('io', `failed to open ${path} for reading: ${(err as Error).message}`);
    }
    const st = fstatSync(fd);
    return new Input(fd, undefined, path, st.isFile() ? st.size : undefined);
  }

  /**
   * Yields the contents. Files are read synchronously into one reused buffer: the builders copy what
   * they keep before asking for the next piece, and this avoids a thread-pool round trip per MiB.
   */
  async *chunks(): AsyncGenerator<Uint8Array> {
    if (this.stream) {
      for await (const c of this.stream) yield typeof c === 'string' ? Buffer.from(c) : (c as Uint8Array);
      return;
    }
    const buf = Buffer.allocUnsafe(READ_SIZE);
    for (;;) {
      let n: number;
      try {
        n = readSync(this.fd!, buf, 0, buf.length, null);
      } catch (err) {
        throw new RsyncError('io', `failed to read ${this.name}: ${(err as Error).message}`);
      }
      if (n === 0) return;
      yield buf.subarray(0, n);
    }
  }

  async readAll(): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const c of this.chunks()) parts.push(Buffer.from(c));
    return Buffer.concat(parts);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
  }
}

/** An output file (refused if it exists, unless forced) or stdout with back-pressure. */
class Output {
  private constructor(
    private readonly fd: number | undefined,
    private readonly stream: NodeJS.WritableStream | undefined,
    readonly path: string | undefined,
  ) {}

  static open(path: string | undefined, force: boolean, io: Io): Output {
    if (path === undefined || path === '-') return new Output(undefined, io.stdout, undefined);
    try {
      return new Output(openSync(path, force ? 'w' : 'wx'), undefined, path);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const why = e.code === 'EEXIST' ? 'file exists (use -f to overwrite)' : e.message;
      throw new RsyncError('io', `failed to open ${path} for writing: ${why}`);
    }
  }

  async write(data: Uint8Array): Promise<void> {
    if (data.length === 0) return;
    if (this.stream) {
      // The stream may hold on to what it is given, and patch output buffers are reused: copy.
      if (!this.stream.write(Buffer.from(data))) await new Promise<void>((resolve) => this.stream!.once('drain', resolve));
      return;
    }
    try {
      let off = 0;
      while (off < data.length) off += writeSync(this.fd!, data, off, data.length - off);
    } catch (err) {
      throw new RsyncError('io', `failed to write ${this.path}: ${(err as Error).message}`);
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
  }

  /** Closes and removes a file output left incomplete by an error. */
  discard(): void {
    if (this.fd === undefined) return;
    this.close();
    try {
      unlinkSync(this.path!);
    } catch {
      // already gone
    }
  }
}

interface RdiffOptions {
  blockSize: number;
  sumSize: number;
  hash: StrongHash;
  rollsum: WeakSum;
  force: boolean;
}

function intArg(name: string) {
  return (v: string): number => {
    if (!/^-?\d+$/.test(v)) throw new UsageError(`${name} must be an integer, not ${JSON.stringify(v)}`);
    return Number(v);
  };
}

function buildProgram(io: Io): Command {
  const program = new Command('duplicity-ts rdiff')
    .usage('[OPTIONS] signature [BASIS [SIGNATURE]] | delta SIGNATURE [NEWFILE [DELTA]] | patch BASIS [DELTA [NEWFILE]]')
    .argument('<command>', 'signature, delta or patch')
    .argument('[files...]', 'file names; omitted or - for stdin/stdout')
    .addOption(new Option('-b, --block-size <bytes>', 'signature block size, 0 for recommended').argParser(intArg('--block-size')).default(0))
    .addOption(new Option('-S, --sum-size <bytes>', 'strong sum length, 0 for full, -1 for minimum').argParser(intArg('--sum-size')).default(0))
    .addOption(new Option('-H, --hash <alg>', 'strong hash').choices(['blake2', 'md4']).default('blake2'))
    .addOption(new Option('-R, --rollsum <alg>', 'weak sum').choices(['rabinkarp', 'rollsum']).default('rabinkarp'))
    .option('-f, --force', 'overwrite existing output files', false)
    // Accepted for compatibility with rdiff; they do not change the output.
    .option('-v, --verbose', 'ignored')
    .option('-s, --statistics', 'ignored')
    .addOption(new Option('-I, --input-size <bytes>', 'ignored').argParser(intArg('--input-size')))
    .addOption(new Option('-O, --output-size <bytes>', 'ignored').argParser(intArg('--output-size')))
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      // commander's own error text is replaced by our one-line message
      writeErr: () => {},
    });
  return program;
}

async function signature(files: string[], o: RdiffOptions, io: Io): Promise<void> {
  if (files.length > 2) throw new UsageError('signature takes at most BASIS and SIGNATURE');
  const input = Input.open(files[0], io);
  try {
    const params = rdiffSignatureParams({ fileSize: input.size, blockLen: o.blockSize, strongLen: o.sumSize, hash: o.hash, weak: o.rollsum });
    const out = Output.open(files[1], o.force, io);
    try {
      if ((input.size ?? 0) >= PARALLEL_SIGNATURE_MIN) {
        for await (const c of parallelSignature(params, input.chunks())) await out.write(c);
      } else {
        const b = new SignatureBuilder(params);
        for await (const c of input.chunks()) await out.write(b.update(c));
        await out.write(b.final());
      }
      out.close();
    } catch (err) {
      out.discard();
      throw err;
    }
  } finally {
    input.close();
  }
}

async function delta(files: string[], o: RdiffOptions, io: Io): Promise<void> {
  if (files.length < 1 || files.length > 3) throw new UsageError('delta takes SIGNATURE [NEWFILE [DELTA]]');
  if ((files[0] === '-' || files[0] === undefined) && (files[1] === undefined || files[1] === '-')) {
    throw new UsageError('SIGNATURE and NEWFILE cannot both be stdin');
  }
  const sigInput = Input.open(files[0], io);
  let sig: Signature;
  try {
    const bytes = await sigInput.readAll();
    try {
      sig = Signature.parse(bytes);
    } catch (err) {
      if (err instanceof RsyncError) throw new RsyncError(err.status, `failed to load signature ${sigInput.name}: ${err.message}`);
      throw err;
    }
  } finally {
    sigInput.close();
  }
  const input = Input.open(files[1], io);
  try {
    const out = Output.open(files[2], o.force, io);
    try {
      const b = new DeltaBuilder(sig);
      for await (const c of input.chunks()) await out.write(b.update(c));
      await out.write(b.final());
      out.close();
    } catch (err) {
      out.discard();
      throw err;
    }
  } finally {
    input.close();
  }
}

async function patchCommand(files: string[], o: RdiffOptions, io: Io): Promise<void> {
  if (files.length < 1 || files.length > 3) throw new UsageError('patch takes BASIS [DELTA [NEWFILE]]');
  if (files[0] === '-') throw new UsageError('BASIS must be a file: patching needs random access to it');
  const basis = await fileBasis(files[0]).catch((err: Error) => {
    throw new RsyncError('io', err.message);
  });
  try {
    const input = Input.open(files[1], io);
    try {
      const out = Output.open(files[2], o.force, io);
      try {
        for await (const c of patch(basis, input.chunks(), { reuseOutput: true })) await out.write(c);
        out.close();
      } catch (err) {
        out.discard();
        if (err instanceof RsyncError && err.status !== 'io') {
          throw new RsyncError(err.status, `failed to apply delta ${input.name}: ${err.message}`);
        }
        throw err;
      }
    } finally {
      input.close();
    }
  } finally {
    await basis.close();
  }
}

export async function runRdiff(argv: string[], io: Io): Promise<number> {
  const program = buildProgram(io);
  try {
    program.parse(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0; // --help / --version
      io.stderr.write(`duplicity-ts rdiff: ${err.message.replace(/^error: /, '')}\n`);
      return EXIT.syntax;
    }
    if (err instanceof UsageError) {
      io.stderr.write(`duplicity-ts rdiff: ${err.message}\n`);
      return EXIT.syntax;
    }
    throw err;
  }
  const [command, files] = program.processedArgs as [string, string[]];
  const o = program.opts<RdiffOptions>();
  try {
    if (command === 'signature') await signature(files, o, io);
    else if (command === 'delta') await delta(files, o, io);
    else if (command === 'patch') await patchCommand(files, o, io);
    else throw new UsageError(`unknown command ${JSON.stringify(command)}: use signature, delta or patch`);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`duplicity-ts rdiff: ${err.message}\n`);
      return EXIT.syntax;
    }
    if (err instanceof RsyncError) {
      io.stderr.write(`duplicity-ts rdiff: ${err.message.split('\n').join(' ')}\n`);
      return EXIT[err.status];
    }
    throw err;
  }
}
