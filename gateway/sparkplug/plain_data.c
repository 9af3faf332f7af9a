/* gateway.sparkplug._plain_data: the Sparkplug host's data path, compiled.
 *
 * The payload is decoded by protobuf-c, from code that protoc-c generates out of
 * sparkplug_b.proto at build time (setup.py); nothing here reads the wire itself. This file
 * only walks the decoded metrics and does what `SparkplugHost._data` does for a plain one:
 * a metric that comes by alias, with a slot already made for it, holding a double (or a
 * float, as its slot says) other than 0.0 that is finite, live and without properties,
 * goes straight into its slot's columns. At the first metric that is not plain it stops
 * and says where: the Python host goes on from there, so every reading lands in the order
 * it came, whichever path took it. Python's upb-based path stays the reference, and
 * tests/gateway/test_sparkplug_plain_data.py holds the two to the same readings.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>

#include "sparkplug_b.pb-c.h"

typedef Org__Eclipse__Tahu__Protobuf__Payload Payload;
typedef Org__Eclipse__Tahu__Protobuf__Payload__Metric Metric;

#define VALUE_DOUBLE ORG__ECLIPSE__TAHU__PROTOBUF__PAYLOAD__METRIC__VALUE_DOUBLE_VALUE
#define VALUE_FLOAT ORG__ECLIPSE__TAHU__PROTOBUF__PAYLOAD__METRIC__VALUE_FLOAT_VALUE

/* 3000-01-01 in ms since 1970: a time from here on is refused (`LATEST_US` in host.py), by
 * the Python path, which says so. Below it, microseconds fit in 64 bits. */
#define LATEST_MS 32503680000000ULL

/* Call one of a slot's appends with a new reference `arg`, which it consumes. */
static int append_owned(PyObject *append, PyObject *arg) {
    if (arg == NULL) {
        return -1;
    }
    PyObject *done = PyObject_CallOneArg(append, arg);
    Py_DECREF(arg);
    if (done == NULL) {
        return -1;
    }
    Py_DECREF(done);
    return 0;
}

/* The appends of one plain metric, or 0 when it is not plain (Python takes it). */
static int take_plain(const Metric *metric, PyObject *slots, uint64_t sent_us,
                      PyObject *good, int *error) {
    if (!metric->has_alias || metric->alias == 0 || metric->is_historical ||
        metric->properties != NULL) {
        return 0;
    }
    if (metric->has_timestamp && metric->timestamp >= LATEST_MS) {
        return 0;
    }
    PyObject *key = PyLong_FromUnsignedLongLong(metric->alias);
    if (key == NULL) {
        *error = 1;
        return 0;
    }
    PyObject *slot = PyDict_GetItemWithError(slots, key); /* borrowed */
    Py_DECREF(key);
    if (slot == NULL) {
        *error = PyErr_Occurred() != NULL;
        return 0;
    }
    if (!PyTuple_Check(slot) || PyTuple_GET_SIZE(slot) < 4) {
        PyErr_SetString(PyExc_TypeError, "a slot is a tuple (double, add_ts, add_value, "
                        "add_quality, ...)");
        *error = 1;
        return 0;
    }
    int as_double = PyObject_IsTrue(PyTuple_GET_ITEM(slot, 0));
    if (as_double < 0) {
        *error = 1;
        return 0;
    }
    /* As upb reads it: the field the slot expects, 0.0 when the oneof holds another. */
    double value = 0.0;
    if (as_double && metric->value_case == VALUE_DOUBLE) {
        value = metric->double_value;
    } else if (!as_double && metric->value_case == VALUE_FLOAT) {
        value = (double)metric->float_value;
    }
    if (value == 0.0 || !isfinite(value)) {
        return 0;
    }
    uint64_t ts_us = metric->timestamp ? metric->timestamp * 1000 : sent_us;
    Py_INCREF(good);
    if (append_owned(PyTuple_GET_ITEM(slot, 1), PyLong_FromUnsignedLongLong(ts_us)) < 0 ||
        append_owned(PyTuple_GET_ITEM(slot, 2), PyFloat_FromDouble(value)) < 0 ||
        append_owned(PyTuple_GET_ITEM(slot, 3), good) < 0) {
        *error = 1;
        return 0;
    }
    return 1;
}

PyDoc_STRVAR(take_doc,
"take(raw, slots, now_us, good) -> (seq, taken, count) | None\n\n"
"Decode a Sparkplug payload and append its plain metrics, from the first on, to their\n"
"slots (`slots`: alias -> (double, add_ts, add_value, add_quality, ...)) with quality\n"
"`good`, up to the first metric that is not plain. `seq` is None when the payload has\n"
"none; `taken` is how many metrics were appended, of the `count` it holds; a metric\n"
"without a timestamp takes the payload's, or `now_us` when it has none. None when protobuf-c cannot decode the payload or its\n"
"timestamp is out of range: the caller decodes it the other way.");

static PyObject *take(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "take() takes raw, slots, now_us, good");
        return NULL;
    }
    Py_buffer raw;
    if (PyObject_GetBuffer(args[0], &raw, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    PyObject *slots = args[1];
    if (!PyDict_Check(slots)) {
        PyBuffer_Release(&raw);
        PyErr_SetString(PyExc_TypeError, "slots must be a dict");
        return NULL;
    }
    unsigned long long now_us = PyLong_AsUnsignedLongLong(args[2]);
    if (now_us == (unsigned long long)-1 && PyErr_Occurred()) {
        PyBuffer_Release(&raw);
        return NULL;
    }
    Payload *payload = org__eclipse__tahu__protobuf__payload__unpack(
        NULL, (size_t)raw.len, (const uint8_t *)raw.buf);
    PyBuffer_Release(&raw);
    if (payload == NULL) {
        Py_RETURN_NONE;
    }
    if (payload->has_timestamp && payload->timestamp >= LATEST_MS) {
        org__eclipse__tahu__protobuf__payload__free_unpacked(payload, NULL);
        Py_RETURN_NONE;
    }
    uint64_t sent_us = payload->timestamp ? payload->timestamp * 1000 : now_us;
    size_t taken = 0;
    int error = 0;
    while (taken < payload->n_metrics &&
           take_plain(payload->metrics[taken], slots, sent_us, args[3], &error)) {
        taken++;
    }
    PyObject *result = NULL;
    if (!error) {
        PyObject *seq = payload->has_seq ? PyLong_FromUnsignedLongLong(payload->seq)
                                         : Py_NewRef(Py_None);
        if (seq != NULL) {
            result = Py_BuildValue("(Nnn)", seq, (Py_ssize_t)taken,
                                   (Py_ssize_t)payload->n_metrics);
        }
    }
    org__eclipse__tahu__protobuf__payload__free_unpacked(payload, NULL);
    return result;
}

static PyMethodDef methods[] = {
    {"take", (PyCFunction)(void (*)(void))take, METH_FASTCALL, take_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "gateway.sparkplug._plain_data",
    "Sparkplug data messages decoded by protobuf-c, plain metrics appended in C.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__plain_data(void) {
    return PyModule_Create(&module);
}
