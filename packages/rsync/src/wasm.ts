// Loads build/rsync.wasm (compiled from assembly/ by scripts/build-wasm.mjs). The path is relative to
// this module, so it works both from src/ (vitest) and from dist/ (the built CLI).
import { md4Blocks, md4LanesWidth } from '@duplicity-ts/libdeflate';
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';

// The ES2023 lib and @types/node 20 do not declare the WebAssembly JS API; this is the part used here.
declare global {
  namespace WebAssembly {
    class Module {
      constructor(bytes: Uint8Array);
    }
    class Instance {
      constructor(module: Module, imports?: Record<string, Record<string, unknown>>);
      readonly exports: Record<string, unknown>;
    }
    class Memory {
      readonly buffer: ArrayBuffer;
      grow(pages: number): number;
    }
  }
}

export interface RsyncExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  md4(p: number, len: number, out: number): void;
  blake2b256(p: number, len: number, out: number): void;
  rollsumBlock(p: number, len: number): number;
  rabinKarpBlock(p: number, len: number): number;
  signatureRecords(inPtr: number, len: number, blockLen: number, strongLen: number, flags: number, outPtr: number): number;
  deltaInit(base: number, blocks: number, blockLen: number, strongLen: number, flags: number, bufCap: number): number;
  deltaIndex(): void;
  deltaScan(end: number, final: number): number;
  deltaShift(k: number): void;
  deltaState(i: number): number;
  useMd4Lanes(on: boolean): void;
}

let compiled: WebAssembly.Module | undefined;

/** Uses a module compiled by another thread (a worker's workerData), so this thread compiles nothing. */
export function adoptWasmModule(module: WebAssembly.Module): void {
  compiled ??= module;
}

export function wasmModule(): WebAssembly.Module {
  if (!compiled) {
    const url = new URL('../build/rsync.wasm', import.meta.url);
    let bytes: Buffer;
    try {
      bytes = readFileSync(url);
    } catch (err) {
      throw new Error(`failed to load ${url.pathname}: ${(err as Error).message} (run \`npm run build:wasm -w @duplicity-ts/rsync\`)`);
    }
    // V8 first runs WebAssembly through its baseline compiler and optimizes hot functions later; our
    // functions are few, long-running and hot from the first call, so optimize them up front.
    setFlagsFromString('--no-liftoff');
    compiled = new WebAssembly.Module(bytes);
  }
  return compiled;
}

/**
 * A fresh instance with its own memory (delta state lives in instance globals). Where the libdeflate addon
 * has MD4 lanes for this CPU (AVX-512 or AVX2), the instance hashes its batches of blocks there
 * (assembly/md4-lanes.ts): about 4 GB/s against 1-1.4 GB/s in WASM's 128-bit lanes.
 */
export function newInstance(): RsyncExports {
  let view: Uint8Array | undefined;
  const instance = new WebAssembly.Instance(wasmModule(), {
    env: {
      abort() {
        throw new Error('rsync wasm aborted');
      },
      // 0 makes the WASM hash the batch itself.
      md4Lanes(p: number, len: number, count: number, out: number): number {
        const buffer = ex.memory.buffer;
        // A grown memory has a new buffer (the old one is detached).
        if (view?.buffer !== buffer) view = new Uint8Array(buffer);
        return md4Blocks(view, p, len, count, out) ? 1 : 0;
      },
    },
  });
  const ex = instance.exports as unknown as RsyncExports & { _initialize?: () => void };
  ex._initialize?.();
  if (md4LanesWidth() > 0) ex.useMd4Lanes(true);
  return ex;
}

/** Grows `memory` so that it holds at least `bytes` bytes. */
export function ensureMemory(memory: WebAssembly.Memory, bytes: number): void {
  const have = memory.buffer.byteLength;
  if (bytes > have) memory.grow(Math.ceil((bytes - have) / 65536));
}

/** `flags` argument of the wasm functions: bit 0 BLAKE2b strong sum, bit 1 RabinKarp weak sum. */
export function hashFlags(p: { hash: string; weak: string }): number {
  return (p.hash === 'blake2' ? 1 : 0) | (p.weak === 'rabinkarp' ? 2 : 0);
}

let shared: RsyncExports | undefined;

/** One instance per thread for stateless calls (signature batches, single sums). */
export function sharedInstance(): RsyncExports {
  return (shared ??= newInstance());
}
