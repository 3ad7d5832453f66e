/* Stored UDP replies answered by a thread of their own, without the interpreter lock.
 *
 * Every thread of a Python process takes turns on one lock. A reload builds its zone on
 * another thread, and some of its single steps (a dict growing past 200,000 names, a
 * 15 MB file decoded, a big structure freed when a function returns) hold the lock for
 * 5 to 40 ms at a time: an event loop that answered every datagram itself made each
 * in-zone answer wait that long. Here a native thread per UDP socket receives, answers
 * what the table of stored replies holds and sends, and never takes the lock; only the
 * datagrams it has no reply for are handed to the event loop (batch.py), which answers
 * them the slow way. At saturation this also costs less than a Python callback per
 * wake-up.
 *
 * `ReplyTable` is the stored-reply table for UDP (packed.py): query bytes after the ID
 * to reply bytes after the ID, kept in C memory, first-in-first-out at its limit, with
 * a mutex that neither side holds for more than a copy. `Answerer` is the thread.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define SLOT 65536            /* bytes per datagram: the largest UDP payload fits */
#define BATCH 64              /* datagrams per wake-up at most */
#define WAITING_MAX 1024      /* datagrams waiting for the event loop at most ... */
#define WAITING_BYTES (4 << 20)  /* ... and their bytes: then reading pauses */

/* ---- a keyed hash, so that no client can choose names that share one chain ---- */

static uint64_t hash_key[2];

#define ROTATE(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIP_ROUND                                                   \
    do {                                                            \
        v0 += v1; v1 = ROTATE(v1, 13); v1 ^= v0; v0 = ROTATE(v0, 32); \
        v2 += v3; v3 = ROTATE(v3, 16); v3 ^= v2;                    \
        v0 += v3; v3 = ROTATE(v3, 21); v3 ^= v0;                    \
        v2 += v1; v1 = ROTATE(v1, 17); v1 ^= v2; v2 = ROTATE(v2, 32); \
    } while (0)

/* SipHash-1-3 (one compression round, three finalisation rounds), as Python's own
 * bytes hash: fast on short keys, and unpredictable without the key. */
static uint64_t
keyed_hash(const unsigned char *in, size_t size)
{
    uint64_t v0 = 0x736f6d6570736575ULL ^ hash_key[0];
    uint64_t v1 = 0x646f72616e646f6dULL ^ hash_key[1];
    uint64_t v2 = 0x6c7967656e657261ULL ^ hash_key[0];
    uint64_t v3 = 0x7465646279746573ULL ^ hash_key[1];
    const unsigned char *end = in + (size & ~(size_t)7);
    for (; in < end; in += 8) {
        uint64_t word;
        memcpy(&word, in, 8);
        v3 ^= word;
        SIP_ROUND;
        v0 ^= word;
    }
    uint64_t last = (uint64_t)size << 56;
    for (size_t i = 0; i < (size & 7); i++) {
        last |= (uint64_t)in[i] << (8 * i);
    }
    v3 ^= last;
    SIP_ROUND;
    v0 ^= last;
    v2 ^= 0xff;
    SIP_ROUND;
    SIP_ROUND;
    SIP_ROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- ReplyTable ---- */

typedef struct entry {
    struct entry *next;  /* the next entry in the same bucket */
    uint64_t hash;
    uint32_t key_size, value_size;
    uint32_t position;   /* where the entry is in the table's arrival order */
    unsigned char bytes[];  /* the key, then the value */
} entry;

typedef struct {
    PyObject_HEAD
    pthread_mutex_t lock;
    entry **buckets;
    size_t mask;        /* buckets - 1: their number is a power of two */
    entry **order;      /* a ring of `limit` entries, oldest at `oldest` */
    uint32_t limit, oldest, count;
    int paused;         /* the answering threads find nothing: a metrics sample */
} ReplyTable;

static PyTypeObject ReplyTableType;

/* A zeroed array of `count` pointers; NULL when out of memory. */
static entry **
pointers(size_t count)
{
    return calloc(count, sizeof(entry *));
}

/* The entry stored under `key`, or NULL. The caller holds `lock`. */
static entry *
find(ReplyTable *self, const unsigned char *key, size_t size, uint64_t hash)
{
    for (entry *e = self->buckets[hash & self->mask]; e != NULL; e = e->next) {
        if (e->hash == hash && e->key_size == size && memcmp(e->bytes, key, size) == 0) {
            return e;
        }
    }
    return NULL;
}

/* Take `e` out of its bucket's chain. The caller holds `lock`. */
static void
unlink_entry(ReplyTable *self, entry *e)
{
    entry **at = &self->buckets[e->hash & self->mask];
    while (*at != e) {
        at = &(*at)->next;
    }
    *at = e->next;
}

static int
table_init(ReplyTable *self, PyObject *args, PyObject *kwds)
{
    static char *keywords[] = {"limit", NULL};
    Py_ssize_t limit;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "n", keywords, &limit)) {
        return -1;
    }
    if (self->buckets != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "a ReplyTable is initialised once");
        return -1;
    }
    if (limit < 1 || limit > (1 << 24)) {
        PyErr_SetString(PyExc_ValueError, "limit must be 1 to 16777216");
        return -1;
    }
    size_t buckets = 1;
    while (buckets < 2 * (size_t)limit) {
        buckets <<= 1;
    }
    self->buckets = pointers(buckets);
    self->order = pointers((size_t)limit);
    if (self->buckets == NULL || self->order == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->mask = buckets - 1;
    self->limit = (uint32_t)limit;
    pthread_mutex_init(&self->lock, NULL);
    return 0;
}

/* Free the `count` entries of `order` from `oldest` on, and both arrays. */
static void
free_entries(entry **buckets, entry **order, uint32_t limit, uint32_t oldest, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        free(order[(oldest + i) % limit]);
    }
    free(order);
    free(buckets);
}

static void
table_dealloc(ReplyTable *self)
{
    if (self->buckets != NULL) {
        free_entries(self->buckets, self->order, self->limit, self->oldest, self->count);
        pthread_mutex_destroy(&self->lock);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
ready(ReplyTable *self)
{
    if (self->buckets == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the ReplyTable was not initialised");
        return 0;
    }
    return 1;
}

PyDoc_STRVAR(get_doc, "get(key) -> bytes | None: the reply stored for `key`.");

static PyObject *
table_get(ReplyTable *self, PyObject *key)
{
    if (!ready(self)) {
        return NULL;
    }
    if (!PyBytes_Check(key)) {
        PyErr_SetString(PyExc_TypeError, "keys are bytes");
        return NULL;
    }
    const unsigned char *bytes = (const unsigned char *)PyBytes_AS_STRING(key);
    size_t size = (size_t)PyBytes_GET_SIZE(key);
    uint64_t hash = keyed_hash(bytes, size);
    PyObject *value = NULL;
    pthread_mutex_lock(&self->lock);
    entry *e = find(self, bytes, size, hash);
    if (e != NULL) {
        value = PyBytes_FromStringAndSize((const char *)e->bytes + e->key_size, e->value_size);
    }
    pthread_mutex_unlock(&self->lock);
    if (e == NULL) {
        Py_RETURN_NONE;
    }
    return value;
}

PyDoc_STRVAR(put_doc,
"put(key, value): store `value` under `key`; at the limit the oldest entry makes room.");

static PyObject *
table_put(ReplyTable *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (!ready(self)) {
        return NULL;
    }
    if (nargs != 2 || !PyBytes_Check(args[0]) || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "put(key, value) takes two bytes");
        return NULL;
    }
    size_t key_size = (size_t)PyBytes_GET_SIZE(args[0]);
    size_t value_size = (size_t)PyBytes_GET_SIZE(args[1]);
    if (key_size > SLOT || value_size > SLOT) {
        PyErr_SetString(PyExc_ValueError, "a key or value longer than a datagram");
        return NULL;
    }
    entry *e = malloc(sizeof(entry) + key_size + value_size);
    if (e == NULL) {
        return PyErr_NoMemory();
    }
    memcpy(e->bytes, PyBytes_AS_STRING(args[0]), key_size);
    memcpy(e->bytes + key_size, PyBytes_AS_STRING(args[1]), value_size);
    e->hash = keyed_hash(e->bytes, key_size);
    e->key_size = (uint32_t)key_size;
    e->value_size = (uint32_t)value_size;
    entry *gone = NULL;
    pthread_mutex_lock(&self->lock);
    entry *old = find(self, e->bytes, key_size, e->hash);
    if (old != NULL) {  /* a new reply for the same key keeps the old one's place */
        unlink_entry(self, old);
        e->position = old->position;
        gone = old;
    }
    else {
        if (self->count == self->limit) {
            gone = self->order[self->oldest];
            unlink_entry(self, gone);
            self->oldest = (self->oldest + 1) % self->limit;
            self->count--;
        }
        e->position = (self->oldest + self->count) % self->limit;
        self->count++;
    }
    self->order[e->position] = e;
    entry **bucket = &self->buckets[e->hash & self->mask];
    e->next = *bucket;
    *bucket = e;
    pthread_mutex_unlock(&self->lock);
    free(gone);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(clear_doc,
"clear(): forget every entry. The memory is freed without the interpreter lock.");

static PyObject *
table_clear(ReplyTable *self, PyObject *Py_UNUSED(ignored))
{
    if (!ready(self)) {
        return NULL;
    }
    entry **buckets = pointers(self->mask + 1), **order = pointers(self->limit);
    if (buckets == NULL || order == NULL) {
        free(buckets);
        free(order);
        return PyErr_NoMemory();
    }
    pthread_mutex_lock(&self->lock);
    entry **old_buckets = self->buckets, **old_order = self->order;
    uint32_t oldest = self->oldest, count = self->count;
    self->buckets = buckets;
    self->order = order;
    self->oldest = self->count = 0;
    pthread_mutex_unlock(&self->lock);
    Py_BEGIN_ALLOW_THREADS
    free_entries(old_buckets, old_order, self->limit, oldest, count);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static Py_ssize_t
table_length(ReplyTable *self)
{
    if (!ready(self)) {
        return -1;
    }
    pthread_mutex_lock(&self->lock);
    Py_ssize_t count = self->count;
    pthread_mutex_unlock(&self->lock);
    return count;
}

static int
table_contains(ReplyTable *self, PyObject *key)
{
    PyObject *value = table_get(self, key);
    if (value == NULL) {
        return -1;
    }
    int found = value != Py_None;
    Py_DECREF(value);
    return found;
}

static PyObject *
table_get_paused(ReplyTable *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(__atomic_load_n(&self->paused, __ATOMIC_RELAXED));
}

static int
table_set_paused(ReplyTable *self, PyObject *value, void *Py_UNUSED(closure))
{
    int on = value == NULL ? 0 : PyObject_IsTrue(value);
    if (on < 0) {
        return -1;
    }
    __atomic_store_n(&self->paused, on, __ATOMIC_RELAXED);
    return 0;
}

static PyObject *
table_get_limit(ReplyTable *self, void *Py_UNUSED(closure))
{
    return PyLong_FromUnsignedLong(self->limit);
}

static PyMethodDef table_methods[] = {
    {"get", (PyCFunction)table_get, METH_O, get_doc},
    {"put", (PyCFunction)(void (*)(void))table_put, METH_FASTCALL, put_doc},
    {"clear", (PyCFunction)table_clear, METH_NOARGS, clear_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef table_getset[] = {
    {"paused", (getter)table_get_paused, (setter)table_set_paused,
     "While true the answering threads find nothing here: every reply is counted "
     "in full by the event loop (a metrics sample).", NULL},
    {"limit", (getter)table_get_limit, NULL, "Entries kept at most.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods table_sequence = {
    .sq_length = (lenfunc)table_length,
    .sq_contains = (objobjproc)table_contains,
};

static PyTypeObject ReplyTableType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "clusterdns.serve._batchloop.ReplyTable",
    .tp_doc = PyDoc_STR("ReplyTable(limit): stored UDP replies, in C memory, shared with "
                        "the answering threads."),
    .tp_basicsize = sizeof(ReplyTable),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)table_init,
    .tp_dealloc = (destructor)table_dealloc,
    .tp_methods = table_methods,
    .tp_getset = table_getset,
    .tp_as_sequence = &table_sequence,
};

/* ---- Answerer ---- */

typedef struct waiting {
    uint32_t size, name_size;
    struct sockaddr_storage name;
    unsigned char data[];
} waiting;

typedef struct {
    PyObject_HEAD
    ReplyTable *table;       /* a strong reference, kept until the thread has ended */
    int fd, wake, stop;      /* the socket; eventfds: misses wait, the thread must end */
    int running;
    pthread_t thread;
    pthread_mutex_t queue_lock;
    pthread_cond_t drained;  /* the event loop took some: there may be room */
    int stopping;            /* set under queue_lock; read atomically by the thread */
    waiting *queue[WAITING_MAX];
    uint32_t first, queued;
    size_t queued_bytes;
    int addressed;           /* an IP socket: replies go to the sender's address */
    uint64_t hits, received, sent;  /* atomics: the thread adds, Python reads */
    uint32_t unsent;         /* atomic: replies the socket has not taken yet */
    unsigned char *buffer;   /* BATCH slots of SLOT bytes, mapped lazily */
    struct sockaddr_storage names[BATCH];
    struct iovec in_iov[BATCH], out_iov[BATCH];
    struct mmsghdr in[BATCH], out[BATCH];
} Answerer;

static void
add(uint64_t *counter, uint64_t amount)
{
    __atomic_add_fetch(counter, amount, __ATOMIC_RELAXED);
}

/* Hand datagram `i` to the event loop; 0 when the answerer is stopping. Waits while
 * the queue is full, so reading pauses and the kernel keeps what comes meanwhile. */
static int
hand_over(Answerer *self, int i)
{
    uint32_t size = self->in[i].msg_len;
    waiting *w = malloc(sizeof(waiting) + size);
    if (w == NULL) {
        return 1;  /* dropped, as the kernel drops a datagram it has no room for */
    }
    w->size = size;
    w->name_size = self->in[i].msg_hdr.msg_namelen;
    if (w->name_size > sizeof(w->name)) {
        w->name_size = sizeof(w->name);
    }
    memcpy(&w->name, &self->names[i], w->name_size);
    memcpy(w->data, self->buffer + (size_t)i * SLOT, size);
    pthread_mutex_lock(&self->queue_lock);
    while (!self->stopping && (self->queued == WAITING_MAX
           || (self->queued > 0 && self->queued_bytes + size > WAITING_BYTES))) {
        pthread_cond_wait(&self->drained, &self->queue_lock);
    }
    int stopping = self->stopping;
    if (!stopping) {
        self->queue[(self->first + self->queued) % WAITING_MAX] = w;
        self->queued_bytes += size;
        if (self->queued++ == 0) {
            uint64_t one = 1;
            ssize_t written = write(self->wake, &one, sizeof(one));
            (void)written;  /* an eventfd's counter cannot overflow from this */
        }
    }
    pthread_mutex_unlock(&self->queue_lock);
    if (stopping) {
        free(w);
    }
    return !stopping;
}

/* Wait until `fd` can take a send, or the answerer must stop (then 0). */
static int
writable(Answerer *self)
{
    struct pollfd fds[2] = {{self->fd, POLLOUT, 0}, {self->stop, POLLIN, 0}};
    while (poll(fds, 2, -1) < 0) {
        if (errno != EINTR) {
            return 0;
        }
    }
    return !(fds[1].revents & POLLIN) && !(fds[0].revents & POLLNVAL);
}

/* Send the `count` replies set up in `out`, in order; 0 when the answerer must stop. */
static int
send_all(Answerer *self, int count)
{
    int done = 0;
    while (done < count) {
        __atomic_store_n(&self->unsent, (uint32_t)(count - done), __ATOMIC_RELAXED);
        int sent = sendmmsg(self->fd, self->out + done, (unsigned int)(count - done),
                            MSG_DONTWAIT);
        if (sent > 0) {
            done += sent;
            add(&self->sent, (uint64_t)sent);
        }
        else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            if (!writable(self)) {
                return 0;
            }
        }
        else {
            done++;  /* that reply cannot be sent at all: lost, as a datagram is */
        }
    }
    __atomic_store_n(&self->unsent, 0, __ATOMIC_RELAXED);
    return 1;
}

/* One wake-up: receive, answer what is stored, hand the rest over, send. The number
 * received (0 when there was nothing), or -1 when the answerer must stop. */
static int
answer_batch(Answerer *self)
{
    for (int i = 0; i < BATCH; i++) {
        self->in[i].msg_hdr.msg_namelen = sizeof(self->names[i]);
    }
    int count = recvmmsg(self->fd, self->in, BATCH, MSG_DONTWAIT, NULL);
    if (count <= 0) {
        return 0;  /* EAGAIN (another worker took them), EINTR, or an ICMP error */
    }
    add(&self->received, (uint64_t)count);
    int hits = 0, misses[BATCH], missed = 0;
    ReplyTable *table = self->table;
    int paused = __atomic_load_n(&table->paused, __ATOMIC_RELAXED);
    /* Hashed before the lock is taken: the event loop's stores wait only for lookups. */
    uint64_t hashes[BATCH];
    for (int i = 0; i < count; i++) {
        size_t size = self->in[i].msg_len;
        hashes[i] = size > 2 ? keyed_hash(self->buffer + (size_t)i * SLOT + 2, size - 2) : 0;
    }
    pthread_mutex_lock(&table->lock);
    for (int i = 0; i < count; i++) {
        unsigned char *slot = self->buffer + (size_t)i * SLOT;
        size_t size = self->in[i].msg_len;
        entry *e = NULL;
        if (!paused && size > 2) {  /* an ID alone, or less, is never stored */
            e = find(table, slot + 2, size - 2, hashes[i]);
        }
        if (e == NULL || e->value_size > SLOT - 2) {
            misses[missed++] = i;
            continue;
        }
        memcpy(slot + 2, e->bytes + e->key_size, e->value_size);
        self->out_iov[hits].iov_base = slot;
        self->out_iov[hits].iov_len = e->value_size + 2;
        if (self->addressed) {  /* else the peer of a connected socket */
            self->out[hits].msg_hdr.msg_name = &self->names[i];
            self->out[hits].msg_hdr.msg_namelen = self->in[i].msg_hdr.msg_namelen;
        }
        hits++;
    }
    pthread_mutex_unlock(&table->lock);
    add(&self->hits, (uint64_t)hits);  /* counted before any reply leaves */
    for (int m = 0; m < missed; m++) {
        if (!hand_over(self, misses[m])) {
            return -1;
        }
    }
    return send_all(self, hits) ? count : -1;
}

static void *
run(void *argument)
{
    Answerer *self = argument;
    struct pollfd fds[2] = {{self->fd, POLLIN, 0}, {self->stop, POLLIN, 0}};
    int full = 0;  /* the last wake-up took a whole batch: more is likely waiting */
    for (;;) {
        if (full) {  /* straight to the next batch: a poll would return at once */
            if (__atomic_load_n(&self->stopping, __ATOMIC_RELAXED)) {
                break;
            }
        }
        else {
            if (poll(fds, 2, -1) < 0) {
                if (errno == EINTR) {
                    continue;
                }
                break;
            }
            if ((fds[1].revents & POLLIN) || (fds[0].revents & POLLNVAL)) {
                break;
            }
        }
        int count = answer_batch(self);
        if (count < 0) {
            break;
        }
        full = count == BATCH;
    }
    return NULL;
}

static void
close_descriptors(Answerer *self)
{
    if (self->wake >= 0) {
        close(self->wake);
        self->wake = -1;
    }
    if (self->stop >= 0) {
        close(self->stop);
        self->stop = -1;
    }
}

/* End the thread and wait for it; the table and the socket stay the caller's. */
static void
stop_thread(Answerer *self)
{
    if (!self->running) {
        return;
    }
    pthread_mutex_lock(&self->queue_lock);
    __atomic_store_n(&self->stopping, 1, __ATOMIC_RELAXED);
    pthread_cond_broadcast(&self->drained);
    pthread_mutex_unlock(&self->queue_lock);
    uint64_t one = 1;
    ssize_t written = write(self->stop, &one, sizeof(one));
    (void)written;
    Py_BEGIN_ALLOW_THREADS
    pthread_join(self->thread, NULL);
    Py_END_ALLOW_THREADS
    self->running = 0;
}

static int
answerer_init(Answerer *self, PyObject *args, PyObject *kwds)
{
    static char *keywords[] = {"fd", "table", NULL};
    int fd;
    PyObject *table;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iO!", keywords, &fd, &ReplyTableType,
                                     &table)) {
        return -1;
    }
    if (self->table != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "an Answerer is initialised once");
        return -1;
    }
    if (!ready((ReplyTable *)table)) {
        return -1;
    }
    if (fd < 0) {
        PyErr_SetString(PyExc_ValueError, "not a file descriptor");
        return -1;
    }
    void *buffer = mmap(NULL, (size_t)BATCH * SLOT, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buffer == MAP_FAILED) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    self->buffer = buffer;
    self->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    self->stop = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->wake < 0 || self->stop < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    struct sockaddr_storage bound;
    socklen_t bound_size = sizeof(bound);
    if (getsockname(fd, (struct sockaddr *)&bound, &bound_size) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    self->addressed = bound.ss_family == AF_INET || bound.ss_family == AF_INET6;
    Py_INCREF(table);
    self->table = (ReplyTable *)table;
    self->fd = fd;
    for (int i = 0; i < BATCH; i++) {
        self->in_iov[i].iov_base = self->buffer + (size_t)i * SLOT;
        self->in_iov[i].iov_len = SLOT;
        self->in[i].msg_hdr.msg_name = &self->names[i];
        self->in[i].msg_hdr.msg_iov = &self->in_iov[i];
        self->in[i].msg_hdr.msg_iovlen = 1;
        self->out[i].msg_hdr.msg_iov = &self->out_iov[i];
        self->out[i].msg_hdr.msg_iovlen = 1;
    }
    pthread_mutex_init(&self->queue_lock, NULL);
    pthread_cond_init(&self->drained, NULL);
    /* Signals stay with Python's threads: the new one starts with all of them blocked. */
    sigset_t all, before;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &before);
    int failed = pthread_create(&self->thread, NULL, run, self);
    pthread_sigmask(SIG_SETMASK, &before, NULL);
    if (failed) {
        errno = failed;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    self->running = 1;
    return 0;
}

/* No descriptor is open until `answerer_init` opens it: -1, never 0 (standard input). */
static PyObject *
answerer_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    Answerer *self = (Answerer *)PyType_GenericNew(type, args, kwds);
    if (self != NULL) {
        self->fd = self->wake = self->stop = -1;
    }
    return (PyObject *)self;
}

static void
answerer_dealloc(Answerer *self)
{
    stop_thread(self);
    if (self->table != NULL) {
        for (uint32_t i = 0; i < self->queued; i++) {
            free(self->queue[(self->first + i) % WAITING_MAX]);
        }
        pthread_cond_destroy(&self->drained);
        pthread_mutex_destroy(&self->queue_lock);
        Py_CLEAR(self->table);
    }
    close_descriptors(self);
    if (self->buffer != NULL) {
        munmap(self->buffer, (size_t)BATCH * SLOT);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

PyDoc_STRVAR(take_doc,
"take(most) -> list[tuple[bytes, bytes]]: up to `most` datagrams the thread had no\n"
"stored reply for, oldest first, each with its sender's address (a sockaddr). The\n"
"`wake` descriptor is readable exactly while some wait.");

static PyObject *
answerer_take(Answerer *self, PyObject *argument)
{
    if (self->table == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the Answerer was not initialised");
        return NULL;
    }
    long most = PyLong_AsLong(argument);
    if (most == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (most < 1 || most > WAITING_MAX) {
        PyErr_SetString(PyExc_ValueError, "take 1 to 1024");
        return NULL;
    }
    waiting *taken[WAITING_MAX];
    uint32_t count = 0;
    pthread_mutex_lock(&self->queue_lock);
    while (count < (uint32_t)most && self->queued > 0) {
        waiting *w = self->queue[self->first];
        self->first = (self->first + 1) % WAITING_MAX;
        self->queued--;
        self->queued_bytes -= w->size;
        taken[count++] = w;
    }
    if (self->queued == 0 && self->wake >= 0) {
        uint64_t counter;
        ssize_t got = read(self->wake, &counter, sizeof(counter));
        (void)got;  /* EAGAIN when it was already read: it is reset either way */
    }
    if (count) {
        pthread_cond_broadcast(&self->drained);
    }
    pthread_mutex_unlock(&self->queue_lock);
    PyObject *list = PyList_New(count);
    for (uint32_t i = 0; i < count; i++) {
        waiting *w = taken[i];
        if (list != NULL) {
            PyObject *item = Py_BuildValue("(y#y#)", (const char *)w->data, (Py_ssize_t)w->size,
                                           (const char *)&w->name, (Py_ssize_t)w->name_size);
            if (item == NULL) {
                Py_CLEAR(list);
            }
            else {
                PyList_SET_ITEM(list, i, item);
            }
        }
        free(w);
    }
    return list;
}

PyDoc_STRVAR(close_doc,
"close(): end the thread and wait for it. Datagrams still waiting are dropped; the\n"
"socket stays open (it is the caller's).");

static PyObject *
answerer_close(Answerer *self, PyObject *Py_UNUSED(ignored))
{
    stop_thread(self);
    close_descriptors(self);
    Py_RETURN_NONE;
}

static PyObject *
counter(uint64_t *value)
{
    return PyLong_FromUnsignedLongLong(__atomic_load_n(value, __ATOMIC_RELAXED));
}

static PyObject *
answerer_get_hits(Answerer *self, void *Py_UNUSED(closure))
{
    return counter(&self->hits);
}

static PyObject *
answerer_get_received(Answerer *self, void *Py_UNUSED(closure))
{
    return counter(&self->received);
}

static PyObject *
answerer_get_sent(Answerer *self, void *Py_UNUSED(closure))
{
    return counter(&self->sent);
}

static PyObject *
answerer_get_unsent(Answerer *self, void *Py_UNUSED(closure))
{
    return PyLong_FromUnsignedLong(__atomic_load_n(&self->unsent, __ATOMIC_RELAXED));
}

static PyObject *
answerer_get_wake(Answerer *self, void *Py_UNUSED(closure))
{
    return PyLong_FromLong(self->wake);
}

static PyMethodDef answerer_methods[] = {
    {"take", (PyCFunction)answerer_take, METH_O, take_doc},
    {"close", (PyCFunction)answerer_close, METH_NOARGS, close_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef answerer_getset[] = {
    {"hits", (getter)answerer_get_hits, NULL, "Stored replies this thread answered.", NULL},
    {"received", (getter)answerer_get_received, NULL, "Datagrams it received.", NULL},
    {"sent", (getter)answerer_get_sent, NULL, "Replies the socket took from it.", NULL},
    {"unsent", (getter)answerer_get_unsent, NULL,
     "Replies of the current batch the socket has not taken yet (it waits for room).",
     NULL},
    {"wake", (getter)answerer_get_wake, NULL,
     "An eventfd, readable while datagrams wait in `take` (-1 once closed).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject AnswererType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "clusterdns.serve._batchloop.Answerer",
    .tp_doc = PyDoc_STR("Answerer(fd, table): a native thread answering the non-blocking "
                        "UDP socket `fd` from `table`, until close()."),
    .tp_basicsize = sizeof(Answerer),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = answerer_new,
    .tp_init = (initproc)answerer_init,
    .tp_dealloc = (destructor)answerer_dealloc,
    .tp_methods = answerer_methods,
    .tp_getset = answerer_getset,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "clusterdns.serve._batchloop",
    .m_doc = "Stored UDP replies answered by native threads (see batch.py).",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__batchloop(void)
{
    if (getrandom(hash_key, sizeof(hash_key), 0) != (ssize_t)sizeof(hash_key)) {
        PyErr_SetFromErrno(PyExc_OSError);
        return NULL;
    }
    if (PyType_Ready(&ReplyTableType) < 0 || PyType_Ready(&AnswererType) < 0) {
        return NULL;
    }
    PyObject *created = PyModule_Create(&module);
    if (created == NULL) {
        return NULL;
    }
    Py_INCREF(&ReplyTableType);
    Py_INCREF(&AnswererType);
    if (PyModule_AddObject(created, "ReplyTable", (PyObject *)&ReplyTableType) < 0
            || PyModule_AddObject(created, "Answerer", (PyObject *)&AnswererType) < 0) {
        Py_DECREF(created);
        return NULL;
    }
    return created;
}
