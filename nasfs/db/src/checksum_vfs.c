/*
 * checksum_vfs.c - page checksums for the metadata databases: a SQLite VFS shim registered
 * (not as the default) with the libsqlite3 that Python's sqlite3 module uses.
 *
 * Why: SQLite itself checks nothing inside a page, so a flipped byte inside a row is read
 * back as a different value and, once the copy is the source of a refresh, copied to every
 * other member. With this shim every page read from a database file is verified, and a
 * mismatch fails the read with SQLITE_IOERR_DATA, which nasfs.db treats as "this copy is
 * damaged" (fail over to another copy, repair this one from a good one).
 *
 * Main database files: every database opened through this VFS has 8 reserved bytes at the
 * end of each page (byte 20 of the header). Whenever a whole page is written, the shim
 * stores there CRC32C(page number, page bytes 0..size-8) and the page number; whenever a
 * whole page is read, both are checked. The page number catches a page written at the
 * wrong place. A page 1 that says it has no room for the checksum is refused on write
 * (a database must be made by `create` or upgraded by `add_checksums`) and on read.
 *
 * WAL files: SQLite computes each frame's (cumulative) checksum over the page before the
 * page reaches xWrite, so the shim must not alter pages on their way into the WAL (a
 * changed page would no longer match its frame checksum and WAL recovery would drop
 * committed transactions). Instead, every page read from the WAL is checked against the
 * WAL's own frame checksum chain: previous frame's checksum (or the WAL header's), this
 * frame's first 8 header bytes, the page. Frames this connection overwrote in place inside
 * its still open transaction carry a stale frame checksum until SQLite rewrites their
 * headers at commit; the shim remembers them and skips them until then.
 *
 * Memory-mapped reads would bypass xRead, so the shim offers io methods version 2 (no
 * xFetch): SQLite then never maps these files.
 *
 * Python API (module nasfs.db._checksum_vfs; see nasfs/db/checksums.py):
 *   VFS_NAME                      "nasfs-checksum", for `?vfs=` in a URI
 *   RESERVED_BYTES                8
 *   create(path)                  make an empty database with room for checksums
 *   add_checksums(path)           give an existing database room for checksums (VACUUM)
 *   verify_file(path) -> list     scan every page of a main database file; the problems
 *   checksum(page, pgno) -> bytes the 8 checksum bytes of a page (for tests)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <sqlite3.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VFS_NAME "nasfs-checksum"
#define RESERVED 8
#define WAL_HEADER 32
#define FRAME_HEADER 24
#define MIN_PAGE 512
#define MAX_PAGE 65536

enum { KIND_OTHER = 0, KIND_MAIN = 1, KIND_WAL = 2 };

/* ------------------------------------------------------------------ CRC32C */

static uint32_t crc_table[8][256];
static int have_sse42;

static void crc_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++)
        for (int t = 1; t < 8; t++)
            crc_table[t][n] = (crc_table[t - 1][n] >> 8) ^ crc_table[0][crc_table[t - 1][n] & 0xFF];
#if defined(__x86_64__)
    __builtin_cpu_init();
    have_sse42 = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t crc_soft(uint32_t crc, const uint8_t *p, size_t n)
{
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= crc;
        crc = crc_table[7][w & 0xFF] ^ crc_table[6][(w >> 8) & 0xFF] ^
              crc_table[5][(w >> 16) & 0xFF] ^ crc_table[4][(w >> 24) & 0xFF] ^
              crc_table[3][(w >> 32) & 0xFF] ^ crc_table[2][(w >> 40) & 0xFF] ^
              crc_table[1][(w >> 48) & 0xFF] ^ crc_table[0][w >> 56];
        p += 8;
        n -= 8;
    }
    while (n--)
        crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xFF];
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t n)
{
    uint64_t c = crc;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
        p += 8;
        n -= 8;
    }
    crc = (uint32_t)c;
    while (n--)
        crc = __builtin_ia32_crc32qi(crc, *p++);
    return crc;
}
#endif

static uint32_t crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
#if defined(__x86_64__)
    if (have_sse42)
        return crc_hw(crc, p, n);
#endif
    return crc_soft(crc, p, n);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* The 8 reserved bytes of page `pgno` (1-based) holding `page` (size bytes). */
static void page_stamp(const uint8_t *page, int size, uint32_t pgno, uint8_t out[RESERVED])
{
    uint8_t seed[4];
    put_le32(seed, pgno);
    uint32_t crc = crc32c(0xFFFFFFFFu, seed, 4);
    crc = crc32c(crc, page, (size_t)size - RESERVED) ^ 0xFFFFFFFFu;
    put_le32(out, crc);
    put_le32(out + 4, pgno);
}

static int is_page_size(int n)
{
    return n >= MIN_PAGE && n <= MAX_PAGE && (n & (n - 1)) == 0;
}

/* Page size from a database header (bytes 16-17, 1 meaning 65536); 0 if not valid. */
static int header_page_size(const uint8_t *h)
{
    int v = (h[16] << 8) | h[17];
    if (v == 1)
        v = 65536;
    return is_page_size(v) ? v : 0;
}

/* ------------------------------------------------------------- WAL frames */

/* SQLite's WAL checksum: pairs of 32-bit words, in the byte order the WAL magic names. */
static void wal_sum(int native, const uint8_t *a, int n, uint32_t s[2])
{
    uint32_t s1 = s[0], s2 = s[1];
    for (int i = 0; i + 8 <= n; i += 8) {
        uint32_t x0, x1;
        memcpy(&x0, a + i, 4);
        memcpy(&x1, a + i + 4, 4);
        if (!native) {
            x0 = __builtin_bswap32(x0);
            x1 = __builtin_bswap32(x1);
        }
        s1 += x0 + s2;
        s2 += x1 + s1;
    }
    s[0] = s1;
    s[1] = s2;
}

static int machine_big_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 0;
}

/* ------------------------------------------------------------------- files */

typedef struct {
    sqlite3_file base;
    int kind;
    const char *name;
    sqlite3_int64 last_header; /* WAL: offset of the last frame header written, or -1 */
    sqlite3_int64 *unsealed;   /* WAL: payload offsets overwritten without a new header */
    int n_unsealed, cap_unsealed;
    uint8_t *scratch;          /* main: a page with its stamp, on its way to disk */
    /* the real file follows */
} CkFile;

#define REAL(p) ((sqlite3_file *)(((CkFile *)(p)) + 1))

static sqlite3_vfs ck_vfs;
static sqlite3_io_methods ck_io;

static int unsealed_find(CkFile *f, sqlite3_int64 off)
{
    for (int i = 0; i < f->n_unsealed; i++)
        if (f->unsealed[i] == off)
            return i;
    return -1;
}

static int unsealed_add(CkFile *f, sqlite3_int64 off)
{
    if (unsealed_find(f, off) >= 0)
        return SQLITE_OK;
    if (f->n_unsealed == f->cap_unsealed) {
        int cap = f->cap_unsealed ? 2 * f->cap_unsealed : 16;
        sqlite3_int64 *grown = sqlite3_realloc64(f->unsealed, (sqlite3_uint64)cap * sizeof(*grown));
        if (!grown)
            return SQLITE_NOMEM;
        f->unsealed = grown;
        f->cap_unsealed = cap;
    }
    f->unsealed[f->n_unsealed++] = off;
    return SQLITE_OK;
}

static void unsealed_remove(CkFile *f, sqlite3_int64 off)
{
    int i = unsealed_find(f, off);
    if (i >= 0)
        f->unsealed[i] = f->unsealed[--f->n_unsealed];
}

static int ck_close(sqlite3_file *file)
{
    CkFile *f = (CkFile *)file;
    sqlite3_file *real = REAL(file);
    int rc = real->pMethods ? real->pMethods->xClose(real) : SQLITE_OK;
    sqlite3_free(f->unsealed);
    sqlite3_free(f->scratch);
    f->unsealed = NULL;
    f->scratch = NULL;
    return rc;
}

/* Check a whole page read at `off` of a main database file. */
static int verify_main_page(CkFile *f, const uint8_t *page, int size, sqlite3_int64 off)
{
    uint8_t want[RESERVED];
    uint32_t pgno = (uint32_t)(off / size) + 1;
    if (off == 0 && page[20] != RESERVED) {
        sqlite3_log(SQLITE_IOERR_DATA, "%s: page 1 has %d reserved bytes, not %d (no page "
                    "checksums)", f->name, page[20], RESERVED);
        return SQLITE_IOERR_DATA;
    }
    page_stamp(page, size, pgno, want);
    if (memcmp(want, page + size - RESERVED, RESERVED) != 0) {
        sqlite3_log(SQLITE_IOERR_DATA, "%s: checksum mismatch on page %u", f->name, pgno);
        return SQLITE_IOERR_DATA;
    }
    return SQLITE_OK;
}

/* Check a page read from the WAL payload at `off` against the frame checksum chain. */
static int verify_wal_page(CkFile *f, const uint8_t *page, int size, sqlite3_int64 off)
{
    sqlite3_file *real = REAL(f);
    uint8_t wal[WAL_HEADER], frame[FRAME_HEADER], prev[8];
    sqlite3_int64 header_off = off - FRAME_HEADER;
    int rc = real->pMethods->xRead(real, wal, WAL_HEADER, 0);
    if (rc != SQLITE_OK)
        return rc;
    int native = ((get_be32(wal) & 1) != 0) == machine_big_endian();
    uint32_t s[2] = {0, 0};
    wal_sum(native, wal, 24, s);
    if ((int)get_be32(wal + 8) != size || s[0] != get_be32(wal + 24) ||
        s[1] != get_be32(wal + 28)) {
        sqlite3_log(SQLITE_IOERR_DATA, "%s: the WAL header is damaged", f->name);
        return SQLITE_IOERR_DATA;
    }
    rc = real->pMethods->xRead(real, frame, FRAME_HEADER, header_off);
    if (rc != SQLITE_OK)
        return rc;
    if (header_off == WAL_HEADER) {
        memcpy(prev, wal + 24, 8);
    } else {
        rc = real->pMethods->xRead(real, prev, 8, header_off - (FRAME_HEADER + size) + 16);
        if (rc != SQLITE_OK)
            return rc;
    }
    s[0] = get_be32(prev);
    s[1] = get_be32(prev + 4);
    wal_sum(native, frame, 8, s);
    wal_sum(native, page, size, s);
    if (s[0] != get_be32(frame + 16) || s[1] != get_be32(frame + 20)) {
        sqlite3_log(SQLITE_IOERR_DATA, "%s: frame checksum mismatch at offset %lld", f->name,
                    (long long)header_off);
        return SQLITE_IOERR_DATA;
    }
    return SQLITE_OK;
}

static int wal_payload_offset(sqlite3_int64 off, int size)
{
    return off >= WAL_HEADER + FRAME_HEADER &&
           (off - WAL_HEADER - FRAME_HEADER) % (FRAME_HEADER + size) == 0;
}

static int ck_read(sqlite3_file *file, void *buf, int amt, sqlite3_int64 off)
{
    CkFile *f = (CkFile *)file;
    sqlite3_file *real = REAL(file);
    int rc = real->pMethods->xRead(real, buf, amt, off);
    if (rc != SQLITE_OK || !is_page_size(amt))
        return rc;
    if (f->kind == KIND_MAIN && off % amt == 0)
        return verify_main_page(f, buf, amt, off);
    if (f->kind == KIND_WAL && wal_payload_offset(off, amt) && unsealed_find(f, off) < 0)
        return verify_wal_page(f, buf, amt, off);
    return rc;
}

static int ck_write(sqlite3_file *file, const void *buf, int amt, sqlite3_int64 off)
{
    CkFile *f = (CkFile *)file;
    sqlite3_file *real = REAL(file);
    if (f->kind == KIND_MAIN && is_page_size(amt) && off % amt == 0) {
        const uint8_t *page = buf;
        if (off == 0 && page[20] != RESERVED) {
            sqlite3_log(SQLITE_IOERR_WRITE, "%s: refusing to write a database without room "
                        "for page checksums", f->name);
            return SQLITE_IOERR_WRITE;
        }
        if (!f->scratch) {
            f->scratch = sqlite3_malloc(MAX_PAGE);
            if (!f->scratch)
                return SQLITE_IOERR_NOMEM;
        }
        /* A copy: the caller's buffer is const and may be the pager's cached page. */
        memcpy(f->scratch, page, (size_t)amt - RESERVED);
        page_stamp(page, amt, (uint32_t)(off / amt) + 1, f->scratch + amt - RESERVED);
        return real->pMethods->xWrite(real, f->scratch, amt, off);
    }
    if (f->kind == KIND_WAL) {
        if (off == 0) {
            f->n_unsealed = 0; /* a new WAL header: the log starts over */
            f->last_header = -1;
        } else if (amt == FRAME_HEADER) {
            f->last_header = off;
            /* A rewritten header seals the frame's payload as it is now. */
            unsealed_remove(f, off + FRAME_HEADER);
        } else if (is_page_size(amt) && wal_payload_offset(off, amt)) {
            int rc = SQLITE_OK;
            if (f->last_header == off - FRAME_HEADER)
                unsealed_remove(f, off);
            else
                rc = unsealed_add(f, off);
            f->last_header = -1;
            if (rc != SQLITE_OK)
                return rc;
        }
    }
    return real->pMethods->xWrite(real, buf, amt, off);
}

static int ck_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    CkFile *f = (CkFile *)file;
    if (f->kind == KIND_WAL) {
        int keep = 0;
        for (int i = 0; i < f->n_unsealed; i++)
            if (f->unsealed[i] < size)
                f->unsealed[keep++] = f->unsealed[i];
        f->n_unsealed = keep;
    }
    return REAL(file)->pMethods->xTruncate(REAL(file), size);
}

static int ck_sync(sqlite3_file *file, int flags)
{
    return REAL(file)->pMethods->xSync(REAL(file), flags);
}

static int ck_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    return REAL(file)->pMethods->xFileSize(REAL(file), size);
}

static int ck_lock(sqlite3_file *file, int level)
{
    return REAL(file)->pMethods->xLock(REAL(file), level);
}

static int ck_unlock(sqlite3_file *file, int level)
{
    return REAL(file)->pMethods->xUnlock(REAL(file), level);
}

static int ck_check_reserved_lock(sqlite3_file *file, int *out)
{
    return REAL(file)->pMethods->xCheckReservedLock(REAL(file), out);
}

static int ck_file_control(sqlite3_file *file, int op, void *arg)
{
    int rc = REAL(file)->pMethods->xFileControl(REAL(file), op, arg);
    if (op == SQLITE_FCNTL_VFSNAME && rc == SQLITE_OK) {
        char **name = arg;
        *name = sqlite3_mprintf("%s/%z", VFS_NAME, *name);
    }
    return rc;
}

static int ck_sector_size(sqlite3_file *file)
{
    return REAL(file)->pMethods->xSectorSize(REAL(file));
}

static int ck_device_characteristics(sqlite3_file *file)
{
    return REAL(file)->pMethods->xDeviceCharacteristics(REAL(file));
}

static int ck_shm_map(sqlite3_file *file, int pg, int pgsz, int extend, void volatile **pp)
{
    return REAL(file)->pMethods->xShmMap(REAL(file), pg, pgsz, extend, pp);
}

static int ck_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
    return REAL(file)->pMethods->xShmLock(REAL(file), offset, n, flags);
}

static void ck_shm_barrier(sqlite3_file *file)
{
    REAL(file)->pMethods->xShmBarrier(REAL(file));
}

static int ck_shm_unmap(sqlite3_file *file, int delete_flag)
{
    return REAL(file)->pMethods->xShmUnmap(REAL(file), delete_flag);
}

static sqlite3_vfs *below(sqlite3_vfs *vfs)
{
    return (sqlite3_vfs *)vfs->pAppData;
}

static int ck_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out)
{
    CkFile *f = (CkFile *)file;
    memset(f, 0, sizeof(*f));
    f->last_header = -1;
    f->name = name ? name : "(temporary)";
    if (flags & SQLITE_OPEN_MAIN_DB)
        f->kind = KIND_MAIN;
    else if (flags & SQLITE_OPEN_WAL)
        f->kind = KIND_WAL;
    int rc = below(vfs)->xOpen(below(vfs), name, REAL(file), flags, out);
    if (rc == SQLITE_OK && REAL(file)->pMethods)
        file->pMethods = &ck_io;
    else
        file->pMethods = NULL;
    return rc;
}

static int ck_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    return below(vfs)->xDelete(below(vfs), name, sync_dir);
}

static int ck_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    return below(vfs)->xAccess(below(vfs), name, flags, out);
}

static int ck_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    return below(vfs)->xFullPathname(below(vfs), name, n, out);
}

static void *ck_dl_open(sqlite3_vfs *vfs, const char *name)
{
    return below(vfs)->xDlOpen(below(vfs), name);
}

static void ck_dl_error(sqlite3_vfs *vfs, int n, char *msg)
{
    below(vfs)->xDlError(below(vfs), n, msg);
}

static void (*ck_dl_sym(sqlite3_vfs *vfs, void *handle, const char *sym))(void)
{
    return below(vfs)->xDlSym(below(vfs), handle, sym);
}

static void ck_dl_close(sqlite3_vfs *vfs, void *handle)
{
    below(vfs)->xDlClose(below(vfs), handle);
}

static int ck_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    return below(vfs)->xRandomness(below(vfs), n, out);
}

static int ck_sleep(sqlite3_vfs *vfs, int us)
{
    return below(vfs)->xSleep(below(vfs), us);
}

static int ck_current_time(sqlite3_vfs *vfs, double *t)
{
    return below(vfs)->xCurrentTime(below(vfs), t);
}

static int ck_get_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    return below(vfs)->xGetLastError(below(vfs), n, out);
}

static int ck_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *t)
{
    return below(vfs)->xCurrentTimeInt64(below(vfs), t);
}

static int register_vfs(void)
{
    if (sqlite3_vfs_find(VFS_NAME))
        return SQLITE_OK;
    sqlite3_vfs *real = sqlite3_vfs_find(NULL);
    if (!real)
        return SQLITE_ERROR;
    memset(&ck_io, 0, sizeof(ck_io));
    /* Version 2: shared memory for WAL, but no xFetch, so pages are never memory-mapped
     * (a mapped page would reach SQLite without passing through ck_read). */
    ck_io.iVersion = 2;
    ck_io.xClose = ck_close;
    ck_io.xRead = ck_read;
    ck_io.xWrite = ck_write;
    ck_io.xTruncate = ck_truncate;
    ck_io.xSync = ck_sync;
    ck_io.xFileSize = ck_file_size;
    ck_io.xLock = ck_lock;
    ck_io.xUnlock = ck_unlock;
    ck_io.xCheckReservedLock = ck_check_reserved_lock;
    ck_io.xFileControl = ck_file_control;
    ck_io.xSectorSize = ck_sector_size;
    ck_io.xDeviceCharacteristics = ck_device_characteristics;
    ck_io.xShmMap = ck_shm_map;
    ck_io.xShmLock = ck_shm_lock;
    ck_io.xShmBarrier = ck_shm_barrier;
    ck_io.xShmUnmap = ck_shm_unmap;

    memset(&ck_vfs, 0, sizeof(ck_vfs));
    ck_vfs.iVersion = 2;
    ck_vfs.szOsFile = (int)sizeof(CkFile) + real->szOsFile;
    ck_vfs.mxPathname = real->mxPathname;
    ck_vfs.zName = VFS_NAME;
    ck_vfs.pAppData = real;
    ck_vfs.xOpen = ck_open;
    ck_vfs.xDelete = ck_delete;
    ck_vfs.xAccess = ck_access;
    ck_vfs.xFullPathname = ck_full_pathname;
    ck_vfs.xDlOpen = ck_dl_open;
    ck_vfs.xDlError = ck_dl_error;
    ck_vfs.xDlSym = ck_dl_sym;
    ck_vfs.xDlClose = ck_dl_close;
    ck_vfs.xRandomness = ck_randomness;
    ck_vfs.xSleep = ck_sleep;
    ck_vfs.xCurrentTime = ck_current_time;
    ck_vfs.xGetLastError = ck_get_last_error;
    ck_vfs.xCurrentTimeInt64 = ck_current_time_int64;
    return sqlite3_vfs_register(&ck_vfs, 0);
}

/* ------------------------------------------------------------------ Python */

static PyObject *sqlite_failure(sqlite3 *db, int rc, const char *what, const char *path)
{
    PyErr_Format(PyExc_OSError, "%s %s: %s", what, path,
                 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    return NULL;
}

/* Open `path` through `vfs`, give it `RESERVED` bytes per page, run `sql`. */
static PyObject *with_reserve(PyObject *arg, const char *vfs, const char *sql, const char *what)
{
    PyObject *bytes = NULL;
    if (!PyUnicode_FSConverter(arg, &bytes))
        return NULL;
    const char *path = PyBytes_AS_STRING(bytes);
    sqlite3 *db = NULL;
    int rc, n = RESERVED;
    char *err = NULL;
    Py_BEGIN_ALLOW_THREADS
    rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs);
    if (rc == SQLITE_OK)
        rc = sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &n);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    Py_END_ALLOW_THREADS
    PyObject *result = Py_None;
    if (rc != SQLITE_OK) {
        PyErr_Format(PyExc_OSError, "%s %s: %s", what, path,
                     err ? err : (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
        result = NULL;
    }
    sqlite3_free(err);
    if (db && sqlite3_close(db) != SQLITE_OK && result) {
        sqlite_failure(db, rc, "cannot close", path);
        result = NULL;
    }
    Py_DECREF(bytes);
    Py_XINCREF(result);
    return result;
}

static PyObject *py_create(PyObject *self, PyObject *arg)
{
    (void)self;
    /* Writing the schema cookie makes SQLite write page 1, with the reserve in place. */
    return with_reserve(arg, VFS_NAME, "PRAGMA user_version = 0", "cannot create");
}

static PyObject *py_add_checksums(PyObject *self, PyObject *arg)
{
    (void)self;
    /* Through the plain VFS (the file has no checksums yet); VACUUM rewrites every page
     * with the new reserve, and the caller rewrites it once more through this VFS. */
    return with_reserve(arg, NULL, "VACUUM", "cannot add page checksums to");
}

static int read_exact(int fd, uint8_t *buf, size_t n, off_t off)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(fd, buf + done, n - done, off + (off_t)done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        done += (size_t)r;
    }
    return 0;
}

/* Problems of one main database file as a list of strings (empty: every page checks). */
static PyObject *py_verify_file(PyObject *self, PyObject *arg)
{
    (void)self;
    PyObject *bytes = NULL;
    if (!PyUnicode_FSConverter(arg, &bytes))
        return NULL;
    const char *path = PyBytes_AS_STRING(bytes);
    PyObject *problems = PyList_New(0);
    if (!problems) {
        Py_DECREF(bytes);
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
        goto fail;
    }
    uint8_t *page = malloc(MAX_PAGE);
    if (!page) {
        close(fd);
        PyErr_NoMemory();
        goto fail;
    }
    off_t size = lseek(fd, 0, SEEK_END);
    uint8_t header[100];
    int page_size = 0;
    if (size >= 100 && read_exact(fd, header, 100, 0) == 0 &&
        memcmp(header, "SQLite format 3", 16) == 0)
        page_size = header_page_size(header);
    if (page_size == 0) {
        free(page);
        close(fd);
        PyObject *msg = PyUnicode_FromString("the file is not a SQLite database (bad header)");
        if (!msg || PyList_Append(problems, msg) < 0) {
            Py_XDECREF(msg);
            goto fail;
        }
        Py_DECREF(msg);
        Py_DECREF(bytes);
        return problems;
    }
    if (header[20] != RESERVED) {
        PyObject *msg = PyUnicode_FromFormat("page 1 has %d reserved bytes, not %d: the "
                                             "database has no page checksums", header[20],
                                             RESERVED);
        if (!msg || PyList_Append(problems, msg) < 0) {
            Py_XDECREF(msg);
            free(page);
            close(fd);
            goto fail;
        }
        Py_DECREF(msg);
    } else {
        uint32_t pages = (uint32_t)(size / page_size);
        for (uint32_t i = 0; i < pages; i++) {
            int bad = 0, io = 0;
            /* A second read: a checkpoint of another connection may be rewriting this page
             * right now (a torn read), which a fresh read no longer shows. */
            for (int attempt = 0; attempt < 2; attempt++) {
                uint8_t want[RESERVED];
                int r;
                Py_BEGIN_ALLOW_THREADS
                r = read_exact(fd, page, (size_t)page_size, (off_t)i * page_size);
                if (r == 0)
                    page_stamp(page, page_size, i + 1, want);
                Py_END_ALLOW_THREADS
                io = r != 0;
                bad = io || memcmp(want, page + page_size - RESERVED, RESERVED) != 0;
                if (!bad)
                    break;
            }
            if (bad) {
                PyObject *msg = PyUnicode_FromFormat(io ? "page %u cannot be read"
                                                        : "checksum mismatch on page %u",
                                                     i + 1);
                if (!msg || PyList_Append(problems, msg) < 0) {
                    Py_XDECREF(msg);
                    free(page);
                    close(fd);
                    goto fail;
                }
                Py_DECREF(msg);
                if (PyList_GET_SIZE(problems) >= 20)
                    break;
            }
        }
        if (size % page_size != 0) {
            PyObject *msg = PyUnicode_FromFormat("the file ends inside a page (%lld bytes)",
                                                 (long long)size);
            if (!msg || PyList_Append(problems, msg) < 0) {
                Py_XDECREF(msg);
                free(page);
                close(fd);
                goto fail;
            }
            Py_DECREF(msg);
        }
    }
    free(page);
    close(fd);
    Py_DECREF(bytes);
    return problems;
fail:
    Py_DECREF(problems);
    Py_DECREF(bytes);
    return NULL;
}

static PyObject *py_checksum(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer view;
    unsigned int pgno;
    if (!PyArg_ParseTuple(args, "y*I", &view, &pgno))
        return NULL;
    if (!is_page_size((int)view.len) || view.len > MAX_PAGE) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "a page is a power of two from 512 to 65536 bytes");
        return NULL;
    }
    uint8_t out[RESERVED];
    page_stamp(view.buf, (int)view.len, pgno, out);
    PyBuffer_Release(&view);
    return PyBytes_FromStringAndSize((const char *)out, RESERVED);
}

static PyMethodDef methods[] = {
    {"create", py_create, METH_O, "create(path): a new empty database with page checksums"},
    {"add_checksums", py_add_checksums, METH_O,
     "add_checksums(path): give an existing database room for page checksums (VACUUM)"},
    {"verify_file", py_verify_file, METH_O,
     "verify_file(path) -> list[str]: every page's checksum; the problems found"},
    {"checksum", py_checksum, METH_VARARGS, "checksum(page, pgno) -> the 8 stamp bytes"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_checksum_vfs",
    "Page checksums for SQLite: the nasfs-checksum VFS (see nasfs/db/checksums.py).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__checksum_vfs(void)
{
    crc_init();
    int rc = register_vfs();
    if (rc != SQLITE_OK) {
        PyErr_Format(PyExc_ImportError, "cannot register the %s SQLite VFS: %s", VFS_NAME,
                     sqlite3_errstr(rc));
        return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    if (PyModule_AddStringConstant(m, "VFS_NAME", VFS_NAME) < 0 ||
        PyModule_AddIntConstant(m, "RESERVED_BYTES", RESERVED) < 0 ||
        PyModule_AddStringConstant(m, "SQLITE_VERSION", sqlite3_libversion()) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
