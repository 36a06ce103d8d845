/* The member check of pytest_sanctum.json_codec, in C.
 *
 * members_are_json(value, max_depth) answers what json_codec._members_are_json answers
 * in Python: whether every value inside `value` is exactly a dict, list, str, int, bool,
 * None or finite float, with at most `max_depth` levels of dicts and lists. Keys are not
 * looked at (orjson has refused every key that is not exactly a str before this runs).
 * The encoder runs it on every record put and stream append, after orjson wrote the
 * value: the Python walk costs about four times orjson.dumps, this one under half.
 *
 * No Python code runs during the walk (it compares type pointers and reads doubles), so
 * the borrowed references of PyDict_Next and PyList_GET_ITEM stay valid and nothing can
 * change a container under it. It recurses once per level and stops at max_depth + 1.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>

static int members_are_json(PyObject *value, Py_ssize_t depth, Py_ssize_t max_depth);

/* Whether `item`, a member of a container at `depth`, is a JSON value. */
static int
item_is_json(PyObject *item, Py_ssize_t depth, Py_ssize_t max_depth)
{
    PyTypeObject *kind = Py_TYPE(item);
    if (kind == &PyUnicode_Type || kind == &PyLong_Type || kind == &PyBool_Type
        || item == Py_None) {
        return 1;
    }
    if (kind == &PyFloat_Type) {
        return isfinite(PyFloat_AS_DOUBLE(item));
    }
    if (kind == &PyDict_Type || kind == &PyList_Type) {
        return members_are_json(item, depth + 1, max_depth);
    }
    return 0;
}

/* Whether `value`, at `depth` (the outermost container is at 1), is a JSON value. */
static int
members_are_json(PyObject *value, Py_ssize_t depth, Py_ssize_t max_depth)
{
    PyTypeObject *kind = Py_TYPE(value);
    if (kind == &PyDict_Type) {
        Py_ssize_t position = 0;
        PyObject *key, *item;
        if (depth > max_depth) {
            return 0;
        }
        while (PyDict_Next(value, &position, &key, &item)) {
            if (!item_is_json(item, depth, max_depth)) {
                return 0;
            }
        }
        return 1;
    }
    if (kind == &PyList_Type) {
        if (depth > max_depth) {
            return 0;
        }
        for (Py_ssize_t index = 0; index < PyList_GET_SIZE(value); index++) {
            if (!item_is_json(PyList_GET_ITEM(value, index), depth, max_depth)) {
                return 0;
            }
        }
        return 1;
    }
    return item_is_json(value, depth - 1, max_depth);
}

static PyObject *
members_are_json_entry(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t max_depth;
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError,
                     "members_are_json() takes 2 positional arguments (%zd given)", nargs);
        return NULL;
    }
    max_depth = PyLong_AsSsize_t(args[1]);
    if (max_depth == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (max_depth < 0 || max_depth > 1000) {
        PyErr_SetString(PyExc_ValueError, "max_depth must be between 0 and 1000");
        return NULL;
    }
    return PyBool_FromLong(members_are_json(args[0], 1, max_depth));
}

static PyMethodDef methods[] = {
    {"members_are_json", (PyCFunction)(void (*)(void))members_are_json_entry, METH_FASTCALL,
     "members_are_json(value, max_depth) -> bool\n\n"
     "Whether every value inside value is exactly a dict, list, str, int, bool, None or\n"
     "finite float, nested at most max_depth dicts and lists deep (keys are not checked)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "pytest_sanctum._json_members",
    "The member check of pytest_sanctum.json_codec, compiled.",
    0,
    methods,
};

PyMODINIT_FUNC
PyInit__json_members(void)
{
    return PyModuleDef_Init(&module);
}
