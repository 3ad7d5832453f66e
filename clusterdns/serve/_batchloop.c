/* One wake-up of the batched UDP path (batch.py) in C: receive, answer the stored
 * replies, send.
 *
 * At 50k q/s a wake-up finds about five queries, so what one wake-up costs besides the
 * system calls (two ctypes calls, a Python loop, a slice per datagram) weighed as much
 * as the kernel's own work. This does the same steps with one call from Python and no
 * Python frame per datagram. Everything else (the slow path, the send backlog, what
 * the socket refuses) stays in batch.py, which also works without this module.
 *
 * The headers and buffers are batch.py's: it builds them once and passes their
 * addresses, so both loops read and write the same memory the same way. The GIL is
 * held throughout: both calls are non-blocking (MSG_DONTWAIT).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

static PyObject *udp_hits;  /* the attribute name, interned once */

/* A Python int holding an address batch.py took from ctypes.addressof. */
static void *
address(PyObject *value)
{
    void *at = PyLong_AsVoidPtr(value);
    if (at == NULL && !PyErr_Occurred()) {
        PyErr_SetString(PyExc_ValueError, "a null address");
    }
    return at;
}

/* counts.udp_hits += hits, as batch.py's Python loop does once per batch. */
static int
count_hits(PyObject *counts, Py_ssize_t hits)
{
    PyObject *before = PyObject_GetAttr(counts, udp_hits);
    if (before == NULL) {
        return -1;
    }
    PyObject *added = PyLong_FromSsize_t(hits);
    PyObject *after = added == NULL ? NULL : PyNumber_Add(before, added);
    Py_DECREF(before);
    Py_XDECREF(added);
    if (after == NULL) {
        return -1;
    }
    int failed = PyObject_SetAttr(counts, udp_hits, after);
    Py_DECREF(after);
    return failed;
}

PyDoc_STRVAR(answer_doc,
"answer(fd, received, sending, batch, exact, counts) -> (count, misses, sent)\n\n"
"Receive up to `batch` datagrams on `fd` with recvmmsg into the mmsghdr array at\n"
"address `received`. Where `exact` (a dict) holds a datagram's bytes after its ID,\n"
"write that stored reply after the ID and set the length of the datagram's entry in\n"
"the mmsghdr array at `sending`; add the number of such hits to `counts.udp_hits`.\n"
"When every datagram was a hit, send the batch with sendmmsg.\n\n"
"`count` is the number received, or minus errno when recvmmsg failed; `misses` the\n"
"slots left to the slow path, in order (an empty tuple when none); `sent` how many\n"
"replies sendmmsg took (0 when there were misses or it took none): the caller sends\n"
"the rest.");

static PyObject *
answer(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_Format(PyExc_TypeError, "answer() takes 6 arguments (%zd given)", nargs);
        return NULL;
    }
    long fd = PyLong_AsLong(args[0]);
    if (fd == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (fd < 0 || fd > INT_MAX) {
        PyErr_SetString(PyExc_ValueError, "not a file descriptor");
        return NULL;
    }
    struct mmsghdr *received = address(args[1]);
    if (received == NULL) {
        return NULL;
    }
    struct mmsghdr *sending = address(args[2]);
    if (sending == NULL) {
        return NULL;
    }
    long batch = PyLong_AsLong(args[3]);
    if (batch == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (batch <= 0 || batch > 1024) {  /* UIO_MAXIOV: more is never received at once */
        PyErr_SetString(PyExc_ValueError, "batch must be 1 to 1024");
        return NULL;
    }
    PyObject *exact = args[4], *counts = args[5];
    if (!PyDict_Check(exact)) {
        PyErr_SetString(PyExc_TypeError, "exact must be a dict");
        return NULL;
    }

    int count = recvmmsg((int)fd, received, (unsigned int)batch, MSG_DONTWAIT, NULL);
    if (count <= 0) {
        return Py_BuildValue("(i()i)", count < 0 ? -errno : 0, 0);
    }
    Py_ssize_t hits = 0;
    PyObject *misses = NULL;  /* a list, made at the first miss */
    for (int i = 0; i < count; i++) {
        struct iovec *in = received[i].msg_hdr.msg_iov;
        char *slot = in->iov_base;
        unsigned int length = received[i].msg_len;
        PyObject *stored = NULL;  /* borrowed from `exact` */
        if (length > 2) {  /* an ID alone, or less, is never stored */
            PyObject *key = PyBytes_FromStringAndSize(slot + 2, length - 2);
            if (key == NULL) {
                goto failed;
            }
            stored = PyDict_GetItemWithError(exact, key);
            Py_DECREF(key);
            if (stored == NULL && PyErr_Occurred()) {
                goto failed;
            }
        }
        /* A reply that would not fit its slot (none does) goes the slow way, never
           past the end of the buffer. */
        if (stored != NULL && PyBytes_Check(stored)
                && (size_t)PyBytes_GET_SIZE(stored) <= in->iov_len - 2) {
            size_t size = (size_t)PyBytes_GET_SIZE(stored);
            memcpy(slot + 2, PyBytes_AS_STRING(stored), size);
            sending[i].msg_hdr.msg_iov->iov_len = size + 2;
            hits++;
            continue;
        }
        if (misses == NULL && (misses = PyList_New(0)) == NULL) {
            goto failed;
        }
        PyObject *number = PyLong_FromLong(i);
        if (number == NULL || PyList_Append(misses, number) < 0) {
            Py_XDECREF(number);
            goto failed;
        }
        Py_DECREF(number);
    }
    /* Counted before any reply leaves, as the Python loop counts. */
    if (hits && count_hits(counts, hits) < 0) {
        goto failed;
    }
    int sent = 0;
    if (misses == NULL) {
        sent = sendmmsg((int)fd, sending, (unsigned int)count, MSG_DONTWAIT);
        if (sent < 0) {
            sent = 0;  /* the caller's own send sees the error again and handles it */
        }
        return Py_BuildValue("(i()i)", count, sent);
    }
    return Py_BuildValue("(iNi)", count, misses, sent);

failed:
    Py_XDECREF(misses);
    return NULL;
}

static PyMethodDef methods[] = {
    {"answer", (PyCFunction)(void (*)(void))answer, METH_FASTCALL, answer_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "clusterdns.serve._batchloop",
    .m_doc = "One wake-up of the batched UDP path in C (see batch.py).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__batchloop(void)
{
    udp_hits = PyUnicode_InternFromString("udp_hits");
    if (udp_hits == NULL) {
        return NULL;
    }
    return PyModule_Create(&module);
}
