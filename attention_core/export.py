"""Turn a trace (a frozen dataclass of NumPy arrays) into JSON, CSV or .npz for download.

Nested traces (an RNN trace holds a Bahdanau trace and its weights) are flattened with dotted
names, e.g. `attention.weights`, `attention.W1.kernel`. Every format holds every field, the
weights and the text ones (a layer's activation) included, so a file alone is enough to redo
each step with NumPy.
"""

import csv
import dataclasses
import io
import json

import numpy as np


def trace_tensors(trace, prefix=""):
    """{dotted field name: value} for every field of a trace, nested traces flattened."""
    if isinstance(trace, (tuple, list)):
        children = {str(i): item for i, item in enumerate(trace)}
    else:
        children = {field.name: getattr(trace, field.name) for field in dataclasses.fields(trace)}
    tensors = {}
    for name, value in children.items():
        if dataclasses.is_dataclass(value) or isinstance(value, (tuple, list)):
            tensors.update(trace_tensors(value, f"{prefix}{name}."))
        else:
            tensors[prefix + name] = value
    return tensors


def trace_to_json(trace, metadata=None):
    """JSON text: {"metadata": {...}, "tensors": {name: {"shape": [...], "values": nested lists}}}."""
    tensors = {}
    for name, value in trace_tensors(trace).items():
        array = np.asarray(value)
        tensors[name] = {"shape": list(array.shape), "values": array.tolist()}
    return json.dumps({"metadata": metadata or {}, "tensors": tensors})


def _arrays(trace):
    """Every field of a trace as an array: numbers, and text (a layer's name, its activation) as
    a 0-d string array, which `np.load` reads without pickle."""
    return {name: np.asarray(value) for name, value in trace_tensors(trace).items()}


def _numeric_tensors(trace):
    """The numeric fields of a trace as arrays."""
    return {name: a for name, a in _arrays(trace).items() if a.dtype.kind in "biuf"}


def trace_to_csv(trace):
    """CSV text in long format: one row per value, `tensor, i0, i1, …, value`.

    Index columns beyond a tensor's rank are left empty, so every tensor fits one table; a text
    field is one row whose value is the text.
    """
    tensors = _arrays(trace)
    max_rank = max(a.ndim for a in tensors.values())
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["tensor", *(f"i{axis}" for axis in range(max_rank)), "value"])
    for name, array in tensors.items():
        padding = [""] * (max_rank - array.ndim)
        writer.writerows(
            [name, *index, *padding, value]
            for index, value in zip(np.ndindex(array.shape), array.ravel().tolist())
        )
    return out.getvalue()


def trace_to_npz(trace):
    """NumPy .npz bytes of every field: compact and exact, for traces too big for text."""
    out = io.BytesIO()
    np.savez_compressed(out, **_arrays(trace))
    return out.getvalue()


def number_count(trace):
    """How many numbers a trace holds, weights included: what sizes its JSON and CSV exports."""
    return sum(array.size for array in _numeric_tensors(trace).values())
