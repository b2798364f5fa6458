/*
 * N-API binding of the system libdeflate: whole-buffer gzip members compressed on the libuv thread
 * pool. index.ts is its only caller and holds the why; this file holds the how.
 *
 *   gzipBound(n)                 worst-case size of a member holding n bytes (any level)
 *   gzipInto(in, out, level)     Promise<number>: the member's length in `out`, 0 if it did not fit
 *   gunzipInto(in, out)          Promise<[status, consumed, produced]>: inflates the first gzip
 *                                member of `in` into `out` (status: libdeflate_result, 0 = success)
 *   keepFreedMemory()            true once glibc malloc keeps freed large blocks for reuse
 *                                (mallopt; index.ts says why), false where malloc is not glibc's
 *
 * Plain node_api.h rather than node-addon-api: two functions do not justify a dependency, and the C
 * API is ABI-stable across Node versions.
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
#ifdef __GLIBC__
#include <malloc.h>
#endif

typedef struct {
  int inflate; /* else deflate */
  napi_async_work work;
  napi_deferred deferred;
  napi_ref in_ref;
  napi_ref out_ref;
  const void *in;
  size_t in_len;
  void *out;
  size_t out_len;
  int level;
  size_t result;
  /* inflate only */
  enum libdeflate_result status;
  size_t consumed;
  int no_memory;
} job_t;

static _Thread_local struct libdeflate_compressor *tl_compressor;
static _Thread_local int tl_level = -1;
static _Thread_local struct libdeflate_decompressor *tl_decompressor;

#define CHECK(env, call)                                                                          \
  do {                                                                                            \
    if ((call) != napi_ok) {                                                                      \
      napi_throw_error((env), NULL, "libdeflate addon: " #call " failed");                        \
      return NULL;                                                                                \
    }                                                                                             \
  } while (0)

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
    job->status = libdeflate_gzip_decompress_ex(tl_decompressor, job->in, job->in_len, job->out, job->out_len,
                                                &job->consumed, &job->result);
    return;
  }
  if (tl_compressor == NULL || tl_level != job->level) {
    libdeflate_free_compressor(tl_compressor);
    tl_compressor = libdeflate_alloc_compressor(job->level);
    tl_level = tl_compressor ? job->level : -1;
    if (tl_compressor == NULL) {
      job->no_memory = 1;
      return;
    }
  }
  job->result = libdeflate_gzip_compress(tl_compressor, job->in, job->in_len, job->out, job->out_len);
}

/* Back on the main thread: settle the promise and let go of the buffers. */
static void complete(napi_env env, napi_status status, void *data) {
  job_t *job = data;
  napi_value value;
  if (status != napi_ok) {
    napi_value msg;
    napi_create_string_utf8(env, "libdeflate: job was cancelled", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &value);
    napi_reject_deferred(env, job->deferred, value);
  } else if (job->no_memory) {
    napi_value msg;
    napi_create_string_utf8(env, "libdeflate: cannot allocate a (de)compressor", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &value);
    napi_reject_deferred(env, job->deferred, value);
  } else if (job->inflate) {
    napi_value v;
    napi_create_array_with_length(env, 3, &value);
    napi_create_int32(env, (int32_t)job->status, &v);
    napi_set_element(env, value, 0, v);
    napi_create_double(env, job->status == LIBDEFLATE_SUCCESS ? (double)job->consumed : 0, &v);
    napi_set_element(env, value, 1, v);
    napi_create_double(env, job->status == LIBDEFLATE_SUCCESS ? (double)job->result : 0, &v);
    napi_set_element(env, value, 2, v);
    napi_resolve_deferred(env, job->deferred, value);
  } else {
    napi_create_double(env, (double)job->result, &value);
    napi_resolve_deferred(env, job->deferred, value);
  }
  napi_delete_reference(env, job->in_ref);
  napi_delete_reference(env, job->out_ref);
  napi_delete_async_work(env, job->work);
  free(job);
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

/*
 * gzipInto(input, output, level) and gunzipInto(input, output): queues the job and returns its
 * promise, or NULL with a JS error pending.
 */
static napi_value queue_job(napi_env env, napi_callback_info info, int inflate) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < (inflate ? 2u : 3u)) {
    napi_throw_type_error(env, NULL, inflate ? "libdeflate: gunzipInto(input, output)" : "libdeflate: gzipInto(input, output, level)");
    return NULL;
  }
  int32_t level = 0;
  if (!inflate && (napi_get_value_int32(env, argv[2], &level) != napi_ok || level < 0 || level > 12)) {
    napi_throw_range_error(env, NULL, "libdeflate: level must be an integer from 0 to 12");
    return NULL;
  }
  void *in, *out;
  size_t in_len, out_len;
  if (!bytes_of(env, argv[0], &in, &in_len) || !bytes_of(env, argv[1], &out, &out_len)) return NULL;
  job_t *job = calloc(1, sizeof *job);
  if (job == NULL) {
    napi_throw_error(env, NULL, "libdeflate: out of memory");
    return NULL;
  }
  job->in = in;
  job->in_len = in_len;
  job->out = out;
  job->out_len = out_len;
  job->level = level;
  job->inflate = inflate;
  napi_value promise, name;
  if (napi_create_reference(env, argv[0], 1, &job->in_ref) != napi_ok ||
      napi_create_reference(env, argv[1], 1, &job->out_ref) != napi_ok ||
      napi_create_promise(env, &job->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, inflate ? "libdeflate.gunzip" : "libdeflate.gzip", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, execute, complete, job, &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    /* Only reachable when N-API itself fails (out of memory); the references leak with the job. */
    free(job);
    napi_throw_error(env, NULL, "libdeflate: cannot queue the job");
    return NULL;
  }
  return promise;
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

NAPI_MODULE_INIT() {
  napi_value fn;
  CHECK(env, napi_create_function(env, "keepFreedMemory", NAPI_AUTO_LENGTH, keep_freed_memory, NULL, &fn));
  CHECK(env, napi_set_named_property(env, exports, "keepFreedMemory", fn));
  CHECK(env, napi_create_function(env, "gzipInto", NAPI_AUTO_LENGTH, gzip_into, NULL, &fn));
  CHECK(env, napi_set_named_property(env, exports, "gzipInto", fn));
  CHECK(env, napi_create_function(env, "gzipBound", NAPI_AUTO_LENGTH, gzip_bound, NULL, &fn));
  CHECK(env, napi_set_named_property(env, exports, "gzipBound", fn));
  CHECK(env, napi_create_function(env, "gunzipInto", NAPI_AUTO_LENGTH, gunzip_into, NULL, &fn));
  CHECK(env, napi_set_named_property(env, exports, "gunzipInto", fn));
  return exports;
}
