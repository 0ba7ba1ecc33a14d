/* The counting listener's receive path in C: read each socket, and count each RTP packet's
 * header (loss, jitter, relative delay, playout buffer) without a Python call per packet.
 *
 * Counter is media_bench.client.stream_counter.StreamCounter (with quality.Playout) operation
 * for operation, so the two give the same figures bit for bit; Reader is the epoll set of the
 * counting sockets of one loop (media_bench.client.native_count), drained on a timer: each
 * packet is counted at the instant the kernel stamped it on arrival (SO_TIMESTAMPNS), so
 * reading late costs no accuracy; a socket is read a batch of datagrams per recvmmsg. Datagrams
 * that are not RTP (STUN, DTLS) and socket errors go back to Python; the server's RTCP is
 * dropped, as the Python counting path drops it. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_DATAGRAM 65535
#define BATCH 16 /* datagrams per recvmmsg */
#define BATCHES_PER_DRAIN 4
#define EVENTS_PER_WAIT 1024
#define MAX_ROUNDS 16
#define FIRST_BITS 1024

/* ---------------------------------------------------------------- Counter */

typedef struct {
    int64_t index;
    double transit;
} Fastest;

typedef struct {
    PyObject_HEAD
    /* settings (stream_counter.NATIVE_SETTINGS) */
    double sample_rate;
    int64_t relative_every;
    Py_ssize_t relative_keep;
    double playout_depth;
    int64_t playout_window;
    int64_t settle;
    /* StreamCounter */
    int64_t packets;
    int started;
    double first_arrival;
    double jitter;
    double transit;
    int64_t base_seq;
    int64_t highest;
    int has_last;
    double last_arrival;
    int64_t last_timestamp;
    double media_seconds;
    double least_transit;
    double *relative; /* ring of relative_keep */
    Py_ssize_t relative_head, relative_count;
    /* Playout */
    uint8_t *in_time; /* bitmap ring: bit (sequence & (bits - 1)), for decided < sequence <= top */
    int64_t bits;
    int64_t top;
    Fastest *fastest; /* ring of playout_window + 1 */
    Py_ssize_t fastest_head, fastest_count;
    int64_t arrivals;
    int has_decided;
    int64_t decided;
    int64_t run;
    int64_t played, concealed;
    int64_t *bursts;
    Py_ssize_t burst_count, burst_capacity;
} Counter;

static int bit_get(const Counter *c, int64_t sequence) {
    uint64_t at = (uint64_t)sequence & (uint64_t)(c->bits - 1);
    return (c->in_time[at >> 3] >> (at & 7)) & 1;
}

static void bit_set(Counter *c, int64_t sequence, int value) {
    uint64_t at = (uint64_t)sequence & (uint64_t)(c->bits - 1);
    if (value) {
        c->in_time[at >> 3] |= (uint8_t)(1u << (at & 7));
    } else {
        c->in_time[at >> 3] &= (uint8_t)~(1u << (at & 7));
    }
}

/* Make room in the bitmap for every sequence in (decided, upto]. */
static int bits_reach(Counter *c, int64_t upto) {
    if (upto - c->decided <= c->bits) {
        return 0;
    }
    int64_t bits = c->bits;
    while (upto - c->decided > bits) {
        bits *= 2;
    }
    uint8_t *grown = PyMem_Calloc((size_t)(bits / 8), 1);
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (int64_t s = c->decided + 1; s <= c->top; s++) {
        if (bit_get(c, s)) {
            uint64_t at = (uint64_t)s & (uint64_t)(bits - 1);
            grown[at >> 3] |= (uint8_t)(1u << (at & 7));
        }
    }
    PyMem_Free(c->in_time);
    c->in_time = grown;
    c->bits = bits;
    return 0;
}

/* quality.Playout.arrive */
static int playout_arrive(Counter *c, int64_t sequence, double transit) {
    int64_t index = ++c->arrivals;
    Py_ssize_t capacity = (Py_ssize_t)c->playout_window + 1;
    while (c->fastest_count > 0) {
        Fastest *last = &c->fastest[(c->fastest_head + c->fastest_count - 1) % capacity];
        if (last->transit >= transit) {
            c->fastest_count--;
        } else {
            break;
        }
    }
    Fastest *slot = &c->fastest[(c->fastest_head + c->fastest_count) % capacity];
    slot->index = index;
    slot->transit = transit;
    c->fastest_count++;
    while (c->fastest[c->fastest_head].index <= index - c->playout_window) {
        c->fastest_head = (c->fastest_head + 1) % capacity;
        c->fastest_count--;
    }
    if (!c->has_decided) {
        c->has_decided = 1;
        c->decided = sequence - 1;
        c->top = c->decided;
    }
    if (sequence <= c->decided) {
        return 0; /* decided already: far too late, or a duplicate */
    }
    if (transit - c->fastest[c->fastest_head].transit <= c->playout_depth) {
        if (bits_reach(c, sequence) < 0) {
            return -1;
        }
        bit_set(c, sequence, 1);
        if (sequence > c->top) {
            c->top = sequence;
        }
    }
    return 0;
}

static int add_burst(Counter *c, int64_t length) {
    if (c->burst_count == c->burst_capacity) {
        Py_ssize_t capacity = c->burst_capacity ? 2 * c->burst_capacity : 64;
        int64_t *grown = PyMem_Realloc(c->bursts, (size_t)capacity * sizeof(int64_t));
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        c->bursts = grown;
        c->burst_capacity = capacity;
    }
    c->bursts[c->burst_count++] = length;
    return 0;
}

/* quality.Playout.settle */
static int playout_settle(Counter *c, int64_t highest) {
    if (!c->has_decided) {
        return 0;
    }
    for (int64_t s = c->decided + 1; s <= highest - c->settle; s++) {
        if (s <= c->top && bit_get(c, s)) {
            bit_set(c, s, 0);
            c->played++;
            if (c->run) {
                if (add_burst(c, c->run) < 0) {
                    return -1;
                }
                c->run = 0;
            }
        } else {
            c->concealed++;
            c->run++;
        }
    }
    if (highest - c->settle > c->decided) {
        c->decided = highest - c->settle;
        if (c->top < c->decided) {
            c->top = c->decided;
        }
    }
    return 0;
}

/* StreamCounter.on_header: 1 for the stream's first packet, 0 otherwise, -1 on error */
static int count_header(Counter *c, long sequence, uint32_t timestamp, double now) {
    int64_t extended;
    int first = !c->started;
    c->packets++;
    if (first) {
        c->started = 1;
        c->first_arrival = now;
        c->base_seq = c->highest = extended = sequence;
    } else {
        int64_t ahead = (sequence - c->highest) & 0xFFFF; /* a late packet wraps to >= 0x8000 */
        if (ahead < 0x8000) {
            c->highest += ahead;
            extended = c->highest;
        } else {
            extended = c->highest - (0x10000 - ahead);
        }
    }
    if (c->has_last) {
        /* RTP timestamps wrap at 2**32 (and start anywhere): take the difference signed */
        int64_t stamped =
            (int64_t)((((uint64_t)timestamp - (uint64_t)c->last_timestamp + 0x80000000u)) &
                      0xFFFFFFFFu) -
            0x80000000LL;
        double deviation = (now - c->last_arrival) - (double)stamped / c->sample_rate;
        c->jitter += (fabs(deviation) - c->jitter) / 16;
        c->transit += deviation;
        c->media_seconds += (double)stamped / c->sample_rate;
    }
    double transit = now - c->media_seconds;
    if (transit < c->least_transit) {
        c->least_transit = transit;
    }
    if (c->packets % c->relative_every == 0) {
        Py_ssize_t at = (c->relative_head + c->relative_count) % c->relative_keep;
        c->relative[at] = transit - c->least_transit;
        if (c->relative_count < c->relative_keep) {
            c->relative_count++;
        } else {
            c->relative_head = (c->relative_head + 1) % c->relative_keep;
        }
    }
    c->has_last = 1;
    c->last_arrival = now;
    c->last_timestamp = timestamp;
    if (playout_arrive(c, extended, c->transit) < 0) {
        return -1;
    }
    return first;
}

static PyObject *Counter_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    double sample_rate, playout_depth;
    long long relative_every, playout_window, settle;
    Py_ssize_t relative_keep;
    if (!PyArg_ParseTuple(args, "dLndLL", &sample_rate, &relative_every, &relative_keep,
                          &playout_depth, &playout_window, &settle)) {
        return NULL;
    }
    (void)kwargs;
    if (relative_every < 1 || relative_keep < 1 || playout_window < 1 || settle < 0) {
        PyErr_SetString(PyExc_ValueError, "counter settings out of range");
        return NULL;
    }
    Counter *c = (Counter *)type->tp_alloc(type, 0);
    if (c == NULL) {
        return NULL;
    }
    c->sample_rate = sample_rate;
    c->relative_every = relative_every;
    c->relative_keep = relative_keep;
    c->playout_depth = playout_depth;
    c->playout_window = playout_window;
    c->settle = settle;
    c->least_transit = INFINITY;
    c->highest = -1;
    c->bits = FIRST_BITS;
    c->relative = PyMem_Calloc((size_t)relative_keep, sizeof(double));
    c->in_time = PyMem_Calloc(FIRST_BITS / 8, 1);
    c->fastest = PyMem_Calloc((size_t)playout_window + 1, sizeof(Fastest));
    if (c->relative == NULL || c->in_time == NULL || c->fastest == NULL) {
        Py_DECREF(c);
        return PyErr_NoMemory();
    }
    return (PyObject *)c;
}

static void Counter_dealloc(Counter *c) {
    PyMem_Free(c->relative);
    PyMem_Free(c->in_time);
    PyMem_Free(c->fastest);
    PyMem_Free(c->bursts);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

static PyObject *Counter_on_header(Counter *c, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "on_header(sequence, timestamp, now)");
        return NULL;
    }
    long sequence = PyLong_AsLong(args[0]);
    unsigned long timestamp = PyLong_AsUnsignedLongMask(args[1]);
    double now = PyFloat_AsDouble(args[2]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    if (sequence < 0 || sequence > 0xFFFF) {
        PyErr_SetString(PyExc_ValueError, "sequence: a 16-bit RTP sequence number");
        return NULL;
    }
    int first = count_header(c, sequence, (uint32_t)timestamp, now);
    if (first < 0) {
        return NULL;
    }
    return PyBool_FromLong(first);
}

static int64_t expected(const Counter *c) {
    return c->started ? c->highest - c->base_seq + 1 : 0;
}

static PyObject *Counter_counters(Counter *c, PyObject *unused) {
    (void)unused;
    return Py_BuildValue("(LL)", (long long)c->packets, (long long)expected(c));
}

static PyObject *Counter_playout_counters(Counter *c, PyObject *unused) {
    (void)unused;
    if (playout_settle(c, c->highest) < 0) {
        return NULL;
    }
    return Py_BuildValue("(LL)", (long long)c->played, (long long)(c->played + c->concealed));
}

static PyObject *Counter_take_relative_delays(Counter *c, PyObject *unused) {
    (void)unused;
    PyObject *taken = PyList_New(c->relative_count);
    if (taken == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < c->relative_count; i++) {
        PyObject *value = PyFloat_FromDouble(c->relative[(c->relative_head + i) % c->relative_keep]);
        if (value == NULL) {
            Py_DECREF(taken);
            return NULL;
        }
        PyList_SET_ITEM(taken, i, value);
    }
    c->relative_head = 0;
    c->relative_count = 0;
    return taken;
}

static PyObject *Counter_get_first_arrival(Counter *c, void *closure) {
    (void)closure;
    if (!c->started) {
        Py_RETURN_NONE;
    }
    return PyFloat_FromDouble(c->first_arrival);
}

static PyObject *Counter_get_expected(Counter *c, void *closure) {
    (void)closure;
    return PyLong_FromLongLong(expected(c));
}

static PyObject *Counter_get_bursts(Counter *c, void *closure) {
    (void)closure;
    PyObject *bursts = PyList_New(c->burst_count);
    if (bursts == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < c->burst_count; i++) {
        PyObject *value = PyLong_FromLongLong(c->bursts[i]);
        if (value == NULL) {
            Py_DECREF(bursts);
            return NULL;
        }
        PyList_SET_ITEM(bursts, i, value);
    }
    return bursts;
}

static PyMemberDef Counter_members[] = {
    {"packets", T_LONGLONG, offsetof(Counter, packets), READONLY, NULL},
    {"jitter", T_DOUBLE, offsetof(Counter, jitter), READONLY, NULL},
    {"transit", T_DOUBLE, offsetof(Counter, transit), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef Counter_getset[] = {
    {"first_arrival", (getter)Counter_get_first_arrival, NULL, NULL, NULL},
    {"expected", (getter)Counter_get_expected, NULL, NULL, NULL},
    {"bursts", (getter)Counter_get_bursts, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef Counter_methods[] = {
    {"on_header", (PyCFunction)(void (*)(void))Counter_on_header, METH_FASTCALL, NULL},
    {"counters", (PyCFunction)Counter_counters, METH_NOARGS, NULL},
    {"playout_counters", (PyCFunction)Counter_playout_counters, METH_NOARGS, NULL},
    {"take_relative_delays", (PyCFunction)Counter_take_relative_delays, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CounterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "media_bench.client._fastcount.Counter",
    .tp_basicsize = sizeof(Counter),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Counter_new,
    .tp_dealloc = (destructor)Counter_dealloc,
    .tp_members = Counter_members,
    .tp_getset = Counter_getset,
    .tp_methods = Counter_methods,
};

/* ---------------------------------------------------------------- Reader */

typedef struct {
    PyObject_HEAD
    int epoll;
    Counter **counters; /* by descriptor */
    int size;
    unsigned char *buffer; /* BATCH slots of MAX_DATAGRAM */
    int filled; /* slots the last recvmmsg wrote into (their lengths need resetting) */
    struct mmsghdr messages[BATCH];
    struct iovec vectors[BATCH];
    struct sockaddr_storage from[BATCH];
    union {
        char space[CMSG_SPACE(sizeof(struct timespec))];
        struct cmsghdr align;
    } control[BATCH];
} Reader;

/* The kernel shrinks a received message's address and control lengths to what it wrote:
 * give the first n slots their full sizes back before the next recvmmsg. */
static void reset_slots(Reader *r, int n) {
    for (int k = 0; k < n; k++) {
        r->messages[k].msg_hdr.msg_namelen = sizeof(r->from[k]);
        r->messages[k].msg_hdr.msg_controllen = sizeof(r->control[k].space);
    }
}

static PyObject *Reader_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    (void)args;
    (void)kwargs;
    Reader *r = (Reader *)type->tp_alloc(type, 0);
    if (r == NULL) {
        return NULL;
    }
    r->epoll = -1;
    r->buffer = PyMem_Malloc((size_t)BATCH * MAX_DATAGRAM);
    if (r->buffer == NULL) {
        Py_DECREF(r);
        return PyErr_NoMemory();
    }
    for (int k = 0; k < BATCH; k++) { /* each slot points at its own buffers, once */
        r->vectors[k] = (struct iovec){.iov_base = r->buffer + (size_t)k * MAX_DATAGRAM,
                                       .iov_len = MAX_DATAGRAM};
        r->messages[k].msg_hdr = (struct msghdr){
            .msg_name = &r->from[k], .msg_iov = &r->vectors[k], .msg_iovlen = 1,
            .msg_control = r->control[k].space,
        };
    }
    r->filled = BATCH;
    r->epoll = epoll_create1(EPOLL_CLOEXEC);
    if (r->epoll < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        Py_DECREF(r);
        return NULL;
    }
    return (PyObject *)r;
}

static void Reader_clear_all(Reader *r) {
    for (int fd = 0; fd < r->size; fd++) {
        Py_CLEAR(r->counters[fd]);
    }
}

static void Reader_dealloc(Reader *r) {
    if (r->counters != NULL) {
        Reader_clear_all(r);
        PyMem_Free(r->counters);
    }
    if (r->epoll >= 0) {
        close(r->epoll);
    }
    PyMem_Free(r->buffer);
    Py_TYPE(r)->tp_free((PyObject *)r);
}

static PyObject *Reader_fileno(Reader *r, PyObject *unused) {
    (void)unused;
    return PyLong_FromLong(r->epoll);
}

/* add(fd, counter): count the RTP datagrams of socket fd into counter */
static PyObject *Reader_add(Reader *r, PyObject *args) {
    int fd;
    PyObject *counter;
    if (!PyArg_ParseTuple(args, "iO!", &fd, &CounterType, &counter)) {
        return NULL;
    }
    if (fd < 0) {
        PyErr_SetString(PyExc_ValueError, "fd: a descriptor is >= 0");
        return NULL;
    }
    if (fd >= r->size) {
        int size = r->size ? r->size : 256;
        while (size <= fd) {
            size *= 2;
        }
        Counter **grown = PyMem_Realloc(r->counters, (size_t)size * sizeof(Counter *));
        if (grown == NULL) {
            return PyErr_NoMemory();
        }
        memset(grown + r->size, 0, (size_t)(size - r->size) * sizeof(Counter *));
        r->counters = grown;
        r->size = size;
    }
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)) < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    struct epoll_event event = {.events = EPOLLIN, .data = {.fd = fd}};
    if (epoll_ctl(r->epoll, EPOLL_CTL_ADD, fd, &event) < 0) {
        /* a closed socket's descriptor, reused */
        if (errno != EEXIST || epoll_ctl(r->epoll, EPOLL_CTL_MOD, fd, &event) < 0) {
            return PyErr_SetFromErrno(PyExc_OSError);
        }
    }
    Py_INCREF(counter);
    Py_XSETREF(r->counters[fd], (Counter *)counter);
    Py_RETURN_NONE;
}

static PyObject *Reader_remove(Reader *r, PyObject *arg) {
    int fd = (int)PyLong_AsLong(arg);
    if (PyErr_Occurred()) {
        return NULL;
    }
    if (fd >= 0 && fd < r->size && r->counters[fd] != NULL) {
        Py_CLEAR(r->counters[fd]);
        epoll_ctl(r->epoll, EPOLL_CTL_DEL, fd, NULL); /* already gone if the socket closed */
    }
    Py_RETURN_NONE;
}

static int64_t clock_ns(clockid_t clock) {
    struct timespec now;
    clock_gettime(clock, &now);
    return (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec;
}

/* seconds of CLOCK_MONOTONIC nanoseconds, as CPython 3.11's time.monotonic() makes them */
static double seconds(int64_t ns) {
    if (ns % 1000000000LL == 0) {
        return (double)(ns / 1000000000LL);
    }
    return (double)ns / 1e9;
}

/* The kernel's receive time of a datagram (SO_TIMESTAMPNS, wall clock) on the monotonic
 * clock: the instant it reached the socket, however late the reader comes to it. */
static double arrival(struct msghdr *message, int64_t wall_minus_monotonic) {
    for (struct cmsghdr *c = CMSG_FIRSTHDR(message); c != NULL; c = CMSG_NXTHDR(message, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec stamp;
            memcpy(&stamp, CMSG_DATA(c), sizeof(stamp));
            int64_t wall = (int64_t)stamp.tv_sec * 1000000000LL + stamp.tv_nsec;
            return seconds(wall - wall_minus_monotonic);
        }
    }
    return seconds(clock_ns(CLOCK_MONOTONIC));
}

static PyObject *address(const struct sockaddr_storage *from) {
    char host[INET6_ADDRSTRLEN];
    if (from->ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)from;
        inet_ntop(AF_INET, &v4->sin_addr, host, sizeof(host));
        return Py_BuildValue("(si)", host, (int)ntohs(v4->sin_port));
    }
    if (from->ss_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)from;
        inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof(host));
        return Py_BuildValue("(siII)", host, (int)ntohs(v6->sin6_port),
                             (unsigned int)ntohl(v6->sin6_flowinfo),
                             (unsigned int)v6->sin6_scope_id);
    }
    Py_RETURN_NONE;
}

static int report(PyObject **reports, PyObject *item) {
    if (item == NULL) {
        return -1;
    }
    if (*reports == NULL) {
        *reports = PyList_New(0);
        if (*reports == NULL) {
            Py_DECREF(item);
            return -1;
        }
    }
    int failed = PyList_Append(*reports, item);
    Py_DECREF(item);
    return failed;
}

/* drain() -> None, or a list of what Python must handle:
 *   (fd, DELIVER, datagram, address): not RTP nor RTCP (STUN, DTLS);
 *   (fd, FAILED, errno, None): the socket's error;
 *   (fd, FIRST, None, None): the stream's first RTP packet was counted. */
#define DELIVER 0
#define FAILED 1
#define FIRST 2

static PyObject *Reader_drain(Reader *r, PyObject *unused) {
    (void)unused;
    struct epoll_event events[EVENTS_PER_WAIT];
    PyObject *reports = NULL;
    int64_t wall_minus_monotonic = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
    int ready, rounds = 0;
    do {
        ready = epoll_wait(r->epoll, events, EVENTS_PER_WAIT, 0);
        if (ready < 0) {
            if (errno == EINTR) {
                break;
            }
            Py_XDECREF(reports);
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        for (int i = 0; i < ready; i++) {
            int fd = events[i].data.fd;
            Counter *c = fd < r->size ? r->counters[fd] : NULL;
            if (c == NULL) {
                continue;
            }
            /* one recvmmsg takes what the socket holds (up to BATCH): a drain costs about one
             * system call per ready socket, not one per packet plus the one that finds it empty */
            int delivered = 0;
            for (int b = 0; b < BATCHES_PER_DRAIN && !delivered; b++) {
                reset_slots(r, r->filled);
                int got = recvmmsg(fd, r->messages, BATCH, MSG_DONTWAIT, NULL);
                r->filled = got > 0 ? got : 0;
                if (got < 0) {
                    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                        report(&reports, Py_BuildValue("(iiiO)", fd, FAILED, errno, Py_None)) < 0) {
                        goto error;
                    }
                    break;
                }
                for (int k = 0; k < got; k++) {
                    unsigned char *data = r->vectors[k].iov_base;
                    unsigned int length = r->messages[k].msg_len;
                    if (length >= 12 && data[0] > 127 && data[0] < 192) {
                        if (data[1] > 191 && data[1] < 224) {
                            continue; /* the server's RTCP: of no use to a counting listener */
                        }
                        long sequence = ((long)data[2] << 8) | data[3];
                        uint32_t timestamp = ((uint32_t)data[4] << 24) | ((uint32_t)data[5] << 16) |
                                             ((uint32_t)data[6] << 8) | (uint32_t)data[7];
                        int first = count_header(c, sequence, timestamp,
                                                 arrival(&r->messages[k].msg_hdr,
                                                         wall_minus_monotonic));
                        if (first < 0) {
                            goto error;
                        }
                        if (first && report(&reports, Py_BuildValue("(iiOO)", fd, FIRST, Py_None,
                                                                    Py_None)) < 0) {
                            goto error;
                        }
                        continue;
                    }
                    /* STUN or DTLS: Python handles it after this drain, in order with the rest
                     * of the socket's reports; the socket may leave the set then, so it is not
                     * read again in this drain (datagrams read with it are this stream's) */
                    delivered = 1;
                    PyObject *from_address = address(&r->from[k]);
                    if (from_address == NULL) {
                        goto error;
                    }
                    PyObject *item = Py_BuildValue("(iiy#N)", fd, DELIVER, (const char *)data,
                                                   (Py_ssize_t)length, from_address);
                    if (report(&reports, item) < 0) {
                        goto error;
                    }
                }
                if (got < BATCH) {
                    break; /* the socket is empty (or was, a moment ago) */
                }
            }
        }
    } while (ready == EVENTS_PER_WAIT && ++rounds < MAX_ROUNDS);
    if (reports == NULL) {
        Py_RETURN_NONE;
    }
    return reports;
error:
    Py_XDECREF(reports);
    return NULL;
}

static PyObject *Reader_close(Reader *r, PyObject *unused) {
    (void)unused;
    if (r->counters != NULL) {
        Reader_clear_all(r);
    }
    if (r->epoll >= 0) {
        close(r->epoll);
        r->epoll = -1;
    }
    Py_RETURN_NONE;
}

static PyMethodDef Reader_methods[] = {
    {"fileno", (PyCFunction)Reader_fileno, METH_NOARGS, NULL},
    {"add", (PyCFunction)Reader_add, METH_VARARGS, NULL},
    {"remove", (PyCFunction)Reader_remove, METH_O, NULL},
    {"drain", (PyCFunction)Reader_drain, METH_NOARGS, NULL},
    {"close", (PyCFunction)Reader_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ReaderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "media_bench.client._fastcount.Reader",
    .tp_basicsize = sizeof(Reader),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Reader_new,
    .tp_dealloc = (destructor)Reader_dealloc,
    .tp_methods = Reader_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastcount", NULL, -1, NULL, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastcount(void) {
    if (PyType_Ready(&CounterType) < 0 || PyType_Ready(&ReaderType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) {
        return NULL;
    }
    Py_INCREF(&CounterType);
    Py_INCREF(&ReaderType);
    if (PyModule_AddObject(m, "Counter", (PyObject *)&CounterType) < 0 ||
        PyModule_AddObject(m, "Reader", (PyObject *)&ReaderType) < 0 ||
        PyModule_AddIntConstant(m, "DELIVER", DELIVER) < 0 ||
        PyModule_AddIntConstant(m, "FAILED", FAILED) < 0 ||
        PyModule_AddIntConstant(m, "FIRST", FIRST) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
