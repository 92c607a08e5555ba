/*
 * parity_module.c - the CPython binding of parity_core: argument checking, buffer views,
 * output allocation, and running the kernels with the GIL released.
 *
 * Every bad argument becomes a TypeError (not a buffer / not a sequence / not an int) or a
 * ParityError (a ValueError: lengths differ, counts out of range, read-only or overlapping
 * outputs, non-contiguous buffers) whose message names the offending shard.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

#include "parity_core.h"
#include "parity_malloc.h"

/* Below this many bytes of input the kernels finish faster than a GIL hand-off; a thread
 * that drops the GIL while others are busy may wait a whole switch interval to get it
 * back, so small calls keep it. */
#define PARITY_GIL_RELEASE_BYTES (64 * 1024)

#define MAX_VIEWS (2 * PARITY_MAX_SHARDS)

static PyObject *ParityError;

/* The buffer views one call holds until its kernels are done. */
typedef struct {
    Py_buffer view[MAX_VIEWS];
    int n;
} view_set;

static void views_release(view_set *vs)
{
    for (int i = 0; i < vs->n; i++)
        PyBuffer_Release(&vs->view[i]);
    vs->n = 0;
}

/* Take a contiguous (and, if asked, writable) view of obj; NULL with an exception set. */
static Py_buffer *views_add(view_set *vs, PyObject *obj, int writable, const char *what,
                            Py_ssize_t index)
{
    Py_buffer *view = &vs->view[vs->n];
    if (!PyObject_CheckBuffer(obj)) {
        PyErr_Format(PyExc_TypeError, "%s %zd must be a bytes-like object, not %.100s", what,
                     index, Py_TYPE(obj)->tp_name);
        return NULL;
    }
    if (PyObject_GetBuffer(obj, view, PyBUF_FULL_RO) < 0) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyErr_Format(ParityError, "%s %zd cannot be read as a buffer: %S", what, index,
                     value ? value : Py_None);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        return NULL;
    }
    if (!PyBuffer_IsContiguous(view, 'C')) {
        PyBuffer_Release(view);
        PyErr_Format(ParityError, "%s %zd is not a contiguous buffer", what, index);
        return NULL;
    }
    if (writable && view->readonly) {
        PyBuffer_Release(view);
        PyErr_Format(ParityError, "%s %zd is a read-only buffer and cannot receive output",
                     what, index);
        return NULL;
    }
    vs->n++;
    return view;
}

static int check_length(Py_ssize_t len, Py_ssize_t *expected, const char *what,
                        Py_ssize_t index, const char **first_what, Py_ssize_t *first_index)
{
    if (*expected < 0) {
        *expected = len;
        *first_what = what;
        *first_index = index;
        return 0;
    }
    if (len != *expected) {
        PyErr_Format(ParityError,
                     "shard lengths differ: %s %zd is %zd bytes but %s %zd is %zd bytes", what,
                     index, len, *first_what, *first_index, *expected);
        return -1;
    }
    return 0;
}

static int parse_nparity(PyObject *obj, int *nparity)
{
    if (!PyLong_Check(obj) || PyBool_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "nparity must be an int, not %.100s",
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    int overflow = 0;
    long v = PyLong_AsLongAndOverflow(obj, &overflow);
    if (overflow || (v != 1 && v != 2)) {
        PyErr_Format(ParityError, "nparity must be 1 or 2, not %S", obj);
        return -1;
    }
    *nparity = (int)v;
    return 0;
}

/* A tuple copy of a sequence argument; refuses a lone buffer (a common slip). */
static PyObject *as_sequence(PyObject *obj, const char *what)
{
    if (PyObject_CheckBuffer(obj)) {
        PyErr_Format(PyExc_TypeError,
                     "%s must be a sequence of buffers, not a single %.100s object", what,
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    if (!PySequence_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be a sequence of buffers, not %.100s", what,
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    /* A private tuple, not the caller's list: another thread may change the list while
     * the kernels run without the GIL, and the items are read again afterwards. */
    return PySequence_Tuple(obj);
}

static int check_data_count(Py_ssize_t k)
{
    if (k < PARITY_MIN_DATA || k > PARITY_MAX_DATA) {
        PyErr_Format(ParityError, "data shard count %zd is out of range %d..%d", k,
                     PARITY_MIN_DATA, PARITY_MAX_DATA);
        return -1;
    }
    return 0;
}

/* Outputs must not share memory with each other or with inputs: the kernels read some
 * outputs back as scratch, so an alias would corrupt the result silently. */
static int check_overlap(const view_set *vs, const int *is_output, const char *const *what,
                         const Py_ssize_t *index)
{
    for (int i = 0; i < vs->n; i++) {
        if (!is_output[i] || vs->view[i].len == 0)
            continue;
        const char *a0 = vs->view[i].buf, *a1 = a0 + vs->view[i].len;
        for (int j = 0; j < vs->n; j++) {
            if (j == i || vs->view[j].len == 0 || (is_output[j] && j < i))
                continue;
            const char *b0 = vs->view[j].buf, *b1 = b0 + vs->view[j].len;
            if (a0 < b1 && b0 < a1) {
                PyErr_Format(ParityError, "%s %zd overlaps %s %zd in memory", what[i],
                             index[i], what[j], index[j]);
                return -1;
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ encode */

static int do_encode(int k, Py_ssize_t len, const uint8_t *const *data, uint8_t *p, uint8_t *q)
{
    if ((size_t)len * (size_t)k >= PARITY_GIL_RELEASE_BYTES) {
        Py_BEGIN_ALLOW_THREADS
        parity_encode(k, (size_t)len, data, p, q);
        Py_END_ALLOW_THREADS
    } else {
        parity_encode(k, (size_t)len, data, p, q);
    }
    return 0;
}

/* Views of the data shards of an encode call, with their common length. */
static int encode_inputs(PyObject *seq, view_set *vs, const uint8_t **data, Py_ssize_t *len,
                         const char **what, Py_ssize_t *index)
{
    Py_ssize_t k = PySequence_Fast_GET_SIZE(seq);
    const char *first_what = NULL;
    Py_ssize_t first_index = 0;
    *len = -1;
    if (check_data_count(k) < 0)
        return -1;
    for (Py_ssize_t i = 0; i < k; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        Py_buffer *v = views_add(vs, item, 0, "data shard", i);
        if (v == NULL)
            return -1;
        what[vs->n - 1] = "data shard";
        index[vs->n - 1] = i;
        if (check_length(v->len, len, "data shard", i, &first_what, &first_index) < 0)
            return -1;
        data[i] = v->buf;
    }
    return 0;
}

static PyObject *py_encode(PyObject *self, PyObject *args)
{
    PyObject *data_obj, *nparity_obj, *seq = NULL, *result = NULL;
    PyObject *outs[2] = {NULL, NULL};
    const uint8_t *data[PARITY_MAX_DATA];
    const char *what[MAX_VIEWS];
    Py_ssize_t index[MAX_VIEWS], len;
    view_set vs = {.n = 0};
    int nparity;
    (void)self;

    if (!PyArg_ParseTuple(args, "OO:encode", &data_obj, &nparity_obj))
        return NULL;
    if (parse_nparity(nparity_obj, &nparity) < 0)
        return NULL;
    if ((seq = as_sequence(data_obj, "data")) == NULL)
        return NULL;
    if (encode_inputs(seq, &vs, data, &len, what, index) < 0)
        goto done;
    for (int i = 0; i < nparity; i++)
        if ((outs[i] = PyBytes_FromStringAndSize(NULL, len)) == NULL)
            goto done;
    do_encode((int)PySequence_Fast_GET_SIZE(seq), len, data,
              (uint8_t *)PyBytes_AS_STRING(outs[0]),
              nparity == 2 ? (uint8_t *)PyBytes_AS_STRING(outs[1]) : NULL);
    if ((result = PyList_New(nparity)) == NULL)
        goto done;
    for (int i = 0; i < nparity; i++) {
        PyList_SET_ITEM(result, i, outs[i]);
        outs[i] = NULL;
    }
done:
    views_release(&vs);
    Py_XDECREF(outs[0]);
    Py_XDECREF(outs[1]);
    Py_DECREF(seq);
    return result;
}

static PyObject *py_encode_into(PyObject *self, PyObject *args)
{
    PyObject *data_obj, *out_obj, *seq = NULL, *out_seq = NULL, *result = NULL;
    const uint8_t *data[PARITY_MAX_DATA];
    uint8_t *par[2] = {NULL, NULL};
    const char *what[MAX_VIEWS];
    Py_ssize_t index[MAX_VIEWS], len;
    int is_output[MAX_VIEWS] = {0};
    view_set vs = {.n = 0};
    (void)self;

    if (!PyArg_ParseTuple(args, "OO:encode_into", &data_obj, &out_obj))
        return NULL;
    if ((seq = as_sequence(data_obj, "data")) == NULL)
        return NULL;
    if ((out_seq = as_sequence(out_obj, "out")) == NULL)
        goto done;
    Py_ssize_t nparity = PySequence_Fast_GET_SIZE(out_seq);
    if (nparity != 1 && nparity != 2) {
        PyErr_Format(ParityError,
                     "out must hold 1 (P) or 2 (P, Q) parity buffers, not %zd", nparity);
        goto done;
    }
    if (encode_inputs(seq, &vs, data, &len, what, index) < 0)
        goto done;
    for (Py_ssize_t i = 0; i < nparity; i++) {
        Py_buffer *v = views_add(&vs, PySequence_Fast_GET_ITEM(out_seq, i), 1, "output", i);
        if (v == NULL)
            goto done;
        if (v->len != len) {
            PyErr_Format(ParityError,
                         "shard lengths differ: output %zd is %zd bytes but data shards are "
                         "%zd bytes", i, v->len, len);
            goto done;
        }
        what[vs.n - 1] = "output";
        index[vs.n - 1] = i;
        is_output[vs.n - 1] = 1;
        par[i] = v->buf;
    }
    if (check_overlap(&vs, is_output, what, index) < 0)
        goto done;
    do_encode((int)PySequence_Fast_GET_SIZE(seq), len, data, par[0], par[1]);
    result = Py_NewRef(Py_None);
done:
    views_release(&vs);
    Py_XDECREF(out_seq);
    Py_DECREF(seq);
    return result;
}

/* ------------------------------------------------------------------ reconstruct */

/* Views of the surviving shards of a reconstruct call; fills missing[] and the length. */
static int reconstruct_inputs(PyObject *seq, int nparity, view_set *vs, uint8_t **shards,
                              unsigned char *missing, Py_ssize_t *len, int *nlost,
                              const char **what, Py_ssize_t *index)
{
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    const char *first_what = NULL;
    Py_ssize_t first_index = 0;
    Py_ssize_t k = n - nparity;
    *len = -1;
    *nlost = 0;
    if (k < PARITY_MIN_DATA || k > PARITY_MAX_DATA) {
        PyErr_Format(ParityError,
                     "shard count %zd with nparity %d means %zd data shards, out of range "
                     "%d..%d", n, nparity, k, PARITY_MIN_DATA, PARITY_MAX_DATA);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (PySequence_Fast_GET_ITEM(seq, i) == Py_None)
            (*nlost)++;
    if (*nlost > nparity) {
        PyErr_Format(ParityError,
                     "too many missing shards: %d are None but nparity %d rebuilds at most %d",
                     *nlost, nparity, nparity);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        missing[i] = item == Py_None;
        shards[i] = NULL;
        if (missing[i])
            continue;
        Py_buffer *v = views_add(vs, item, 0, "shard", i);
        if (v == NULL)
            return -1;
        what[vs->n - 1] = "shard";
        index[vs->n - 1] = i;
        if (check_length(v->len, len, "shard", i, &first_what, &first_index) < 0)
            return -1;
        shards[i] = v->buf;
    }
    return 0;
}

static void do_reconstruct(int k, int nparity, Py_ssize_t len, uint8_t *const *shards,
                           const unsigned char *missing)
{
    if ((size_t)len * (size_t)k >= PARITY_GIL_RELEASE_BYTES) {
        Py_BEGIN_ALLOW_THREADS
        parity_reconstruct(k, nparity, (size_t)len, shards, missing);
        Py_END_ALLOW_THREADS
    } else {
        parity_reconstruct(k, nparity, (size_t)len, shards, missing);
    }
}

static PyObject *py_reconstruct(PyObject *self, PyObject *args)
{
    PyObject *shards_obj, *nparity_obj, *seq = NULL, *result = NULL;
    PyObject *made[PARITY_MAX_SHARDS] = {NULL};
    uint8_t *shards[PARITY_MAX_SHARDS];
    unsigned char missing[PARITY_MAX_SHARDS];
    const char *what[MAX_VIEWS];
    Py_ssize_t index[MAX_VIEWS], len, n = 0;
    view_set vs = {.n = 0};
    int nparity, nlost;
    (void)self;

    if (!PyArg_ParseTuple(args, "OO:reconstruct", &shards_obj, &nparity_obj))
        return NULL;
    if (parse_nparity(nparity_obj, &nparity) < 0)
        return NULL;
    if ((seq = as_sequence(shards_obj, "shards")) == NULL)
        return NULL;
    n = PySequence_Fast_GET_SIZE(seq);
    if (reconstruct_inputs(seq, nparity, &vs, shards, missing, &len, &nlost, what, index) < 0)
        goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        if (missing[i]) {
            if ((made[i] = PyBytes_FromStringAndSize(NULL, len)) == NULL)
                goto done;
            shards[i] = (uint8_t *)PyBytes_AS_STRING(made[i]);
        } else if (!PyBytes_CheckExact(item)) {
            /* The caller gets bytes back; copy views now, before any are released. */
            if ((made[i] = PyBytes_FromStringAndSize((const char *)shards[i], len)) == NULL)
                goto done;
        }
    }
    if (nlost > 0)
        do_reconstruct((int)(n - nparity), nparity, len, shards, missing);
    if ((result = PyList_New(n)) == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = made[i] ? made[i] : Py_NewRef(PySequence_Fast_GET_ITEM(seq, i));
        made[i] = NULL;
        PyList_SET_ITEM(result, i, item);
    }
done:
    views_release(&vs);
    for (Py_ssize_t i = 0; i < n && i < PARITY_MAX_SHARDS; i++)
        Py_XDECREF(made[i]);
    Py_DECREF(seq);
    return result;
}

static PyObject *py_reconstruct_into(PyObject *self, PyObject *args)
{
    PyObject *shards_obj, *nparity_obj, *out_obj, *seq = NULL, *out_seq = NULL, *result = NULL;
    uint8_t *shards[PARITY_MAX_SHARDS];
    unsigned char missing[PARITY_MAX_SHARDS];
    const char *what[MAX_VIEWS];
    Py_ssize_t index[MAX_VIEWS], len, n;
    int is_output[MAX_VIEWS] = {0};
    view_set vs = {.n = 0};
    int nparity, nlost;
    (void)self;

    if (!PyArg_ParseTuple(args, "OOO:reconstruct_into", &shards_obj, &nparity_obj, &out_obj))
        return NULL;
    if (parse_nparity(nparity_obj, &nparity) < 0)
        return NULL;
    if ((seq = as_sequence(shards_obj, "shards")) == NULL)
        return NULL;
    if ((out_seq = as_sequence(out_obj, "out")) == NULL)
        goto done;
    n = PySequence_Fast_GET_SIZE(seq);
    if (reconstruct_inputs(seq, nparity, &vs, shards, missing, &len, &nlost, what, index) < 0)
        goto done;
    if (PySequence_Fast_GET_SIZE(out_seq) != n) {
        PyErr_Format(ParityError, "out has %zd entries but there are %zd shards",
                     PySequence_Fast_GET_SIZE(out_seq), n);
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!missing[i])
            continue;
        PyObject *item = PySequence_Fast_GET_ITEM(out_seq, i);
        if (item == Py_None) {
            PyErr_Format(ParityError, "shard %zd is missing but output %zd is None", i, i);
            goto done;
        }
        Py_buffer *v = views_add(&vs, item, 1, "output", i);
        if (v == NULL)
            goto done;
        what[vs.n - 1] = "output";
        index[vs.n - 1] = i;
        is_output[vs.n - 1] = 1;
        if (len >= 0 && v->len != len) {
            PyErr_Format(ParityError,
                         "shard lengths differ: output %zd is %zd bytes but shards are %zd "
                         "bytes", i, v->len, len);
            goto done;
        }
        shards[i] = v->buf;
    }
    if (check_overlap(&vs, is_output, what, index) < 0)
        goto done;
    if (nlost > 0)
        do_reconstruct((int)(n - nparity), nparity, len, shards, missing);
    result = Py_NewRef(Py_None);
done:
    views_release(&vs);
    Py_XDECREF(out_seq);
    Py_DECREF(seq);
    return result;
}

/* ------------------------------------------------------------------ SIMD level */

static PyObject *py_simd_level(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    return PyUnicode_FromString(parity_level_name(parity_current_level()));
}

static PyObject *py_levels(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    PyObject *list = PyList_New(0);
    if (list == NULL)
        return NULL;
    int saved = parity_current_level();
    for (int level = 0; level <= parity_best_level(); level++) {
        if (parity_set_level(level) < 0)
            continue;
        PyObject *name = PyUnicode_FromString(parity_level_name(level));
        if (name == NULL || PyList_Append(list, name) < 0) {
            Py_XDECREF(name);
            Py_DECREF(list);
            parity_set_level(saved);
            return NULL;
        }
        Py_DECREF(name);
    }
    parity_set_level(saved);
    return list;
}

static PyObject *py_set_level(PyObject *self, PyObject *arg)
{
    (void)self;
    const char *name = PyUnicode_AsUTF8(arg);
    if (name == NULL)
        return NULL;
    for (int level = 0; level < PARITY_LEVEL_COUNT; level++) {
        if (strcmp(name, parity_level_name(level)) == 0) {
            if (parity_set_level(level) < 0) {
                PyErr_Format(ParityError, "SIMD level %s is not available on this CPU", name);
                return NULL;
            }
            Py_RETURN_NONE;
        }
    }
    PyErr_Format(ParityError, "unknown SIMD level %R", arg);
    return NULL;
}

static PyObject *py_malloc_tuned(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    return PyBool_FromLong(parity_tune_malloc());
}

static PyMethodDef methods[] = {
    {"encode", py_encode, METH_VARARGS,
     "encode(data, nparity) -> list[bytes]: the P (and Q) shards of the data shards."},
    {"encode_into", py_encode_into, METH_VARARGS,
     "encode_into(data, out) -> None: write P (and Q) into the 1 or 2 buffers of out."},
    {"reconstruct", py_reconstruct, METH_VARARGS,
     "reconstruct(shards, nparity) -> list[bytes]: all shards, the None ones rebuilt."},
    {"reconstruct_into", py_reconstruct_into, METH_VARARGS,
     "reconstruct_into(shards, nparity, out) -> None: rebuild shard i into out[i] for each "
     "shards[i] that is None."},
    {"simd_level", py_simd_level, METH_NOARGS, "simd_level() -> str: the kernels in use."},
    {"_levels", py_levels, METH_NOARGS, "_levels() -> list[str]: levels this CPU can run."},
    {"_set_level", py_set_level, METH_O,
     "_set_level(name) -> None: use another SIMD level (for tests and benchmarks)."},
    {"_malloc_tuned", py_malloc_tuned, METH_NOARGS,
     "_malloc_tuned() -> bool: whether import set malloc's thresholds so that outputs "
     "reuse mapped memory."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "parity._parity",
    "RAID5/RAID6 parity (XOR and P+Q over GF(2^8), 0x11d) with run-time SIMD dispatch.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__parity(void)
{
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL)
        return NULL;
    ParityError = PyErr_NewExceptionWithDoc(
        "parity.ParityError", "Bad arguments to a parity function.", PyExc_ValueError, NULL);
    if (ParityError == NULL || PyModule_AddObjectRef(m, "ParityError", ParityError) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    (void)parity_best_level();
    /* Fresh 1 MiB outputs would each be a fresh mmap, faulted in page by page. */
    (void)parity_tune_malloc();
    return m;
}
