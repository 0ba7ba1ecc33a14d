/* One RTP packet to one listener in a single call: header, payload, SRTP protect in place,
 * sendto. The Python path (media_bench.server.direct.DirectSender) does the same in five
 * Python-level steps; this is its optional native twin (media_bench.server.fast_send). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#define RTP_HEADER 12
#define NOT_PROTECTED 0
#define SENT 1
#define PROTECTED_NOT_SENT 2

/* libsrtp 2's srtp_protect(srtp_t, void *packet, int *length), as pylibsrtp 1.0 links it */
typedef int (*protect_fn)(void *context, void *packet, int *length);

static void put32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* send_rtp(fd, sockaddr, protect, context, buffer, capacity, payload_type, sequence,
 *          timestamp, ssrc, payload) -> SENT; PROTECTED_NOT_SENT (the socket is full: the
 *          sequence number is spent all the same); NOT_PROTECTED (too long, or SRTP refused);
 *          OSError on any other socket error (after protecting). */
static PyObject *send_rtp(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 11) {
        PyErr_SetString(PyExc_TypeError, "send_rtp takes 11 arguments");
        return NULL;
    }
    if (!PyBytes_Check(args[1]) || !PyBytes_Check(args[10])) {
        PyErr_SetString(PyExc_TypeError, "sockaddr and payload must be bytes");
        return NULL;
    }
    int fd = (int)PyLong_AsLong(args[0]);
    protect_fn protect = (protect_fn)PyLong_AsVoidPtr(args[2]);
    void *context = PyLong_AsVoidPtr(args[3]);
    unsigned char *buffer = (unsigned char *)PyLong_AsVoidPtr(args[4]);
    long capacity = PyLong_AsLong(args[5]);
    long payload_type = PyLong_AsLong(args[6]);
    unsigned long sequence = PyLong_AsUnsignedLongMask(args[7]);
    unsigned long timestamp = PyLong_AsUnsignedLongMask(args[8]);
    unsigned long ssrc = PyLong_AsUnsignedLongMask(args[9]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t size = PyBytes_GET_SIZE(args[10]);
    if (RTP_HEADER + size > capacity) {
        return PyLong_FromLong(NOT_PROTECTED);
    }
    buffer[0] = 0x80;
    buffer[1] = (unsigned char)(payload_type & 0x7F);
    buffer[2] = (unsigned char)(sequence >> 8);
    buffer[3] = (unsigned char)sequence;
    put32(buffer + 4, (uint32_t)timestamp);
    put32(buffer + 8, (uint32_t)ssrc);
    memcpy(buffer + RTP_HEADER, PyBytes_AS_STRING(args[10]), (size_t)size);
    int length = (int)(RTP_HEADER + size);
    if (protect(context, buffer, &length) != 0) {
        return PyLong_FromLong(NOT_PROTECTED);
    }
    const struct sockaddr *address = (const struct sockaddr *)PyBytes_AS_STRING(args[1]);
    socklen_t address_size = (socklen_t)PyBytes_GET_SIZE(args[1]);
    ssize_t sent = sendto(fd, buffer, (size_t)length, MSG_DONTWAIT, address, address_size);
    if (sent < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ENOBUFS) {
            return PyLong_FromLong(PROTECTED_NOT_SENT);
        }
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromLong(SENT);
}

static PyMethodDef methods[] = {
    {"send_rtp", (PyCFunction)(void (*)(void))send_rtp, METH_FASTCALL,
     "Pack, protect in place and send one RTP packet: 1 sent, 2 protected not sent, 0 neither."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastsend", NULL, -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastsend(void) { return PyModule_Create(&module); }
