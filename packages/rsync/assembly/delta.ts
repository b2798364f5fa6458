// Delta match search (FORMAT.md §8.5) with its state kept here between calls: the signature's blocks
// indexed by weak sum, a bit filter in front of that index, and the rolling window over an input
// buffer that JavaScript refills. Output is a list of events (COPY basisPos,len / LITERAL bufOff,len)
// that JavaScript encodes as opcodes; adjacent copies are already merged.
//
// With flags bit 2 the search also writes the input's own signature (same parameters as the basis
// signature): a block of the input that matched a basis block exactly at a block boundary of the input
// has the matched record as its record (same bytes, same weak and strong sums), so only the blocks that
// did not match that way are hashed. The buffer keeps the bytes of blocks not yet recorded
// (deltaState(6) says how much JavaScript may drop).
import { rollsumBlock, rabinKarpBlock, rkPow, RK_MULT, RK_ADJ, RK_INVM } from './weaksum';
import { strongSum } from './strong';
import { md4x4, md4x8 } from './md4x4';
import { md4LanesOn, md4Many, MD4_BATCH } from './md4-lanes';
import { signatureRecords } from './signature';

const EV_LITERAL: f64 = 0;
const EV_COPY: f64 = 1;
const EV_CAP: i32 = 4096;

// Signature
let nBlocks: i32 = 0;
let blockLen: i32 = 0;
let strongLen: i32 = 0;
let stride: i32 = 0;
let blake = false;
let rk = false;
let recs: usize = 0; // raw signature records: BE weak u32 + strong[strongLen]
let table: usize = 0; // open addressing, 8-byte slots: weak sum, block index + 1 (0 = empty slot)
let tableBits: i32 = 0;
let filter: usize = 0; // one bit per hash value, checked before the table
let filterBits: i32 = 0;
// Input window
let buf: usize = 0;
let cap: i32 = 0;
let p: i32 = 0;
let end: i32 = 0;
let n: i32 = 0; // window length: blockLen, less only in the tail at EOF
let valid = false; // weak sum state describes [p, p+n)
let checked = false; // [p, p+n) has been looked up
let s1: u32 = 0;
let s2: u32 = 0;
let rkh: u32 = 0;
let rkm: u32 = 0; // MULT^n
let litStart: i32 = 0;
// Open COPY run
let runOpen = false;
let runPos: i64 = 0;
let runLen: i64 = 0;
let runNext: i32 = 0;
// Events
let ev: usize = 0;
let evCount: i32 = 0;
// Lookups that cannot succeed: a window of one repeated byte whose weak sum collides with a block
// but whose strong sum did not match. Without this, long runs of one byte would hash every position.
let failValid = false;
let failWeak: u32 = 0;
let failN: i32 = 0;
let failByte: i32 = 0;
let constByte: i32 = -1;
let constStart: i32 = 0; // all bytes in [constStart, constEnd) equal constByte
let constEnd: i32 = 0;
// The input's signature (flags bit 2)
let sigOn = false;
let absBase: i64 = 0; // input offset of buf[0]
let sigNext: i64 = 0; // input offset of the first block without a record yet
let sigOut: usize = 0; // records written during this deltaScan call
let sigLen: i32 = 0;

const DIGEST = memory.data(32, 16);
const DIGESTS = memory.data(<i32>MD4_BATCH * 16, 16);

@inline function mix(w: u32): u32 {
  return w * 0x9e3779b1;
}

function ceilLog2(x: i32): i32 {
  let b = 0;
  while ((1 << b) < x) b++;
  return b;
}

function ensureMemory(top: usize): bool {
  const have = (<usize>memory.size()) << 16;
  if (top <= have) return true;
  return memory.grow(<i32>((top - have + 0xffff) >> 16)) >= 0;
}

/**
 * Lays out memory for a signature of `blocks` records and an input buffer of `bufCap` bytes.
 * Returns where JavaScript must copy the raw records before calling deltaIndex(), or 0 when out of memory.
 */
export function deltaInit(base: usize, blocks: i32, bLen: i32, sLen: i32, flags: u32, bufCap: i32): usize {
  nBlocks = blocks; blockLen = bLen; strongLen = sLen; stride = 4 + sLen;
  blake = (flags & 1) != 0; rk = (flags & 2) != 0;
  tableBits = ceilLog2(blocks) + 1;
  if (tableBits < 4) tableBits = 4;
  filterBits = tableBits + 3;
  if (filterBits > 30) filterBits = 30;
  let top = (base + 15) & ~15;
  recs = top; top += <usize>blocks * stride; top = (top + 15) & ~15;
  table = top; top += (<usize>1 << tableBits) * 8;
  filter = top; top += (<usize>1 << filterBits) >> 3; top = (top + 15) & ~15;
  ev = top; top += <usize>EV_CAP * 24;
  sigOn = (flags & 4) != 0;
  // One call records at most the blocks of a full buffer plus the one kept from before it.
  sigOut = top; top += sigOn ? (<usize>(bufCap / bLen) + 4) * stride : 0; top = (top + 15) & ~15;
  buf = top; top += bufCap + 8;
  cap = bufCap;
  if (!ensureMemory(top)) return 0;
  memory.fill(table, 0, buf - table);
  p = 0; end = 0; n = blockLen; valid = false; checked = false; litStart = 0;
  runOpen = false; runPos = 0; runLen = 0; runNext = 0; evCount = 0;
  failValid = false; constByte = -1; constStart = 0; constEnd = 0;
  absBase = 0; sigNext = 0; sigLen = 0;
  return recs;
}

@inline function recWeak(k: i32): u32 {
  return bswap<u32>(load<u32>(recs + <usize>k * stride));
}

function strongEqual(k: i32, digest: usize): bool {
  const s = recs + <usize>k * stride + 4;
  for (let i = 0; i < strongLen; i++) {
    if (load<u8>(s + i) != load<u8>(digest + i)) return false;
  }
  return true;
}

/** Indexes the records copied in after deltaInit(). Blocks identical to an earlier one are left out. */
export function deltaIndex(): void {
  const mask: u32 = (1 << tableBits) - 1;
  const tShift = 32 - tableBits;
  const fShift = 32 - filterBits;
  for (let k = 0; k < nBlocks; k++) {
    const w = recWeak(k);
    const h = mix(w);
    let i = h >>> tShift;
    let dup = false;
    while (true) {
      const slot = table + (<usize>i << 3);
      const e = load<u32>(slot, 4);
      if (e == 0) break;
      const j = <i32>e - 1;
      if (load<u32>(slot) == w && strongEqual(j, recs + <usize>k * stride + 4)) { dup = true; break; }
      i = (i + 1) & mask;
    }
    if (dup) continue;
    store<u32>(table + (<usize>i << 3), w);
    store<u32>(table + (<usize>i << 3), <u32>(k + 1), 4);
    const f = h >>> fShift;
    store<u8>(filter + (f >> 3), load<u8>(filter + (f >> 3)) | (<u32>1 << (f & 7)));
  }
}

@inline function currentWeak(): u32 {
  return rk ? rkh : (s2 << 16) | (s1 & 0xffff);
}

function freshWeak(): void {
  const w = buf + p;
  if (rk) { rkh = rabinKarpBlock(w, n); rkm = rkPow(n); }
  else {
    const r = rollsumBlock(w, n);
    s1 = r & 0xffff; s2 = r >>> 16;
  }
  valid = true; checked = false;
}

function windowIsConst(b: i32): bool {
  if (p < constStart || p > constEnd || b != constByte) { constStart = p; constEnd = p; constByte = b; }
  const stop = p + n;
  while (constEnd < stop && <i32>load<u8>(buf + constEnd) == b) constEnd++;
  return constEnd >= stop;
}

/** Finds a block whose sums equal those of the window [p, p+n), or returns -1. */
function lookup(w: u32): i32 {
  let haveStrong = false;
  // Prefer the block that continues the open COPY run, so repeated content still merges into one copy.
  if (runOpen && runNext < nBlocks && recWeak(runNext) == w) {
    strongSum(blake, buf + p, n, DIGEST);
    haveStrong = true;
    if (strongEqual(runNext, DIGEST)) return runNext;
  }
  const h = mix(w);
  const f = h >>> (32 - filterBits);
  if ((load<u8>(filter + (f >> 3)) & (1 << (f & 7))) == 0) return -1;
  if (failValid && w == failWeak && n == failN && windowIsConst(failByte)) return -1;
  const mask: u32 = (1 << tableBits) - 1;
  let i = h >>> (32 - tableBits);
  let weakHit = false;
  while (true) {
    // The slot holds the weak sum, so a probe touches one cache line and not the records.
    const slot = table + (<usize>i << 3);
    const e = load<u32>(slot, 4);
    if (e == 0) break;
    if (load<u32>(slot) == w) {
      const k = <i32>e - 1;
      weakHit = true;
      if (!haveStrong) { strongSum(blake, buf + p, n, DIGEST); haveStrong = true; }
      if (strongEqual(k, DIGEST)) return k;
    }
    i = (i + 1) & mask;
  }
  if (weakHit) {
    const b = <i32>load<u8>(buf + p);
    if (windowIsConst(b)) { failValid = true; failWeak = w; failN = n; failByte = b; }
  }
  return -1;
}

@inline function emit(kind: f64, a: f64, b: f64): void {
  const e = ev + <usize>evCount * 24;
  store<f64>(e, kind, 0); store<f64>(e, a, 8); store<f64>(e, b, 16);
  evCount++;
}

function flushLiteral(): void {
  if (p > litStart) { emit(EV_LITERAL, <f64>litStart, <f64>(p - litStart)); litStart = p; }
}

function closeRun(): void {
  if (runOpen) { emit(EV_COPY, <f64>runPos, <f64>runLen); runOpen = false; }
}

/**
 * Hashes the input's blocks that start before input offset `limit` and lie whole in the buffer (with
 * `final`: every remaining byte, the last block short), appending their records to sigOut.
 */
function sigCatchUp(limit: i64, final: bool): void {
  const bl = <i64>blockLen;
  const avail = absBase + <i64>end - sigNext;
  let bytes: i64;
  if (final) bytes = avail;
  else {
    if (limit <= sigNext) return;
    let k = (limit - sigNext + bl - 1) / bl;
    if (k > avail / bl) k = avail / bl;
    bytes = k * bl;
  }
  if (bytes <= 0) return;
  sigLen += <i32>signatureRecords(buf + <usize>(sigNext - absBase), <usize>bytes, <usize>blockLen, <usize>strongLen, (blake ? 1 : 0) | (rk ? 2 : 0), sigOut + <usize>sigLen);
  sigNext += bytes;
}

function onMatch(k: i32): void {
  if (sigOn) {
    const at = absBase + <i64>p;
    sigCatchUp(at, false);
    // A whole block matched at a block boundary of the input: its record is the basis block's.
    if (n == blockLen && sigNext == at) {
      memory.copy(sigOut + <usize>sigLen, recs + <usize>k * stride, stride);
      sigLen += stride;
      sigNext += <i64>n;
    }
  }
  flushLiteral();
  const pos = <i64>k * blockLen;
  if (runOpen && runPos + runLen == pos) runLen += n;
  else { closeRun(); runOpen = true; runPos = pos; runLen = n; }
  runNext = k + 1;
  p += n;
  litStart = p;
  valid = false;
  checked = false;
}

/**
 * Right after a match, the next windows most likely hold the next blocks of the basis. With MD4, check
 * up to eight of them at once (MD4_BATCH when the host hashes them: a call costs more than eight blocks'
 * hashing there): weak sums first, then the SIMD MD4 over the candidates. This makes the same choices as
 * the one-window path (which also tries the continuing block first), only faster.
 */
function matchAhead(): void {
  const bl = blockLen;
  const lanes = md4LanesOn();
  while (evCount <= EV_CAP - 3) {
    const avail = (end - p) / bl;
    if (avail < 4) return;
    let g = lanes ? (avail < <i32>MD4_BATCH ? avail : <i32>MD4_BATCH) : avail >= 8 ? 8 : 4;
    if (lanes && runNext + g > nBlocks) g = nBlocks - runNext;
    if (g < 4 || runNext + g > nBlocks) return;
    let m = 0;
    while (m < g) {
      const w = buf + p + m * bl;
      const weak = rk ? rabinKarpBlock(w, bl) : rollsumBlock(w, bl);
      if (weak != recWeak(runNext + m)) break;
      m++;
    }
    if (m < 4) return;
    if (lanes) {
      g = m;
      md4Many(buf + p, bl, g, DIGESTS);
    } else {
      if (m < 8) g = 4;
      if (g == 8) md4x8(buf + p, bl, DIGESTS);
      else md4x4(buf + p, bl, DIGESTS);
    }
    for (let j = 0; j < g; j++) {
      if (!strongEqual(runNext, DIGESTS + (j << 4))) return;
      onMatch(runNext);
    }
  }
}

@inline function literalByte(): void {
  if (runOpen) closeRun();
}

/**
 * Scans the buffer up to `newEnd` (JavaScript has written input there). With `final`, the input ends at
 * newEnd: the window shrinks over the tail, then everything is flushed. Returns 1 when the event list
 * is full (drain it and call again), 0 when more input is needed or the input is done.
 */
export function deltaScan(newEnd: i32, final: bool): i32 {
  end = newEnd;
  evCount = 0;
  sigLen = 0;
  if (nBlocks == 0) {
    // Nothing can match: everything is literal.
    p = end;
    flushLiteral();
    if (sigOn) sigCatchUp(absBase + <i64>p, final);
    return 0;
  }
  const bl = blockLen;
  while (evCount <= EV_CAP - 3) {
    if (n == bl && p + bl > end) break; // need more input (or the tail, below)
    if (runOpen && !valid && !blake) {
      matchAhead();
      if (evCount > EV_CAP - 3 || p + bl > end) continue;
    }
    if (!valid) freshWeak();
    if (!checked) {
      checked = true;
      const k = lookup(currentWeak());
      if (k >= 0) { onMatch(k); continue; }
    }
    if (p + n >= end) break; // the next byte in is not here yet
    // No match at p: roll one byte, checking only the bit filter until something might match.
    literalByte();
    const fShift = 32 - filterBits;
    if (rk) {
      let h = rkh;
      const m = rkm;
      while (true) {
        const out = <u32>load<u8>(buf + p);
        const inb = <u32>load<u8>(buf + p + n);
        h = h * RK_MULT + inb - m * (out + RK_ADJ);
        p++;
        const f = mix(h) >>> fShift;
        if ((load<u8>(filter + (f >> 3)) & (1 << (f & 7))) != 0) break;
        if (p + n >= end) break;
      }
      rkh = h;
    } else {
      let a = s1, b = s2;
      const nn = <u32>n;
      while (true) {
        const out = <u32>load<u8>(buf + p) + 31;
        const inb = <u32>load<u8>(buf + p + n) + 31;
        a = a + inb - out;
        b = b + a - nn * out;
        p++;
        const f = mix((b << 16) | (a & 0xffff)) >>> fShift;
        if ((load<u8>(filter + (f >> 3)) & (1 << (f & 7))) != 0) break;
        if (p + n >= end) break;
      }
      s1 = a; s2 = b;
    }
    checked = false;
  }
  if (evCount > EV_CAP - 3) { flushLiteral(); return 1; }
  if (!final) {
    flushLiteral();
    if (sigOn) sigCatchUp(absBase + <i64>p, false);
    return 0;
  }
  // Tail: the window [p, end) shrinks from the left; only a block ending exactly at EOF can match it.
  if (p + n > end || !valid) {
    n = end - p;
    if (n > 0) freshWeak();
  }
  while (n > 0 && evCount <= EV_CAP - 3) {
    if (!checked) {
      checked = true;
      const k = lookup(currentWeak());
      if (k >= 0) { onMatch(k); n = 0; break; }
    }
    literalByte();
    const out = <u32>load<u8>(buf + p);
    if (rk) { rkm = rkm * RK_INVM; rkh -= rkm * (out + RK_ADJ); }
    else { s1 -= out + 31; s2 -= (<u32>n) * (out + 31); }
    p++;
    n--;
    checked = false;
  }
  if (n > 0) { flushLiteral(); return 1; }
  flushLiteral();
  closeRun();
  if (sigOn) sigCatchUp(0, true);
  return 0;
}

/** Drops the first `k` buffer bytes (JavaScript moves the rest down). */
export function deltaShift(k: i32): void {
  p -= k; end -= k; litStart -= k;
  absBase += <i64>k;
  constStart -= k; constEnd -= k;
  if (constStart < 0) { constByte = -1; constStart = 0; constEnd = 0; }
}

/**
 * 0 buffer, 1 window start, 2 data end, 3 events, 4 event count, 5 buffer capacity, 6 bytes JavaScript
 * may drop from the buffer start, 7 signature records of the last call, 8 their length in bytes.
 */
export function deltaState(i: i32): usize {
  switch (i) {
    case 0: return buf;
    case 1: return <usize>p;
    case 2: return <usize>end;
    case 3: return ev;
    case 4: return <usize>evCount;
    case 5: return <usize>cap;
    case 6: return sigOn && sigNext - absBase < <i64>p ? <usize>(sigNext - absBase) : <usize>p;
    case 7: return sigOut;
    case 8: return <usize>sigLen;
  }
  return 0;
}
