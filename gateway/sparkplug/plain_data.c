/* gateway.sparkplug._plain_data: the Sparkplug host's data path, compiled.
 *
 * The payload is decoded by protobuf-c, from code that protoc-c generates at build time
 * (setup.py) out of sparkplug_b_plain.proto: the fields of a plain data message, with the
 * numbers and types of the specification's sparkplug_b.proto. Nothing here reads the wire
 * itself. Every other field is an unknown field to that decoder, kept as bytes and never
 * parsed (so nothing nests: a payload built to nest templates ten thousand deep, which
 * made the full schema's protobuf-c decoder overflow the stack, is one unknown field).
 *
 * A payload with any unknown field, or without a timestamp, goes wholly to the Python
 * host, whose `protobuf` decoder reads and judges all of it. One that the subset reads
 * whole reads the same with the full schema, and this file does with its metrics what
 * `SparkplugHost._data` does with a plain one: a metric that comes by alias, with a slot
 * already made for it, holding a double (or a float, as its slot says) other than 0.0 that
 * is finite, live and before 3000, goes straight into its slot's columns. At the first
 * metric that is not plain it stops and says where: the Python host goes on from there, so
 * every reading lands in the order it came, whichever path took it.
 * tests/gateway/test_sparkplug_plain_data.py holds the two paths to the same readings.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "sparkplug_b_plain.pb-c.h"

typedef Heatlink__Sparkplug__PlainPayload Payload;
typedef Heatlink__Sparkplug__PlainPayload__PlainMetric Metric;

#define VALUE_DOUBLE HEATLINK__SPARKPLUG__PLAIN_PAYLOAD__PLAIN_METRIC__VALUE_DOUBLE_VALUE
#define VALUE_FLOAT HEATLINK__SPARKPLUG__PLAIN_PAYLOAD__PLAIN_METRIC__VALUE_FLOAT_VALUE

/* 3000-01-01 in ms since 1970: a time from here on is refused (`LATEST_US` in host.py), by
 * the Python path, which says so. Below it, microseconds fit in 64 bits. */
#define LATEST_MS 32503680000000ULL

/* protobuf-c allocates every metric of a payload separately; here they come from one
 * arena instead, and are let go together. A payload whose decoding needs more than the
 * arena holds gets the rest from malloc, block by block, freed after it. */
#define ARENA_BYTES (64 * 1024)
typedef union {
    max_align_t align;
    struct Block *next;
} BlockHeader;
typedef struct Block {
    BlockHeader header;
} Block;

typedef struct {
    unsigned char *base;
    size_t used;
    Block *extra;
} Arena;

static _Alignas(max_align_t) unsigned char arena_bytes[ARENA_BYTES]; /* under the GIL */

static void *arena_alloc(void *data, size_t size) {
    Arena *arena = data;
    size_t rounded = (size + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
    if (rounded >= size && rounded <= ARENA_BYTES - arena->used) {
        void *at = arena->base + arena->used;
        arena->used += rounded;
        return at;
    }
    if (size > SIZE_MAX - sizeof(Block)) {
        return NULL;
    }
    Block *block = malloc(sizeof(Block) + size);
    if (block == NULL) {
        return NULL;
    }
    block->header.next = arena->extra;
    arena->extra = block;
    return block + 1;
}

static void arena_free(void *data, void *pointer) {
    (void)data;
    (void)pointer; /* all at once, in arena_release */
}

static void arena_release(Arena *arena) {
    while (arena->extra != NULL) {
        Block *next = arena->extra->header.next;
        free(arena->extra);
        arena->extra = next;
    }
    arena->used = 0;
}

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

/* The time of the metric before, as a Python int: the metrics of a message mostly share
 * one, and one object serves them all. */
typedef struct {
    uint64_t us;
    PyObject *object; /* owned; NULL until the first */
} LastTime;

static PyObject *time_object(LastTime *last, uint64_t us) {
    if (last->object == NULL || last->us != us) {
        PyObject *made = PyLong_FromUnsignedLongLong(us);
        if (made == NULL) {
            return NULL;
        }
        Py_XSETREF(last->object, made);
        last->us = us;
    }
    return Py_NewRef(last->object);
}

/* The appends of one plain metric, or 0 when it is not plain (Python takes it). */
static int take_plain(const Metric *metric, PyObject *slots, uint64_t sent_us,
                      PyObject *good, LastTime *last, int *error) {
    if (!metric->has_alias || metric->alias == 0 || metric->is_historical) {
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
    Py_INCREF(slot); /* held while its appends run, whatever they do to `slots` */
    int failed = append_owned(PyTuple_GET_ITEM(slot, 1), time_object(last, ts_us)) < 0 ||
                 append_owned(PyTuple_GET_ITEM(slot, 2), PyFloat_FromDouble(value)) < 0 ||
                 append_owned(PyTuple_GET_ITEM(slot, 3), Py_NewRef(good)) < 0;
    Py_DECREF(slot);
    if (failed) {
        *error = 1;
        return 0;
    }
    return 1;
}

static int read_whole(const Payload *payload);
static PyObject *take_payload(const Payload *payload, PyObject *slots, PyObject *good);

PyDoc_STRVAR(take_doc,
"take(raw, slots, good) -> (seq, taken, count) | None\n\n"
"Decode a Sparkplug payload and append its plain metrics, from the first on, to their\n"
"slots (`slots`: alias -> (double, add_ts, add_value, add_quality, ...)) with quality\n"
"`good`, up to the first metric that is not plain. `seq` is None when the payload has\n"
"none; `taken` is how many metrics were appended, of the `count` it holds. None (and\n"
"nothing appended) when protobuf-c cannot decode the payload with the subset, finds a\n"
"field outside it, or the payload has no timestamp or one out of range: the caller then\n"
"decodes it the other way.");

static PyObject *take(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "take() takes raw, slots, good");
        return NULL;
    }
    PyObject *slots = args[1];
    if (!PyDict_Check(slots)) {
        PyErr_SetString(PyExc_TypeError, "slots must be a dict");
        return NULL;
    }
    Py_buffer raw;
    if (PyObject_GetBuffer(args[0], &raw, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    /* The static arena is this call's alone, unless an append ran Python code that let
     * another thread in here: that one gets a malloc'd arena of its own. */
    static int arena_busy = 0;
    int own = !arena_busy;
    unsigned char *base = own ? arena_bytes : malloc(ARENA_BYTES);
    if (base == NULL) {
        PyBuffer_Release(&raw);
        return PyErr_NoMemory();
    }
    arena_busy = 1;
    Arena arena = {base, 0, NULL};
    ProtobufCAllocator allocator = {arena_alloc, arena_free, &arena};
    Payload *payload = heatlink__sparkplug__plain_payload__unpack(
        &allocator, (size_t)raw.len, (const uint8_t *)raw.buf);
    PyBuffer_Release(&raw);
    /* Without a timestamp, a metric without its own takes the clock's time, which is
     * Python's to read (Sparkplug 3.0 asks every data message for one). */
    PyObject *result = Py_None;
    if (payload != NULL && payload->has_timestamp && payload->timestamp != 0 &&
        payload->timestamp < LATEST_MS && read_whole(payload)) {
        result = take_payload(payload, slots, args[2]);
    } else {
        Py_INCREF(result);
    }
    arena_release(&arena); /* (the payload lives in it: nothing else to free) */
    if (own) {
        arena_busy = 0;
    } else {
        free(base);
    }
    return result;
}

/* Whether the subset read every field of the payload: none unknown to it anywhere. */
static int read_whole(const Payload *payload) {
    if (payload->base.n_unknown_fields != 0) {
        return 0;
    }
    for (size_t k = 0; k < payload->n_metrics; k++) {
        if (payload->metrics[k]->base.n_unknown_fields != 0) {
            return 0;
        }
    }
    return 1;
}

/* What `take` does with a payload read whole, with a timestamp in range. */
static PyObject *take_payload(const Payload *payload, PyObject *slots, PyObject *good) {
    uint64_t sent_us = payload->timestamp * 1000;
    LastTime last = {0, NULL};
    size_t taken = 0;
    int error = 0;
    while (taken < payload->n_metrics &&
           take_plain(payload->metrics[taken], slots, sent_us, good, &last, &error)) {
        taken++;
    }
    Py_XDECREF(last.object);
    PyObject *result = NULL;
    if (!error) {
        PyObject *seq = payload->has_seq ? PyLong_FromUnsignedLongLong(payload->seq)
                                         : Py_NewRef(Py_None);
        if (seq != NULL) {
            result = Py_BuildValue("(Nnn)", seq, (Py_ssize_t)taken,
                                   (Py_ssize_t)payload->n_metrics);
        }
    }
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
