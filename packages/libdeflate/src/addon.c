/*
 * N-API binding of the system libdeflate: whole-buffer gzip members compressed on the libuv thread
 * pool; grown into the home of every hot native path: OpenPGP deflate segments, the restore's streaming
 * inflater (zlib, ISA-L), and an encrypted backup's CFB, MDC and signature hash on the pool (node's own
 * OpenSSL). index.ts is its only caller and holds the why; this file holds the how.
 *
 *   gzipBound(n)                 worst-case size of a member holding n bytes (any level)
 *   gzipInto(in, out, level)     Promise<number>: the members' length in `out`, 0 if they did not fit
 *                                (one member, or several around incompressible runs: see gzip_runs)
 *   gunzipInto(in, out[, fill])  Promise<[status, consumed, produced]>: inflates the first gzip
 *                                member of `in` into `out` (status: libdeflate_result, 0 = success),
 *                                and the next ones while less than `fill` bytes came out (ISA-L
 *                                inflates them where built in: inflate_member)
 *   keepFreedMemory()            true once glibc malloc keeps freed large blocks for reuse
 *                                (mallopt; index.ts says why), false where malloc is not glibc's
 *   deflateSegmentBound(n), deflateSegmentInto(in, out, level), adler32(data, adler)
 *                                OpenPGP deflate segments (backup side; see their block below)
 *   inflaterOpen/Push/Close, inflaterEngine()
 *                                the synchronous streaming inflater (restore side; its block below)
 *   sealerOpen(cipher, key), sealInto(sealer, data, mdcAt)
 *                                OpenPGP SEIPD encryption and MDC on the pool (backup side; its block)
 *   digestOpen(name), digestUpdate(digest, data), digestFinal(digest)
 *                                a digest updated on the pool (the signature's hash; its block)
 *   openerOpen(cipher, key), openInto(opener, data), openerEnd(opener)
 *                                OpenPGP SEIPD decryption and MDC on the pool (restore side; its block)
 *
 * Plain node_api.h rather than node-addon-api: a handful of functions do not justify a dependency,
 * and the C API is ABI-stable across Node versions.
 *
 * libdeflate compressors (and decompressors) are not thread-safe and cost a few hundred KiB to set
 * up, so each pool thread keeps its own in thread-local storage and reuses it for every job (at the
 * same level). Pool threads live as long as the process, so those are never freed.
 *
 * The input and output buffers are held by references while the job runs, so the caller cannot
 * lose them to the garbage collector; the caller must not write to either until the promise settles.
 */
#include <libdeflate.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#ifdef HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

/* A job's buffers (held by references while it runs) and level: its (input, output[, level]) arguments. */
typedef struct {
  uint8_t *in;
  size_t in_len;
  uint8_t *out;
  size_t out_len;
  int32_t level;
} job_io_t;

/* What every pool job holds: its work and promise, the references keeping its buffers, the buffers, the result. */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref in_ref;
  napi_ref out_ref;
  job_io_t io;
  size_t result;
} job_head_t;

typedef struct {
  job_head_t head;
  int inflate; /* else deflate */
  /* inflate only */
  enum libdeflate_result status;
  size_t consumed;
  int no_memory;
} job_t;

static _Thread_local struct libdeflate_compressor *tl_compressor;
static _Thread_local int tl_level = -1;
static _Thread_local struct libdeflate_decompressor *tl_decompressor;
#ifdef HAVE_ISAL
static _Thread_local struct inflate_state *tl_isal;
#endif

#define CHECK(env, call)                                                                          \
  do {                                                                                            \
    if ((call) != napi_ok) {                                                                      \
      napi_throw_error((env), NULL, "libdeflate addon: " #call " failed");                        \
      return NULL;                                                                                \
    }                                                                                             \
  } while (0)

/*
 * Incompressible runs inside a gzip block. A block mixing text with small random-looking files (compressed
 * images, archives, encrypted files) cost libdeflate as much per byte on those files as on the text, for
 * nothing; the JS side stores a block only when the whole of it looks random. So the block is looked at in
 * 4 KiB windows: runs of two or more random-looking windows become stored gzip members, the parts between them
 * are deflated as members of their own (gzip readers read concatenated members as one stream). A block without
 * such runs is the single member it always was.
 */
#define RUN_WINDOW 4096
#define RUN_MIN_WINDOWS 2
#define RUN_MAX 64
#define STORED_MAX 65535

/*
 * Whether a window looks random: about half its bytes have the high bit set (text has few), and its byte
 * histogram is nearly flat: the sum of squared counts of 4096 uniform bytes is 4096 + 4096^2/256 = 69632 on
 * average (standard deviation ~2150; the bound is 5.7 of those above), text's is several times that.
 */
static int window_random(const uint8_t *p) {
  /* The high bits counted eight bytes at a time (each byte's high bit moved to its low bit and summed per byte
   * lane, 128 words at a time so no lane passes 128, then the lanes added pairwise into 16-bit lanes and those
   * by one multiply): every window of every block passes here, and a byte loop took 3.5 % of an encrypted full
   * backup's CPU. */
  const uint64_t lows = 0x0101010101010101u;
  size_t high = 0;
  for (size_t at = 0; at < RUN_WINDOW; at += 128 * 8) {
    uint64_t lanes = 0;
    for (size_t i = 0; i < 128 * 8; i += 8) {
      uint64_t w;
      memcpy(&w, p + at + i, 8);
      lanes += (w >> 7) & lows;
    }
    const uint64_t pairs = (lanes & 0x00ff00ff00ff00ffu) + ((lanes >> 8) & 0x00ff00ff00ff00ffu);
    high += (size_t)((pairs * 0x0001000100010001u) >> 48);
  }
  if (high * 10 < RUN_WINDOW * 4 || high * 10 > RUN_WINDOW * 6) return 0;
  uint32_t counts[256] = {0};
  for (size_t i = 0; i < RUN_WINDOW; i++) counts[p[i]]++;
  uint64_t squares = 0;
  for (int b = 0; b < 256; b++) squares += (uint64_t)counts[b] * counts[b];
  return squares < 82000;
}

static void put_le32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

/* in[0..n) as stored deflate blocks, the last one `final` or not: the bytes written, 0 if they do not fit. */
static size_t stored_blocks(const uint8_t *in, size_t n, uint8_t *out, size_t cap, int final) {
  size_t blocks = n == 0 ? 1 : (n + STORED_MAX - 1) / STORED_MAX;
  if (blocks * 5 + n > cap) return 0;
  size_t o = 0;
  for (size_t at = 0, b = 0; b < blocks; b++) {
    size_t len = n - at < STORED_MAX ? n - at : STORED_MAX;
    out[o++] = final && b == blocks - 1;
    out[o++] = (uint8_t)len;
    out[o++] = (uint8_t)(len >> 8);
    out[o++] = (uint8_t)~len;
    out[o++] = (uint8_t)(~len >> 8);
    memcpy(out + o, in + at, len);
    o += len;
    at += len;
  }
  return o;
}

/* A gzip member holding `in` in stored deflate blocks, written as zlib writes one at level 0; 0 if it does not fit. */
static size_t stored_member(const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
  static const uint8_t header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 3};
  if (cap < 18) return 0;
  size_t m = stored_blocks(in, n, out + 10, cap - 18, 1);
  if (m == 0) return 0;
  memcpy(out, header, 10);
  put_le32(out + 10 + m, libdeflate_crc32(0, in, n));
  put_le32(out + 10 + m + 4, (uint32_t)n);
  return 10 + m + 8;
}

/*
 * The random-looking runs of in[0..n) as [start, end) pairs in `runs` (RUN_MAX of them at most); their count,
 * or -1 when there are more (their overhead and the deflate restarts would cost more than they save).
 */
static int random_runs(const uint8_t *in, size_t n, size_t runs[2 * RUN_MAX]) {
  int count = 0;
  for (size_t w = 0; w + RUN_WINDOW <= n;) {
    if (!window_random(in + w)) {
      w += RUN_WINDOW;
      continue;
    }
    size_t start = w;
    while (w + RUN_WINDOW <= n && window_random(in + w)) w += RUN_WINDOW;
    if (w - start < RUN_MIN_WINDOWS * RUN_WINDOW) continue;
    if (count == RUN_MAX) return -1;
    runs[2 * count] = start;
    runs[2 * count + 1] = w;
    count++;
  }
  return count;
}

/* How one kind of output writes a part to deflate and a run to store: the bytes written, 0 if they do not fit. */
typedef struct {
  size_t (*deflated)(void *ctx, const uint8_t *in, size_t n, uint8_t *out, size_t cap);
  size_t (*stored)(const uint8_t *in, size_t n, uint8_t *out, size_t cap);
  void *ctx;
} run_writer_t;

/*
 * in[0..n) with its random-looking runs stored and the parts between them deflated, in `out`: the bytes written,
 * or 0 when it has no such runs or something did not fit (the caller then deflates it whole).
 */
static size_t write_runs(const run_writer_t *w, const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
  size_t runs[2 * RUN_MAX];
  int count = random_runs(in, n, runs);
  if (count <= 0) return 0;
  size_t o = 0;
  size_t at = 0;
  for (int i = 0; i <= count; i++) {
    size_t end = i < count ? runs[2 * i] : n;
    if (end > at) {
      size_t m = w->deflated(w->ctx, in + at, end - at, out + o, cap - o);
      if (m == 0) return 0;
      o += m;
    }
    if (i == count) break;
    size_t m = w->stored(in + end, runs[2 * i + 1] - end, out + o, cap - o);
    if (m == 0) return 0;
    o += m;
    at = runs[2 * i + 1];
  }
  return o;
}

static size_t gzip_member(void *compressor, const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
  return libdeflate_gzip_compress(compressor, in, n, out, cap);
}

/* `in` as gzip members (see above) in `out`; 0 if they do not fit. */
static size_t gzip_runs(struct libdeflate_compressor *c, const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
  const run_writer_t members = {gzip_member, stored_member, c};
  size_t m = write_runs(&members, in, n, out, cap);
  return m ? m : libdeflate_gzip_compress(c, in, n, out, cap);
}

/*
 * One whole gzip member at the start of in[0..n) into out[0..cap), as libdeflate_gzip_decompress_ex does it
 * (CRC and size checked; a member cut short or too big for `out` fails). ISA-L where it is built in: it
 * inflates the volumes' text members 15-25 % faster than libdeflate here (docs/PERFORMANCE.md).
 */
static enum libdeflate_result inflate_member(const uint8_t *in, size_t n, uint8_t *out, size_t cap, size_t *consumed, size_t *produced) {
#ifdef HAVE_ISAL
  if (tl_isal == NULL) tl_isal = malloc(sizeof *tl_isal);
  if (tl_isal != NULL && n <= UINT32_MAX && cap <= UINT32_MAX) {
    struct inflate_state *s = tl_isal;
    isal_inflate_init(s);
    s->crc_flag = ISAL_GZIP;
    s->next_in = (uint8_t *)in;
    s->avail_in = (uint32_t)n;
    s->next_out = out;
    s->avail_out = (uint32_t)cap;
    int ret = isal_inflate(s);
    if (ret != ISAL_DECOMP_OK || s->block_state != ISAL_BLOCK_FINISH) return s->avail_out == 0 ? LIBDEFLATE_INSUFFICIENT_SPACE : LIBDEFLATE_BAD_DATA;
    *consumed = n - s->avail_in;
    *produced = cap - s->avail_out;
    return LIBDEFLATE_SUCCESS;
  }
#endif
  return libdeflate_gzip_decompress_ex(tl_decompressor, in, n, out, cap, consumed, produced);
}

/* Runs on a pool thread: no JS here. */
static void execute(napi_env env, void *data) {
  (void)env;
  job_t *job = data;
  if (job->inflate) {
    if (tl_decompressor == NULL) tl_decompressor = libdeflate_alloc_decompressor();
    if (tl_decompressor == NULL) {
      job->no_memory = 1;
      return;
    }
    /*
     * The first member, then (gunzipInto's `fill`) the members after it while less than `fill` bytes came out:
     * a volume of small members (gzip_runs) costs one job per `fill` rather than one per member. A later member
     * that does not inflate ends the job with what came before; the next job starts with it and says why.
     */
    const job_io_t *io = &job->head.io;
    size_t in_at = 0;
    size_t out_at = 0;
    for (;;) {
      size_t consumed = 0;
      size_t produced = 0;
      enum libdeflate_result r = inflate_member(io->in + in_at, io->in_len - in_at, io->out + out_at, io->out_len - out_at, &consumed, &produced);
      if (r != LIBDEFLATE_SUCCESS) {
        if (in_at == 0) job->status = r;
        break;
      }
      job->status = LIBDEFLATE_SUCCESS;
      in_at += consumed;
      out_at += produced;
      if (out_at >= (size_t)io->level || in_at >= io->in_len) break;
    }
    job->consumed = in_at;
    job->head.result = out_at;
    return;
  }
  if (tl_compressor == NULL || tl_level != job->head.io.level) {
    libdeflate_free_compressor(tl_compressor);
    tl_compressor = libdeflate_alloc_compressor(job->head.io.level);
    tl_level = tl_compressor ? job->head.io.level : -1;
    if (tl_compressor == NULL) {
      job->no_memory = 1;
      return;
    }
  }
  job->head.result = job->head.io.level == 0
                        ? libdeflate_gzip_compress(tl_compressor, job->head.io.in, job->head.io.in_len, job->head.io.out, job->head.io.out_len)
                        : gzip_runs(tl_compressor, job->head.io.in, job->head.io.in_len, job->head.io.out, job->head.io.out_len);
}

/* Rejects `deferred` with an Error carrying `text`. */
static void reject_with(napi_env env, napi_deferred deferred, const char *text) {
  napi_value msg, err;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &err);
  napi_reject_deferred(env, deferred, err);
}

/* After a job settled: lets go of its buffers and its work, and frees it. */
static void end_work(napi_env env, void *job, job_head_t *head) {
  napi_delete_reference(env, head->in_ref);
  napi_delete_reference(env, head->out_ref);
  napi_delete_async_work(env, head->work);
  free(job);
}

/* Back on the main thread: settle the promise and let go of the buffers. */
static void complete(napi_env env, napi_status status, void *data) {
  job_t *job = data;
  napi_value value;
  if (status != napi_ok) {
    reject_with(env, job->head.deferred, "libdeflate: job was cancelled");
  } else if (job->no_memory) {
    reject_with(env, job->head.deferred, "libdeflate: cannot allocate a (de)compressor");
  } else if (job->inflate) {
    napi_value v;
    napi_create_array_with_length(env, 3, &value);
    napi_create_int32(env, (int32_t)job->status, &v);
    napi_set_element(env, value, 0, v);
    napi_create_double(env, job->status == LIBDEFLATE_SUCCESS ? (double)job->consumed : 0, &v);
    napi_set_element(env, value, 1, v);
    napi_create_double(env, job->status == LIBDEFLATE_SUCCESS ? (double)job->head.result : 0, &v);
    napi_set_element(env, value, 2, v);
    napi_resolve_deferred(env, job->head.deferred, value);
  } else {
    napi_create_double(env, (double)job->head.result, &value);
    napi_resolve_deferred(env, job->head.deferred, value);
  }
  end_work(env, job, &job->head);
}

/* The bytes of a Uint8Array (Buffer included), or NULL with a TypeError pending. */
static int bytes_of(napi_env env, napi_value v, void **data, size_t *len) {
  bool is_typed = false;
  napi_typedarray_type type;
  if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, v, &type, len, data, NULL, NULL) != napi_ok || type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "libdeflate: expected a Uint8Array");
    return 0;
  }
  return 1;
}

/* The (input, output[, level]) arguments of a job; false with a JS error pending. */
typedef struct {
  napi_value in_v, out_v;
  job_io_t io;
} io_args_t;

static bool io_args(napi_env env, napi_callback_info info, bool with_level, const char *usage, io_args_t *a) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
    napi_throw_error(env, NULL, "libdeflate addon: napi_get_cb_info failed");
    return false;
  }
  if (argc < (with_level ? 3u : 2u)) {
    napi_throw_type_error(env, NULL, usage);
    return false;
  }
  a->io.level = 0;
  if (with_level && (napi_get_value_int32(env, argv[2], &a->io.level) != napi_ok || a->io.level < 0 || a->io.level > 12)) {
    napi_throw_range_error(env, NULL, "libdeflate: level must be an integer from 0 to 12");
    return false;
  }
  /* Inflating, the optional third argument is gunzipInto's `fill` (kept in `level`). */
  if (!with_level && argc >= 3 && (napi_get_value_int32(env, argv[2], &a->io.level) != napi_ok || a->io.level < 0)) {
    napi_throw_range_error(env, NULL, "libdeflate: fill must be a byte count");
    return false;
  }
  a->in_v = argv[0];
  a->out_v = argv[1];
  void *in, *out;
  if (!bytes_of(env, argv[0], &in, &a->io.in_len) || !bytes_of(env, argv[1], &out, &a->io.out_len)) return false;
  a->io.in = in;
  a->io.out = out;
  return true;
}

/* A zeroed job struct of `size` bytes, or NULL with a JS error pending. */
static void *new_job(napi_env env, size_t size) {
  void *job = calloc(1, size);
  if (job == NULL) napi_throw_error(env, NULL, "libdeflate: out of memory");
  return job;
}

/*
 * Queues a job on the pool: holds the input and output buffers (`in`, `out`) by references for its
 * run and returns its promise. The job's struct begins with `head`, which keeps the handles. On
 * failure (only when N-API itself fails, out of memory) frees the job and throws; the references
 * made so far leak with it.
 */
static napi_value queue_work(napi_env env, napi_value in, napi_value out, void *job, job_head_t *head, const char *name,
                             napi_async_execute_callback execute_cb, napi_async_complete_callback complete_cb) {
  napi_value promise, resource;
  if (napi_create_reference(env, in, 1, &head->in_ref) != napi_ok ||
      napi_create_reference(env, out, 1, &head->out_ref) != napi_ok ||
      napi_create_promise(env, &head->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource) != napi_ok ||
      napi_create_async_work(env, NULL, resource, execute_cb, complete_cb, job, &head->work) != napi_ok ||
      napi_queue_async_work(env, head->work) != napi_ok) {
    free(job);
    napi_throw_error(env, NULL, "libdeflate: cannot queue the job");
    return NULL;
  }
  return promise;
}

/*
 * gzipInto(input, output, level) and gunzipInto(input, output): queues the job and returns its
 * promise, or NULL with a JS error pending.
 */
static napi_value queue_job(napi_env env, napi_callback_info info, int inflate) {
  io_args_t a;
  if (!io_args(env, info, !inflate, inflate ? "libdeflate: gunzipInto(input, output[, fill])" : "libdeflate: gzipInto(input, output, level)", &a)) return NULL;
  job_t *job = new_job(env, sizeof *job);
  if (job == NULL) return NULL;
  job->head.io = a.io;
  job->inflate = inflate;
  return queue_work(env, a.in_v, a.out_v, job, &job->head,
                    inflate ? "libdeflate.gunzip" : "libdeflate.gzip", execute, complete);
}

static napi_value gzip_into(napi_env env, napi_callback_info info) {
  return queue_job(env, info, 0);
}

static napi_value gunzip_into(napi_env env, napi_callback_info info) {
  return queue_job(env, info, 1);
}

static napi_value gzip_bound(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  double n;
  if (argc < 1 || napi_get_value_double(env, argv[0], &n) != napi_ok || !(n >= 0) || n > (double)SIZE_MAX) {
    napi_throw_range_error(env, NULL, "libdeflate: gzipBound(n) needs a byte count");
    return NULL;
  }
  napi_value result;
  /* NULL: the bound across every compressor (any level) this libdeflate can make. */
  CHECK(env, napi_create_double(env, (double)libdeflate_gzip_compress_bound(NULL, (size_t)n), &result));
  return result;
}

static napi_value keep_freed_memory(napi_env env, napi_callback_info info) {
  (void)info;
  bool done = false;
#ifdef __GLIBC__
  /* Blocks up to 32 MiB (the largest mmap threshold glibc accepts on 64-bit) come from the heap
   * rather than a mmap of their own, and the heap top goes back to the kernel only past 1 GiB free. */
  done = mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024) == 1 && mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024) == 1;
#endif
  napi_value result;
  CHECK(env, napi_get_boolean(env, done, &result));
  return result;
}

/* ===================================================================================================
 * OpenPGP deflate segments (packages/pgp/src/parallel-deflate.ts)
 *
 *   deflateSegmentBound(n)                 bytes `output` needs for a segment of n input bytes
 *   deflateSegmentInto(in, out, level)     Promise<number>: the segment's length in `out`, 0 if it
 *                                          did not fit; rejects if it does not inflate back to `in`
 *   adler32(data, adler)                   zlib's Adler-32 of `data` continued from `adler` (1 to start)
 *
 * An OpenPGP Compressed packet is one deflate stream; parallel-deflate.ts cuts it into segments
 * compressed side by side, each of which must end byte-aligned on a non-final block (what zlib's
 * sync flush writes) so that they can be concatenated. libdeflate writes whole streams only: its
 * last block is final and may end mid-byte. So, as zlib's examples/gzjoin.c does to join gzip
 * streams, the job runs zlib's inflate() over libdeflate's output with Z_BLOCK, which stops at every
 * block boundary and tells the bit position there (data_type: unused bits of the last byte taken,
 * 64 = in the last block, 128 = at a boundary). Knowing where the last block's header starts, the
 * job clears its BFINAL bit, then appends an empty stored block (3 zero header bits, zero padding to
 * the byte, LEN 0000, NLEN FFFF), exactly the tail of a sync flush. The inflate pass also compares
 * what it decodes with the input, so every segment written is proven to decode to its input.
 *
 * No preset dictionary (libdeflate has none): each segment starts from an empty window, which costs
 * a little ratio at 1 MiB segments (measured in docs/PERFORMANCE.md).
 *
 * Random-looking runs inside a segment (random_runs, as for gzip blocks) are written as stored blocks,
 * none final, and the parts between them are deflated as above one by one; a stored block of data ends
 * byte-aligned and non-final as well, so the segment still concatenates.
 *
 * Per pool thread: a compressor (at the last level asked), an inflate stream and a scratch buffer for
 * what it decodes, all kept for the life of the process like the gzip compressors above.
 * =================================================================================================== */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

/* LEN 0, NLEN 0xFFFF of the empty stored block ending a segment, after its header and padding. */
#define SEGMENT_TAIL_MAX 5
#define SEGMENT_SCRATCH (256 * 1024)

typedef struct {
  job_head_t head;
  int isal;          /* ISA-L's deflate (isalSegmentInto), else libdeflate's */
  const char *error; /* set when the job failed; a static message */
} segment_job_t;

static _Thread_local struct libdeflate_compressor *tl_segment_compressor;
static _Thread_local int tl_segment_level = -1;
static _Thread_local z_stream *tl_segment_inflater;
static _Thread_local uint8_t *tl_segment_scratch;

/*
 * Walks the raw deflate stream out[0..n) with inflate(Z_BLOCK), checking that it decodes to exactly
 * in[0..in_len) and ends at n. Gives the bit offset of the last block's header and the unused
 * (padding) bits of the last byte. Returns NULL on success, else why not.
 */
static const char *segment_walk(z_stream *z, uint8_t *scratch, const uint8_t *out, size_t n,
                                const uint8_t *in, size_t in_len, size_t *last_header, int *padding) {
  if (n > UINT_MAX) return "segment output too large for zlib";
  if (inflateReset(z) != Z_OK) return "inflateReset failed";
  z->next_in = (Bytef *)out;
  z->avail_in = (uInt)n;
  size_t produced = 0;
  int saw_final_end = 0;
  *last_header = 0; /* raw deflate: the first header is at bit 0, where inflate does not stop */
  for (;;) {
    z->next_out = scratch;
    z->avail_out = SEGMENT_SCRATCH;
    int ret = inflate(z, Z_BLOCK);
    size_t got = SEGMENT_SCRATCH - z->avail_out;
    if (ret != Z_OK && ret != Z_STREAM_END) return "libdeflate's output does not inflate";
    if (got > in_len - produced || memcmp(scratch, in + produced, got) != 0)
      return "libdeflate's output inflates to other bytes than its input";
    produced += got;
    if (ret == Z_STREAM_END) break;
    if (z->data_type & 128) {
      size_t bit = (n - z->avail_in) * 8 - (size_t)(z->data_type & 7);
      if (z->data_type & 64) {
        /* The end of the final block: the rest of this byte is padding. (At Z_STREAM_END inflate
         * has already dropped those bits, so they are read here.) */
        saw_final_end = 1;
        *padding = z->data_type & 7;
      } else {
        *last_header = bit;
      }
    } else if (got == 0) {
      return "inflate made no progress on libdeflate's output";
    }
  }
  if (!saw_final_end || z->avail_in != 0 || produced != in_len)
    return "libdeflate's output does not end where its stream does";
  return NULL;
}

/*
 * in[0..n) deflated by libdeflate into out, made non-final and byte-aligned: the bytes written, 0 if they do not
 * fit, or 0 with `error` set.
 */
static size_t deflated_part(const uint8_t *in, size_t in_len, uint8_t *out, size_t cap, const char **error) {
  if (cap < SEGMENT_TAIL_MAX) return 0;
  size_t n = libdeflate_deflate_compress(tl_segment_compressor, in, in_len, out, cap - SEGMENT_TAIL_MAX);
  if (n == 0) return 0;
  size_t last_header;
  int padding = 0;
  *error = segment_walk(tl_segment_inflater, tl_segment_scratch, out, n, in, in_len, &last_header, &padding);
  if (*error) return 0;
  /* BFINAL is the first bit of a block header; deflate packs bits from the least significant. */
  out[last_header >> 3] &= (uint8_t) ~(1u << (last_header & 7));
  /* An empty stored block, not final: its 3 header bits are zero, so they fit in the last byte's
   * padding (zeroed here) when there are 3 or more, else they take one more zero byte; the rest of
   * that byte is padding, then LEN and NLEN. */
  if (padding) out[n - 1] &= (uint8_t)((1u << (8 - padding)) - 1);
  if (padding < 3) out[n++] = 0x00;
  out[n++] = 0x00;
  out[n++] = 0x00;
  out[n++] = 0xff;
  out[n++] = 0xff;
  return n;
}

/* deflated_part for write_runs: `error` is where its failure goes (a failure also ends write_runs, returning 0). */
static size_t segment_part(void *error, const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
  return deflated_part(in, n, out, cap, (const char **)error);
}

static size_t open_stored_blocks(const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
  return stored_blocks(in, n, out, cap, 0);
}

#ifdef HAVE_ISAL
/*
 * ISA-L's deflate for segments (isalSegmentInto). Its SYNC_FLUSH ends the output exactly as a segment must:
 * every block non-final, then an empty stored block, byte-aligned. So no inflate pass is needed to find and
 * clear a final bit, and none is run: like the gzip volumes' libdeflate members, the output is trusted to the
 * library (the tests inflate it with zlib and with gpg).
 *
 * Level 3 with the SMALL level buffer (index.ts and parallel-deflate.ts say why that level), levels 0-2 for
 * the tests; the buffer (~260 KiB) is per pool thread, kept like the compressors above.
 */
#define ISAL_LEVEL_BUF_MAX (ISAL_DEF_LVL3_SMALL > ISAL_DEF_LVL2_SMALL ? ISAL_DEF_LVL3_SMALL : ISAL_DEF_LVL2_SMALL)
static _Thread_local struct isal_zstream *tl_isal_deflater;
static _Thread_local uint8_t *tl_isal_level_buf;

/* in[0..n) as ISA-L blocks ending in a sync flush: the bytes written, 0 if they do not fit. */
static size_t isal_part(void *level, const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
  static const uint32_t level_buf_size[4] = {ISAL_DEF_LVL0_SMALL, ISAL_DEF_LVL1_SMALL, ISAL_DEF_LVL2_SMALL, ISAL_DEF_LVL3_SMALL};
  int32_t l = *(const int32_t *)level;
  if (n > UINT32_MAX || cap > UINT32_MAX) return 0;
  struct isal_zstream *s = tl_isal_deflater;
  isal_deflate_init(s);
  s->level = (uint32_t)l;
  s->level_buf = l ? tl_isal_level_buf : NULL;
  s->level_buf_size = level_buf_size[l];
  s->end_of_stream = 0;
  s->flush = SYNC_FLUSH;
  s->next_in = (uint8_t *)in;
  s->avail_in = (uint32_t)n;
  s->next_out = out;
  s->avail_out = (uint32_t)cap;
  /* Everything is out only when all input was taken and the stream is between blocks with output room left
   * (igzip_lib.h: a full output buffer may hold back the flush). */
  if (isal_deflate(s) != COMP_OK || s->avail_in != 0 || s->avail_out == 0 || s->internal_state.state != ZSTATE_NEW_HDR) return 0;
  return cap - s->avail_out;
}

/* isal_part, or stored blocks where its output would not fit (never past deflateSegmentBound for a whole segment). */
static size_t isal_or_stored(void *level, const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
  size_t m = isal_part(level, in, n, out, cap);
  return m ? m : stored_blocks(in, n, out, cap, 0);
}

/* Runs on a pool thread: no JS here. */
static void isal_segment_execute(napi_env env, void *data) {
  (void)env;
  segment_job_t *job = data;
  if (tl_isal_deflater == NULL) tl_isal_deflater = malloc(sizeof *tl_isal_deflater);
  if (tl_isal_level_buf == NULL) tl_isal_level_buf = malloc(ISAL_LEVEL_BUF_MAX);
  if (tl_isal_deflater == NULL || tl_isal_level_buf == NULL) {
    job->error = "cannot allocate a compressor";
    return;
  }
  const job_io_t *io = &job->head.io;
  const run_writer_t parts = {isal_or_stored, open_stored_blocks, (void *)&io->level};
  size_t m = write_runs(&parts, io->in, io->in_len, io->out, io->out_len);
  job->head.result = m ? m : isal_or_stored((void *)&io->level, io->in, io->in_len, io->out, io->out_len);
}
#endif

/* Runs on a pool thread: no JS here. */
static void segment_execute(napi_env env, void *data) {
  (void)env;
  segment_job_t *job = data;
  if (tl_segment_compressor == NULL || tl_segment_level != job->head.io.level) {
    libdeflate_free_compressor(tl_segment_compressor);
    tl_segment_compressor = libdeflate_alloc_compressor(job->head.io.level);
    tl_segment_level = tl_segment_compressor ? job->head.io.level : -1;
  }
  if (tl_segment_scratch == NULL) tl_segment_scratch = malloc(SEGMENT_SCRATCH);
  if (tl_segment_inflater == NULL) {
    z_stream *z = calloc(1, sizeof *z);
    if (z != NULL && inflateInit2(z, -15) != Z_OK) {
      free(z);
      z = NULL;
    }
    tl_segment_inflater = z;
  }
  if (tl_segment_compressor == NULL || tl_segment_scratch == NULL || tl_segment_inflater == NULL) {
    job->error = "cannot allocate a compressor or inflater";
    return;
  }
  const job_io_t *io = &job->head.io;
  /* Random-looking runs as stored blocks, none final, the rest deflated part by part (see gzip_runs). */
  const run_writer_t parts = {segment_part, open_stored_blocks, (void *)&job->error};
  size_t m = write_runs(&parts, io->in, io->in_len, io->out, io->out_len);
  if (job->error) return;
  /* No runs, or the parts did not fit: the segment deflated whole. */
  job->head.result = m ? m : deflated_part(io->in, io->in_len, io->out, io->out_len, &job->error);
}

static void segment_complete(napi_env env, napi_status status, void *data) {
  segment_job_t *job = data;
  napi_value value;
  if (status != napi_ok || job->error) {
    char text[160];
    snprintf(text, sizeof text, "%s deflate segment: %s", job->isal ? "ISA-L" : "libdeflate",
             status != napi_ok ? "job was cancelled" : job->error);
    reject_with(env, job->head.deferred, text);
  } else {
    napi_create_double(env, (double)job->head.result, &value);
    napi_resolve_deferred(env, job->head.deferred, value);
  }
  end_work(env, job, &job->head);
}

static napi_value deflate_segment_into(napi_env env, napi_callback_info info) {
  io_args_t a;
  if (!io_args(env, info, true, "libdeflate: deflateSegmentInto(input, output, level)", &a)) return NULL;
  segment_job_t *job = new_job(env, sizeof *job);
  if (job == NULL) return NULL;
  job->head.io = a.io;
  return queue_work(env, a.in_v, a.out_v, job, &job->head,
                    "libdeflate.deflateSegment", segment_execute, segment_complete);
}

#ifdef HAVE_ISAL
static napi_value isal_segment_into(napi_env env, napi_callback_info info) {
  io_args_t a;
  if (!io_args(env, info, true, "libdeflate: isalSegmentInto(input, output, level)", &a)) return NULL;
  if (a.io.level > ISAL_DEF_MAX_LEVEL) {
    napi_throw_range_error(env, NULL, "libdeflate: ISA-L's level must be an integer from 0 to 3");
    return NULL;
  }
  segment_job_t *job = new_job(env, sizeof *job);
  if (job == NULL) return NULL;
  job->head.io = a.io;
  job->isal = 1;
  return queue_work(env, a.in_v, a.out_v, job, &job->head,
                    "isal.deflateSegment", isal_segment_execute, segment_complete);
}
#endif

static napi_value deflate_segment_bound(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  double n;
  if (argc < 1 || napi_get_value_double(env, argv[0], &n) != napi_ok || !(n >= 0) || n > (double)SIZE_MAX / 2) {
    napi_throw_range_error(env, NULL, "libdeflate: deflateSegmentBound(n) needs a byte count");
    return NULL;
  }
  napi_value result;
  CHECK(env, napi_create_double(env, (double)(libdeflate_deflate_compress_bound(NULL, (size_t)n) + SEGMENT_TAIL_MAX), &result));
  return result;
}

/* Synchronous: zlib's Adler-32 runs at several GB/s, a JS loop at about 1.3 GB/s here. */
static napi_value adler32_of(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t start = 1;
  void *data;
  size_t len;
  if (argc < 2 || !bytes_of(env, argv[0], &data, &len)) {
    if (argc < 2) napi_throw_type_error(env, NULL, "libdeflate: adler32(data, adler)");
    return NULL;
  }
  if (napi_get_value_uint32(env, argv[1], &start) != napi_ok) {
    napi_throw_type_error(env, NULL, "libdeflate: adler32's running value must be a uint32");
    return NULL;
  }
  napi_value result;
  CHECK(env, napi_create_uint32(env, (uint32_t)adler32_z(start, data, len), &result));
  return result;
}
/* ============================== end of OpenPGP deflate segments ============================== */
/* ==== Streaming inflater (restore side) ===========================================================
 *
 *   inflaterOpen(format, engine)       a handle: format 0 raw deflate, 1 zlib (RFC 1950), 2 gzip
 *                                      (members one after another); engine 0 the fastest built in
 *                                      (ISA-L when compiled with it), 1 zlib
 *   inflaterPush(h, in, out, result)   synchronous: inflates from `in` into `out` until `in` is used
 *                                      up, `out` is full or the stream ends; result[0] = input bytes
 *                                      taken, result[1] = bytes written, result[2] = 1 at the end of
 *                                      the stream (gzip: between members); throws on bad data
 *   inflaterClose(h)                   frees the state now (the finalizer does it otherwise)
 *   inflaterEngine()                   "isa-l" or "zlib": what engine 0 is
 *
 * Synchronous on purpose: its caller is the restore's decode worker, a thread of its own, where
 * node:zlib's thread-pool round trips and fresh 64 KiB output chunks cost more JS and GC time than
 * the inflating. The caller owns both buffers and reuses them.
 *
 * What follows a stream's end matches node:zlib: after a raw or zlib stream anything is ignored;
 * after a gzip member, zero bytes are padding and end the file (the rest is ignored), anything else
 * must be another member ("incorrect header check" when it is not). Error messages are zlib's, and
 * ISA-L's error codes are given zlib's words, so users and tests see the same text either way.
 *
 * zlib's symbols come from node itself when loaded there (node exports them); -lz is for loading
 * elsewhere. ISA-L (libisal-dev) inflates 2-4x faster than zlib; the addon builds without it.
 */
enum { FMT_RAW = 0, FMT_ZLIB = 1, FMT_GZIP = 2 };
/* STREAMING: inside a stream; BETWEEN: a gzip member just ended; ENDED: nothing more is read. */
enum { ST_STREAMING, ST_BETWEEN, ST_ENDED };

typedef struct {
  int format;
  int use_isal;
  int state;
  int open; /* the engine's state is allocated */
  size_t member_in; /* gzip: input bytes of the current member taken so far */
  uint8_t first;    /* gzip: the current member's first byte */
  z_stream z;
#ifdef HAVE_ISAL
  struct inflate_state *isal;
#endif
} inflater_t;

static void inflater_free(inflater_t *f) {
  if (!f->open) return;
  f->open = 0;
#ifdef HAVE_ISAL
  if (f->use_isal) {
    free(f->isal);
    f->isal = NULL;
    return;
  }
#endif
  inflateEnd(&f->z);
}

static void inflater_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  inflater_free(data);
  free(data);
}

/* Starts (or restarts, for the next gzip member) the engine's stream; 0 when out of memory. */
static int inflater_start(inflater_t *f) {
#ifdef HAVE_ISAL
  if (f->use_isal) {
    if (f->isal == NULL && (f->isal = malloc(sizeof *f->isal)) == NULL) return 0;
    isal_inflate_init(f->isal);
    f->isal->crc_flag = f->format == FMT_RAW ? ISAL_DEFLATE : f->format == FMT_ZLIB ? ISAL_ZLIB : ISAL_GZIP;
    f->open = 1;
    return 1;
  }
#endif
  if (f->open) return inflateReset(&f->z) == Z_OK;
  memset(&f->z, 0, sizeof f->z);
  int bits = f->format == FMT_RAW ? -15 : f->format == FMT_ZLIB ? 15 : 16 + 15;
  if (inflateInit2(&f->z, bits) != Z_OK) return 0;
  f->open = 1;
  return 1;
}

static napi_value inflater_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t format = -1, engine = 0;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &format) != napi_ok || format < FMT_RAW || format > FMT_GZIP ||
      (argc > 1 && (napi_get_value_int32(env, argv[1], &engine) != napi_ok || engine < 0 || engine > 1))) {
    napi_throw_range_error(env, NULL, "inflater: inflaterOpen(format 0-2, engine 0-1)");
    return NULL;
  }
  inflater_t *f = calloc(1, sizeof *f);
  if (f == NULL) {
    napi_throw_error(env, NULL, "inflater: out of memory");
    return NULL;
  }
  f->format = format;
#ifdef HAVE_ISAL
  f->use_isal = engine == 0;
#endif
  if (!inflater_start(f)) {
    inflater_free(f);
    free(f);
    napi_throw_error(env, NULL, "inflater: cannot allocate the inflate state");
    return NULL;
  }
  napi_value handle;
  if (napi_create_external(env, f, inflater_finalize, NULL, &handle) != napi_ok) {
    inflater_free(f);
    free(f);
    napi_throw_error(env, NULL, "inflater: cannot create the handle");
    return NULL;
  }
  return handle;
}

static inflater_t *inflater_of(napi_env env, napi_value v) {
  void *data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, NULL, "inflater: expected an inflater handle");
    return NULL;
  }
  return data;
}

#ifdef HAVE_ISAL
/* zlib's words for ISA-L's errors (what node:zlib said before ISA-L, so messages stay the same). */
static const char *isal_message(int ret) {
  switch (ret) {
    case ISAL_INVALID_BLOCK: return "invalid block type";
    case ISAL_INVALID_SYMBOL: return "invalid code";
    case ISAL_INVALID_LOOKBACK: return "invalid distance too far back";
    case ISAL_INVALID_WRAPPER: return "incorrect header check";
    case ISAL_UNSUPPORTED_METHOD: return "unknown compression method";
    case ISAL_INCORRECT_CHECKSUM: return "incorrect data check";
    case ISAL_NEED_DICT: return "Missing dictionary";
    default: return "invalid compressed data";
  }
}
#endif

/*
 * One engine call on f's stream: *in_used and *out_used are advanced; returns 1 at the stream's (or
 * member's) end, 0 otherwise, -1 with a JS error pending.
 */
static int inflater_step(napi_env env, inflater_t *f, const uint8_t *in, size_t in_len, size_t *in_used, uint8_t *out,
                         size_t out_len, size_t *out_used) {
  /* Both engines count in 32 bits: larger buffers are taken in slices. */
  const size_t cap = (size_t)1 << 30;
  size_t avail_in = in_len - *in_used, avail_out = out_len - *out_used;
  if (avail_in > cap) avail_in = cap;
  if (avail_out > cap) avail_out = cap;
#ifdef HAVE_ISAL
  if (f->use_isal) {
    struct inflate_state *s = f->isal;
    s->next_in = (uint8_t *)in + *in_used;
    s->avail_in = (uint32_t)avail_in;
    s->next_out = out + *out_used;
    s->avail_out = (uint32_t)avail_out;
    int ret = isal_inflate(s);
    *in_used += avail_in - s->avail_in;
    *out_used += avail_out - s->avail_out;
    if (ret < 0 || ret == ISAL_NEED_DICT) {
      napi_throw_error(env, "Z_DATA_ERROR", isal_message(ret));
      return -1;
    }
    return s->block_state == ISAL_BLOCK_FINISH;
  }
#endif
  z_stream *z = &f->z;
  z->next_in = (Bytef *)in + *in_used;
  z->avail_in = (uInt)avail_in;
  z->next_out = out + *out_used;
  z->avail_out = (uInt)avail_out;
  int ret = inflate(z, Z_NO_FLUSH);
  *in_used += avail_in - z->avail_in;
  *out_used += avail_out - z->avail_out;
  if (ret == Z_STREAM_END) return 1;
  if (ret == Z_OK || ret == Z_BUF_ERROR) return 0; /* Z_BUF_ERROR: no progress possible, not an error */
  if (ret == Z_NEED_DICT) {
    napi_throw_error(env, "Z_NEED_DICT", "Missing dictionary");
  } else if (ret == Z_MEM_ERROR) {
    napi_throw_error(env, "Z_MEM_ERROR", "out of memory");
  } else {
    napi_throw_error(env, "Z_DATA_ERROR", z->msg ? z->msg : "invalid compressed data");
  }
  return -1;
}

static napi_value inflater_push(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) {
    napi_throw_type_error(env, NULL, "inflater: inflaterPush(handle, input, output, result)");
    return NULL;
  }
  inflater_t *f = inflater_of(env, argv[0]);
  if (f == NULL) return NULL;
  void *in, *out, *res;
  size_t in_len, out_len, res_len;
  napi_typedarray_type type;
  if (!bytes_of(env, argv[1], &in, &in_len) || !bytes_of(env, argv[2], &out, &out_len)) return NULL;
  if (napi_get_typedarray_info(env, argv[3], &type, &res_len, &res, NULL, NULL) != napi_ok || type != napi_float64_array ||
      res_len < 3) {
    napi_throw_type_error(env, NULL, "inflater: result must be a Float64Array of 3");
    return NULL;
  }
  if (!f->open) {
    napi_throw_error(env, NULL, "inflater: used after it was closed or failed");
    return NULL;
  }
  size_t in_used = 0, out_used = 0;
  for (;;) {
    if (f->state == ST_ENDED) {
      in_used = in_len; /* what follows the end is ignored, as node:zlib does */
      break;
    }
    if (f->state == ST_BETWEEN) {
      if (in_used == in_len) break;
      if (((const uint8_t *)in)[in_used] == 0) {
        f->state = ST_ENDED;
        continue;
      }
      if (!inflater_start(f)) {
        napi_throw_error(env, NULL, "inflater: cannot reset the inflate state");
        return NULL;
      }
      f->state = ST_STREAMING;
      f->member_in = 0;
    }
    if (f->format == FMT_GZIP && f->member_in < 2) {
      /* zlib rejects a wrong magic number once it has both bytes; ISA-L waits for a whole header,
       * so short junk after a member would read as a truncated one: check here, for both. */
      const uint8_t *p = (const uint8_t *)in + in_used;
      size_t avail = in_len - in_used;
      if (f->member_in == 0 && avail > 0) f->first = p[0];
      size_t second = 1 - f->member_in; /* where the second byte is in p */
      if (avail > second && (f->first != 0x1f || p[second] != 0x8b)) {
        inflater_free(f);
        napi_throw_error(env, "Z_DATA_ERROR", "incorrect header check");
        return NULL;
      }
    }
    size_t in_before = in_used, out_before = out_used;
    int end = inflater_step(env, f, in, in_len, &in_used, out, out_len, &out_used);
    f->member_in += in_used - in_before;
    if (end < 0) {
      inflater_free(f);
      return NULL;
    }
    if (end) {
      f->state = f->format == FMT_GZIP ? ST_BETWEEN : ST_ENDED;
      continue;
    }
    if (out_used == out_len || in_used == in_len || (in_used == in_before && out_used == out_before)) break;
  }
  double *r = res;
  r[0] = (double)in_used;
  r[1] = (double)out_used;
  r[2] = f->state == ST_STREAMING ? 0 : 1;
  return NULL;
}

static napi_value inflater_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  inflater_t *f = argc < 1 ? NULL : inflater_of(env, argv[0]);
  if (f == NULL) return NULL;
  inflater_free(f);
  return NULL;
}

static napi_value inflater_engine(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
#ifdef HAVE_ISAL
  CHECK(env, napi_create_string_utf8(env, "isa-l", NAPI_AUTO_LENGTH, &result));
#else
  CHECK(env, napi_create_string_utf8(env, "zlib", NAPI_AUTO_LENGTH, &result));
#endif
  return result;
}
/* ==== end of the streaming inflater ============================================================ */

/* ==== OpenPGP SEIPD sealing (backup side; packages/pgp/src/seipd.ts) ==============================
 *
 *   sealerOpen(cipher, key)          a handle: `cipher` (OpenSSL's name, e.g. "aes-256-cfb") in CFB
 *                                    mode with a zero IV under `key`, and the SHA-1 of the MDC
 *   sealInto(h, data, mdcAt)         Promise<void>: on the pool, hashes `data` into the MDC and
 *                                    encrypts it in place, continuing the CFB stream; with mdcAt >= 0
 *                                    it hashes data[0..mdcAt) only, writes the MDC's digest at mdcAt
 *                                    (data.length must be mdcAt + 20) before encrypting, and ends
 *
 * Why: CFB encryption is serial and so is the MDC's SHA-1; together they were a quarter of the main
 * thread's time in an encrypted backup (AES-256-CFB runs at ~600 MB/s here, SHA-1 at ~1.6 GB/s). On
 * the pool they overlap the deflate segments and everything the main thread does. node:crypto has no
 * asynchronous cipher, and a worker thread would copy every chunk across.
 *
 * The cipher and digest are OpenSSL's EVP, resolved from node itself (node exports its OpenSSL, whose
 * headers node-gyp puts first on the include path), so the addon links no libcrypto of its own. The
 * caller runs one job at a time per handle, in stream order; `busy` refuses a second one.
 */
#include <openssl/evp.h>

#define SEALER_MAGIC 0x5345414cu /* "SEAL": tells a sealer handle from an inflater's or an opener's */

/*
 * What a sealer and an opener (the restore side's block below) share: a cipher and the MDC's SHA-1 through node's
 * OpenSSL, behind a handle that one job at a time uses. A sealer is just this; an opener's struct begins with it.
 */
typedef struct {
  uint32_t magic;
  int busy;
  int ended;
  EVP_CIPHER_CTX *cipher;
  EVP_MD_CTX *mdc;
  uint8_t *scratch; /* the opener's keystream slice; NULL for a sealer */
} mdc_stream_t;

typedef struct {
  job_head_t head; /* io.in = io.out = the data (in place); out_ref holds the sealer's handle */
  mdc_stream_t *sealer;
  int64_t mdc_at;
  const char *error;
} seal_job_t;

static void mdc_stream_free(mdc_stream_t *s) {
  EVP_CIPHER_CTX_free(s->cipher);
  EVP_MD_CTX_free(s->mdc);
  free(s->scratch);
  s->cipher = NULL;
  s->mdc = NULL;
  s->scratch = NULL;
}

static void mdc_stream_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  mdc_stream_free(data);
  free(data);
}

/*
 * A new handle for the (cipher, key) arguments of `what`Open: a struct of `size` bytes beginning with an
 * mdc_stream_t, whose cipher is OpenSSL's by name in `mode` (EVP_CIPH_CFB_MODE, with a zero IV, or
 * EVP_CIPH_ECB_MODE), without padding, whose SHA-1 is started, with `scratch` bytes of scratch (a whole number
 * of blocks of at least 8 bytes). NULL with a JS error pending, its message beginning with `what`.
 */
static napi_value mdc_stream_open(napi_env env, napi_callback_info info, const char *what, uint32_t magic, int mode, size_t size,
                                  size_t scratch, mdc_stream_t **out) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[64], text[120];
  size_t name_len = 0;
  void *key;
  size_t key_len;
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &name_len) != napi_ok) {
    snprintf(text, sizeof text, "%s: %sOpen(cipher, key)", what, what);
    napi_throw_type_error(env, NULL, text);
    return NULL;
  }
  if (!bytes_of(env, argv[1], &key, &key_len)) return NULL;
  const EVP_CIPHER *cipher = EVP_get_cipherbyname(name);
  int bs = cipher ? EVP_CIPHER_get_block_size(cipher) : 0;
  if (cipher == NULL || EVP_CIPHER_get_mode(cipher) != mode || (size_t)EVP_CIPHER_get_key_length(cipher) != key_len ||
      (scratch > 0 && (bs < 8 || scratch % (size_t)bs != 0))) {
    snprintf(text, sizeof text, "%s: unknown %s cipher, or a key of the wrong length", what, mode == EVP_CIPH_CFB_MODE ? "CFB" : "ECB");
    napi_throw_error(env, NULL, text);
    return NULL;
  }
  static const unsigned char zero_iv[EVP_MAX_IV_LENGTH];
  mdc_stream_t *s = calloc(1, size);
  if (s == NULL || (s->cipher = EVP_CIPHER_CTX_new()) == NULL || (s->mdc = EVP_MD_CTX_new()) == NULL ||
      (scratch > 0 && (s->scratch = malloc(scratch)) == NULL) ||
      EVP_EncryptInit_ex(s->cipher, cipher, NULL, key, mode == EVP_CIPH_CFB_MODE ? zero_iv : NULL) != 1 ||
      EVP_CIPHER_CTX_set_padding(s->cipher, 0) != 1 || EVP_DigestInit_ex(s->mdc, EVP_sha1(), NULL) != 1) {
    if (s) mdc_stream_free(s);
    free(s);
    snprintf(text, sizeof text, "%s: cannot set up the cipher or the digest", what);
    napi_throw_error(env, NULL, text);
    return NULL;
  }
  s->magic = magic;
  napi_value handle;
  if (napi_create_external(env, s, mdc_stream_finalize, NULL, &handle) != napi_ok) {
    mdc_stream_free(s);
    free(s);
    snprintf(text, sizeof text, "%s: cannot create the handle", what);
    napi_throw_error(env, NULL, text);
    return NULL;
  }
  *out = s;
  return handle;
}

/* The handle `v` of kind `magic`, free for a job; NULL with a JS error pending (`usage` for a wrong handle). */
static mdc_stream_t *mdc_stream_of(napi_env env, napi_value v, uint32_t magic, const char *what, const char *usage) {
  mdc_stream_t *s = NULL;
  if (napi_get_value_external(env, v, (void **)&s) != napi_ok || s == NULL || s->magic != magic) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  if (s->busy || s->cipher == NULL) {
    char text[120];
    if (s->busy) snprintf(text, sizeof text, "%s: a job is already running on this %s", what, what);
    else snprintf(text, sizeof text, "%s: used after its end", what);
    napi_throw_error(env, NULL, text);
    return NULL;
  }
  return s;
}

static napi_value sealer_open(napi_env env, napi_callback_info info) {
  mdc_stream_t *s;
  return mdc_stream_open(env, info, "sealer", SEALER_MAGIC, EVP_CIPH_CFB_MODE, sizeof *s, 0, &s);
}

/* Runs on a pool thread: no JS here. */
static void seal_execute(napi_env env, void *data) {
  (void)env;
  seal_job_t *job = data;
  mdc_stream_t *s = job->sealer;
  uint8_t *p = job->head.io.in;
  size_t len = job->head.io.in_len;
  size_t hashed = job->mdc_at >= 0 ? (size_t)job->mdc_at : len;
  if (EVP_DigestUpdate(s->mdc, p, hashed) != 1) {
    job->error = "SHA-1 failed";
    return;
  }
  if (job->mdc_at >= 0) {
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(s->mdc, p + hashed, &n) != 1 || n != 20) {
      job->error = "SHA-1 failed";
      return;
    }
  }
  /* In chunks that fit EVP's int lengths; CFB keeps its position across calls. In place is allowed. */
  for (size_t off = 0; off < len;) {
    int n = (int)(len - off > (1u << 30) ? (1u << 30) : len - off), got = 0;
    if (EVP_EncryptUpdate(s->cipher, p + off, &got, p + off, n) != 1 || got != n) {
      job->error = "encryption failed";
      return;
    }
    off += (size_t)n;
  }
}

/*
 * Back on the main thread for a job whose promise resolves to nothing: rejects it with "<what>: <error>" when
 * it failed (or was cancelled), then lets go of the job.
 */
static void settle_void(napi_env env, void *job, job_head_t *head, napi_status status, const char *what, const char *error) {
  if (status != napi_ok || error) {
    char text[160];
    snprintf(text, sizeof text, "%s: %s", what, status != napi_ok ? "job was cancelled" : error);
    reject_with(env, head->deferred, text);
  } else {
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    napi_resolve_deferred(env, head->deferred, undefined);
  }
  end_work(env, job, head);
}

static void seal_complete(napi_env env, napi_status status, void *data) {
  seal_job_t *job = data;
  job->sealer->busy = 0;
  settle_void(env, job, &job->head, status, "sealer", job->error);
}

static napi_value seal_into(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *data;
  size_t len;
  int64_t mdc_at = -1;
  const char *usage = "sealer: sealInto(sealer, data, mdcAt)";
  if (argc < 3 || napi_get_value_int64(env, argv[2], &mdc_at) != napi_ok) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  mdc_stream_t *s = mdc_stream_of(env, argv[0], SEALER_MAGIC, "sealer", usage);
  if (s == NULL || !bytes_of(env, argv[1], &data, &len)) return NULL;
  if (mdc_at >= 0 && (uint64_t)mdc_at + 20 != len) {
    napi_throw_range_error(env, NULL, "sealer: the last data must end with 20 bytes of room for the MDC");
    return NULL;
  }
  if (s->ended) {
    napi_throw_error(env, NULL, "sealer: used after its end");
    return NULL;
  }
  seal_job_t *job = new_job(env, sizeof *job);
  if (job == NULL) return NULL;
  job->head.io.in = job->head.io.out = data;
  job->head.io.in_len = job->head.io.out_len = len;
  job->sealer = s;
  job->mdc_at = mdc_at;
  napi_value promise = queue_work(env, argv[1], argv[0], job, &job->head, "sealer.seal", seal_execute, seal_complete);
  if (promise != NULL) {
    s->busy = 1;
    if (mdc_at >= 0) s->ended = 1;
  }
  return promise;
}
/* ==== end of SEIPD sealing ===================================================================== */

/* ==== Digests on the pool (backup side; packages/pgp/src/encrypt.ts) ===============================
 *
 *   digestOpen(name)          a handle: OpenSSL's digest `name` ("sha512", ...) started
 *   digestUpdate(h, data)     Promise<void>: hashes `data` on the pool, after what came before
 *   digestFinal(h)            the digest (a Buffer), synchronously; the handle takes nothing after it
 *
 * Why: a signed backup hashes every plaintext byte for its OpenPGP signature (SHA-512 by default, as
 * gpg, ~700 MB/s here): on the pool it runs beside the main thread instead of on it. One update at a
 * time per handle (`busy` refuses a second), in stream order: the caller awaits each.
 */
#define DIGEST_MAGIC 0x44494753u /* "DIGS" */

typedef struct {
  uint32_t magic;
  int busy;
  EVP_MD_CTX *ctx;
} digest_t;

typedef struct {
  job_head_t head; /* io.in = the data; out_ref holds the digest's handle */
  digest_t *digest;
  int failed;
} digest_job_t;

static void digest_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  digest_t *d = data;
  EVP_MD_CTX_free(d->ctx);
  free(d);
}

static napi_value digest_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[32];
  size_t name_len = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &name_len) != napi_ok) {
    napi_throw_type_error(env, NULL, "digest: digestOpen(name)");
    return NULL;
  }
  const EVP_MD *md = EVP_get_digestbyname(name);
  if (md == NULL) {
    napi_throw_error(env, NULL, "digest: unknown digest");
    return NULL;
  }
  digest_t *d = calloc(1, sizeof *d);
  if (d == NULL || (d->ctx = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(d->ctx, md, NULL) != 1) {
    if (d) EVP_MD_CTX_free(d->ctx);
    free(d);
    napi_throw_error(env, NULL, "digest: cannot set up the digest");
    return NULL;
  }
  d->magic = DIGEST_MAGIC;
  napi_value handle;
  if (napi_create_external(env, d, digest_finalize, NULL, &handle) != napi_ok) {
    EVP_MD_CTX_free(d->ctx);
    free(d);
    napi_throw_error(env, NULL, "digest: cannot create the handle");
    return NULL;
  }
  return handle;
}

static digest_t *digest_of(napi_env env, napi_value v, const char *usage) {
  digest_t *d = NULL;
  if (napi_get_value_external(env, v, (void **)&d) != napi_ok || d == NULL || d->magic != DIGEST_MAGIC) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  if (d->busy || d->ctx == NULL) {
    napi_throw_error(env, NULL, d->busy ? "digest: an update is already running" : "digest: used after its end");
    return NULL;
  }
  return d;
}

/* Runs on a pool thread: no JS here. */
static void digest_execute(napi_env env, void *data) {
  (void)env;
  digest_job_t *job = data;
  job->failed = EVP_DigestUpdate(job->digest->ctx, job->head.io.in, job->head.io.in_len) != 1;
}

static void digest_complete(napi_env env, napi_status status, void *data) {
  digest_job_t *job = data;
  job->digest->busy = 0;
  settle_void(env, job, &job->head, status, "digest", job->failed ? "update failed" : NULL);
}

static napi_value digest_update(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, NULL, "digest: digestUpdate(digest, data)");
    return NULL;
  }
  digest_t *d = digest_of(env, argv[0], "digest: digestUpdate(digest, data)");
  void *data;
  size_t len;
  if (d == NULL || !bytes_of(env, argv[1], &data, &len)) return NULL;
  digest_job_t *job = new_job(env, sizeof *job);
  if (job == NULL) return NULL;
  job->head.io.in = job->head.io.out = data;
  job->head.io.in_len = job->head.io.out_len = len;
  job->digest = d;
  napi_value promise = queue_work(env, argv[1], argv[0], job, &job->head, "digest.update", digest_execute, digest_complete);
  if (promise != NULL) d->busy = 1;
  return promise;
}

static napi_value digest_final(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  digest_t *d = argc < 1 ? NULL : digest_of(env, argv[0], "digest: digestFinal(digest)");
  if (d == NULL) {
    if (argc < 1) napi_throw_type_error(env, NULL, "digest: digestFinal(digest)");
    return NULL;
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  int ok = EVP_DigestFinal_ex(d->ctx, md, &n) == 1;
  EVP_MD_CTX_free(d->ctx);
  d->ctx = NULL;
  if (!ok) {
    napi_throw_error(env, NULL, "digest: final failed");
    return NULL;
  }
  napi_value result;
  void *copy;
  CHECK(env, napi_create_buffer_copy(env, n, md, &copy, &result));
  return result;
}
/* ==== end of digests =========================================================================== */

/* ==== SEIPD opening on the pool (restore side; packages/pgp/src/seipd.ts openSeipdV1) ==============
 *
 *   openerOpen(cipher, key)   a handle: `cipher` (OpenSSL's ECB name, e.g. "aes-256-ecb") used for
 *                             OpenPGP CFB decryption from a zero IV under `key`, and the MDC's SHA-1
 *   openInto(h, data)         Promise<void>: on the pool, decrypts `data` in place, continuing the
 *                             CFB stream, and hashes the plaintext into the MDC, holding back the
 *                             stream's last 22 bytes so far (they may be the MDC packet). data.length
 *                             must be a whole number of blocks, except in the last call
 *   openerEnd(h)              [tail, digest]: the bytes held back (up to 22) and the SHA-1 of all
 *                             hashed plus the tail's first 2 (the MDC packet's header), synchronously
 *
 * Why: the decode worker of an encrypted restore spent ~2.2 s per GiB on AES (cipher.update and its
 * fresh 64 KiB outputs), the JS XOR and the MDC's SHA-1, one after the other with the inflate. On the
 * pool they run beside it: the worker inflates chunk N while chunk N+1 is decrypted here.
 *
 * CFB decryption is computed as ECB plus XOR (plaintext block i = ciphertext block i XOR
 * E(ciphertext block i-1)): one ECB call over a 64 KiB slice lets AES-NI pipeline, where OpenSSL's
 * CFB decrypts block after block. Each slice is XORed and hashed while it is in the cache. One job
 * at a time per handle (`busy` refuses a second), in stream order: the caller awaits each.
 */
#include <string.h>

#define OPENER_MAGIC 0x4f50454eu /* "OPEN" */
#define OPENER_SLICE (64 * 1024)
#define OPENER_HELD 22 /* an MDC packet: 0xD3 0x14 and the SHA-1 */

typedef struct {
  mdc_stream_t s;                     /* s.ended: a partial block was decrypted, nothing may follow; s.scratch:
                                         OPENER_SLICE bytes of E(previous ciphertext blocks) */
  size_t bs;
  uint8_t prev[EVP_MAX_BLOCK_LENGTH]; /* the last ciphertext block (the IV at first) */
  uint8_t held[OPENER_HELD];          /* plaintext not hashed yet, the stream's last bytes */
  size_t held_len;
} opener_t;

typedef struct {
  job_head_t head; /* io.in = io.out = the data (in place); out_ref holds the opener's handle */
  opener_t *opener;
  const char *error;
} open_job_t;

static napi_value opener_open(napi_env env, napi_callback_info info) {
  mdc_stream_t *s = NULL;
  napi_value handle = mdc_stream_open(env, info, "opener", OPENER_MAGIC, EVP_CIPH_ECB_MODE, sizeof(opener_t), OPENER_SLICE, &s);
  if (handle != NULL) ((opener_t *)s)->bs = (size_t)EVP_CIPHER_CTX_get_block_size(s->cipher);
  return handle;
}

static void xor_into(uint8_t *dst, const uint8_t *src, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t a, b;
    memcpy(&a, dst + i, 8);
    memcpy(&b, src + i, 8);
    a ^= b;
    memcpy(dst + i, &a, 8);
  }
  for (; i < n; i++) dst[i] ^= src[i];
}

/* Hashes all but the stream's last OPENER_HELD bytes, `p` being the newest plaintext. */
static int opener_hash(opener_t *o, const uint8_t *p, size_t n) {
  if (n >= OPENER_HELD) {
    if (EVP_DigestUpdate(o->s.mdc, o->held, o->held_len) != 1 || EVP_DigestUpdate(o->s.mdc, p, n - OPENER_HELD) != 1) return 0;
    memcpy(o->held, p + n - OPENER_HELD, OPENER_HELD);
    o->held_len = OPENER_HELD;
    return 1;
  }
  size_t excess = o->held_len + n > OPENER_HELD ? o->held_len + n - OPENER_HELD : 0;
  if (excess > 0) {
    if (EVP_DigestUpdate(o->s.mdc, o->held, excess) != 1) return 0;
    memmove(o->held, o->held + excess, o->held_len - excess);
    o->held_len -= excess;
  }
  memcpy(o->held + o->held_len, p, n);
  o->held_len += n;
  return 1;
}

/* Runs on a pool thread: no JS here. */
static void open_execute(napi_env env, void *data) {
  (void)env;
  open_job_t *job = data;
  opener_t *o = job->opener;
  uint8_t *p = job->head.io.in;
  size_t len = job->head.io.in_len, bs = o->bs;
  size_t whole = len - len % bs;
  for (size_t off = 0; off < whole;) {
    size_t n = whole - off > OPENER_SLICE ? OPENER_SLICE : whole - off;
    int got = 0, got2 = 0;
    /* keystream = E(previous block || this slice's blocks but its last) */
    if (EVP_EncryptUpdate(o->s.cipher, o->s.scratch, &got, o->prev, (int)bs) != 1 ||
        (n > bs && EVP_EncryptUpdate(o->s.cipher, o->s.scratch + bs, &got2, p + off, (int)(n - bs)) != 1) ||
        (size_t)got + (size_t)got2 != n) {
      job->error = "decryption failed";
      return;
    }
    memcpy(o->prev, p + off + n - bs, bs);
    xor_into(p + off, o->s.scratch, n);
    if (!opener_hash(o, p + off, n)) {
      job->error = "SHA-1 failed";
      return;
    }
    off += n;
  }
  if (whole < len) {
    int got = 0;
    if (EVP_EncryptUpdate(o->s.cipher, o->s.scratch, &got, o->prev, (int)bs) != 1 || (size_t)got != bs) {
      job->error = "decryption failed";
      return;
    }
    xor_into(p + whole, o->s.scratch, len - whole);
    if (!opener_hash(o, p + whole, len - whole)) job->error = "SHA-1 failed";
  }
}

static void open_complete(napi_env env, napi_status status, void *data) {
  open_job_t *job = data;
  job->opener->s.busy = 0;
  settle_void(env, job, &job->head, status, "opener", job->error);
}

static opener_t *opener_of(napi_env env, napi_value v, const char *usage) {
  return (opener_t *)mdc_stream_of(env, v, OPENER_MAGIC, "opener", usage);
}

static napi_value open_into(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, NULL, "opener: openInto(opener, data)");
    return NULL;
  }
  opener_t *o = opener_of(env, argv[0], "opener: openInto(opener, data)");
  void *data;
  size_t len;
  if (o == NULL || !bytes_of(env, argv[1], &data, &len)) return NULL;
  if (o->s.ended) {
    napi_throw_error(env, NULL, "opener: data after a partial block");
    return NULL;
  }
  if (len > (size_t)INT32_MAX) {
    napi_throw_range_error(env, NULL, "opener: at most 2 GiB per job");
    return NULL;
  }
  open_job_t *job = new_job(env, sizeof *job);
  if (job == NULL) return NULL;
  job->head.io.in = job->head.io.out = data;
  job->head.io.in_len = job->head.io.out_len = len;
  job->opener = o;
  napi_value promise = queue_work(env, argv[1], argv[0], job, &job->head, "opener.open", open_execute, open_complete);
  if (promise != NULL) {
    o->s.busy = 1;
    if (len % o->bs != 0) o->s.ended = 1;
  }
  return promise;
}

static napi_value opener_end(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  opener_t *o = argc < 1 ? NULL : opener_of(env, argv[0], "opener: openerEnd(opener)");
  if (o == NULL) {
    if (argc < 1) napi_throw_type_error(env, NULL, "opener: openerEnd(opener)");
    return NULL;
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  size_t head = o->held_len < 2 ? o->held_len : 2;
  int ok = EVP_DigestUpdate(o->s.mdc, o->held, head) == 1 && EVP_DigestFinal_ex(o->s.mdc, md, &n) == 1;
  napi_value result, tail, digest;
  void *copy;
  size_t held_len = o->held_len;
  uint8_t held[OPENER_HELD];
  memcpy(held, o->held, held_len);
  mdc_stream_free(&o->s);
  if (!ok) {
    napi_throw_error(env, NULL, "opener: SHA-1 failed");
    return NULL;
  }
  CHECK(env, napi_create_buffer_copy(env, held_len, held, &copy, &tail));
  CHECK(env, napi_create_buffer_copy(env, n, md, &copy, &digest));
  CHECK(env, napi_create_array_with_length(env, 2, &result));
  CHECK(env, napi_set_element(env, result, 0, tail));
  CHECK(env, napi_set_element(env, result, 1, digest));
  return result;
}
/* ==== end of SEIPD opening ===================================================================== */

/* ==== MD4 of many blocks (packages/rsync's WASM calls it through an import; md4-lanes.c) ==========
 *
 *   md4Blocks(memory, p, len, count, out[, width])
 *                 synchronous: the MD4 of the `count` blocks of `len` bytes at memory[p..] into
 *                 memory[out..] (16 bytes each); false, writing nothing, where the CPU has no AVX2
 *   md4LanesWidth()   16 (AVX-512), 8 (AVX2) or 0
 *
 * Synchronous on the calling thread (the rsync engine's worker, or the main thread), as the WASM it
 * replaces was: the blocks are in that thread's WASM memory, and a batch takes microseconds.
 * ================================================================================================== */
#include "md4-lanes.h"

static napi_value md4_blocks(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *mem;
  size_t mem_len;
  double p, len, count, out, width = 0;
  if (argc < 5 || !bytes_of(env, argv[0], &mem, &mem_len)) {
    if (argc < 5) napi_throw_type_error(env, NULL, "md4Blocks(memory, p, len, count, out[, width])");
    return NULL;
  }
  if (napi_get_value_double(env, argv[1], &p) != napi_ok || napi_get_value_double(env, argv[2], &len) != napi_ok ||
      napi_get_value_double(env, argv[3], &count) != napi_ok || napi_get_value_double(env, argv[4], &out) != napi_ok ||
      (argc > 5 && napi_get_value_double(env, argv[5], &width) != napi_ok) || !(p >= 0) || !(len >= 1) ||
      !(count >= 0) || !(out >= 0) || p + len * count > (double)mem_len || out + 16 * count > (double)mem_len ||
      (width != 0 && width != 8 && width != 16)) {
    napi_throw_range_error(env, NULL, "md4Blocks: blocks or digests outside the memory, or a bad width");
    return NULL;
  }
  uint8_t *m = mem;
  int done = md4_lanes(m + (size_t)p, (size_t)len, (size_t)count, m + (size_t)out, (int)width);
  napi_value result;
  CHECK(env, napi_get_boolean(env, done != 0, &result));
  return result;
}

static napi_value md4_lanes_width_of(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  CHECK(env, napi_create_int32(env, md4_lanes_width(), &result));
  return result;
}
/* ==== end of MD4 of many blocks ================================================================= */

/* ==== The archive dir's fcntl lock (packages/engine's lock/fcntl-holder.ts; ofd-lock.c) =============
 *
 *   lockFile(path)   the descriptor holding an exclusive lock on the file (close it to release), -1 when
 *                    another process holds a lock on it, -2 when it cannot be locked this way
 * ================================================================================================== */
#include "ofd-lock.h"

static napi_value lock_file(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char path[4096];
  size_t len;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok || len == 0 ||
      len >= sizeof path - 1) {
    napi_throw_type_error(env, NULL, "lockFile(path) needs a path");
    return NULL;
  }
  napi_value result;
  CHECK(env, napi_create_int32(env, ofd_lock(path), &result));
  return result;
}
/* ==== end of the archive dir's fcntl lock ========================================================= */

/* ==== lstat of a directory's entries (packages/engine's backup/source-walk.ts; stat-names.c) ========
 *
 *   statNames(dir, names, from, count, out)   fstatat of names[from .. from+count) (Buffers) in directory `dir` (a
 *                    Buffer), STAT_NAMES_FIELDS doubles per entry into the Float64Array `out`; returns 0, or the
 *                    errno of opening the directory
 * ================================================================================================== */
#include <errno.h>
#include "stat-names.h"

#define STAT_NAMES_MAX 1024

static napi_value stat_names_of(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *dir_data;
  size_t dir_len;
  uint32_t from, count, names_len;
  napi_typedarray_type type;
  size_t out_len;
  void *out_data;
  bool is_array = false;
  if (argc < 5 || napi_get_buffer_info(env, argv[0], &dir_data, &dir_len) != napi_ok ||
      napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, argv[1], &names_len) != napi_ok || napi_get_value_uint32(env, argv[2], &from) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &count) != napi_ok ||
      napi_get_typedarray_info(env, argv[4], &type, &out_len, &out_data, NULL, NULL) != napi_ok ||
      type != napi_float64_array || count > STAT_NAMES_MAX || (uint64_t)from + count > names_len ||
      out_len < (size_t)count * STAT_NAMES_FIELDS) {
    napi_throw_type_error(env, NULL, "statNames(dir, names, from, count, out): bad arguments");
    return NULL;
  }
  napi_value result;
  char dir[4096];
  if (dir_len == 0 || dir_len >= sizeof dir || memchr(dir_data, 0, dir_len)) {
    /* Not a path open() takes: the caller falls back to lstat per entry, which reports it. */
    CHECK(env, napi_create_int32(env, dir_len == 0 ? ENOENT : dir_len >= sizeof dir ? ENAMETOOLONG : EINVAL, &result));
    return result;
  }
  memcpy(dir, dir_data, dir_len);
  dir[dir_len] = 0;
  const char *names[STAT_NAMES_MAX];
  size_t lens[STAT_NAMES_MAX];
  for (uint32_t i = 0; i < count; i++) {
    napi_value el;
    void *data;
    size_t len;
    CHECK(env, napi_get_element(env, argv[1], from + i, &el));
    if (napi_get_buffer_info(env, el, &data, &len) != napi_ok) {
      napi_throw_type_error(env, NULL, "statNames: names must be Buffers");
      return NULL;
    }
    names[i] = data;
    lens[i] = len;
  }
  CHECK(env, napi_create_int32(env, stat_names(dir, names, lens, count, out_data), &result));
  return result;
}
/* ==== end of lstat of a directory's entries ======================================================= */

NAPI_MODULE_INIT() {
  /* Backup-side gzip members, OpenPGP deflate segments, the restore-side inflater, SEIPD sealing, digests, SEIPD opening. */
  static const struct {
    const char *name;
    napi_callback fn;
  } functions[] = {
      {"keepFreedMemory", keep_freed_memory},
      {"gzipInto", gzip_into},
      {"gzipBound", gzip_bound},
      {"gunzipInto", gunzip_into},
      {"deflateSegmentBound", deflate_segment_bound},
      {"deflateSegmentInto", deflate_segment_into},
      {"adler32", adler32_of},
      {"inflaterOpen", inflater_open},
      {"inflaterPush", inflater_push},
      {"inflaterClose", inflater_close},
      {"inflaterEngine", inflater_engine},
      {"sealerOpen", sealer_open},
      {"sealInto", seal_into},
      {"digestOpen", digest_open},
      {"digestUpdate", digest_update},
      {"digestFinal", digest_final},
      {"openerOpen", opener_open},
      {"openInto", open_into},
      {"openerEnd", opener_end},
      {"md4Blocks", md4_blocks},
      {"md4LanesWidth", md4_lanes_width_of},
      {"lockFile", lock_file},
      {"statNames", stat_names_of}
  };
#ifdef HAVE_ISAL
  napi_value isal_fn;
  CHECK(env, napi_create_function(env, "isalSegmentInto", NAPI_AUTO_LENGTH, isal_segment_into, NULL, &isal_fn));
  CHECK(env, napi_set_named_property(env, exports, "isalSegmentInto", isal_fn));
#endif
  for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
    napi_value fn;
    CHECK(env, napi_create_function(env, functions[i].name, NAPI_AUTO_LENGTH, functions[i].fn, NULL, &fn));
    CHECK(env, napi_set_named_property(env, exports, functions[i].name, fn));
  }
  return exports;
}
