"""Turn a trace (a frozen dataclass of NumPy arrays) into JSON, CSV or .npz for download.

Nested traces (an RNN trace holds a Bahdanau trace and its weights) are flattened with dotted
names, e.g. `attention.weights`, `attention.W1.kernel`. Every format holds every field, the
weights and the text ones (a layer's activation, a text's tokens) included, and the view's
settings (`metadata`), so a file alone is enough to redo each step with NumPy.
"""

import csv
import dataclasses
import io
import json

import numpy as np

# Every file says how it counts: the pages number tokens, heads and units from 1.
INDEXING = ("Arrays index from 0, as NumPy's do: token #1 on the page is index 0 here, head 1 is "
            "index 0, and so on.")


def _is_nested(value):
    """Whether a field holds traces to flatten (a trace, or a tuple of them) rather than values."""
    if isinstance(value, (tuple, list)):
        return bool(value) and all(dataclasses.is_dataclass(item) for item in value)
    return dataclasses.is_dataclass(value)


def trace_tensors(trace, prefix=""):
    """{dotted field name: value} for every field of a trace, nested traces flattened; a field
    that is None (e.g. no text behind a trace's inputs) holds nothing and is left out."""
    if isinstance(trace, (tuple, list)):
        children = {str(i): item for i, item in enumerate(trace)}
    else:
        children = {field.name: getattr(trace, field.name) for field in dataclasses.fields(trace)}
    tensors = {}
    for name, value in children.items():
        if _is_nested(value):
            tensors.update(trace_tensors(value, f"{prefix}{name}."))
        elif value is not None:
            tensors[prefix + name] = value
    return tensors


def file_metadata(metadata=None):
    """The settings a file records: how it indexes, then the view's own (`metadata`)."""
    return {"indexing": INDEXING, **(metadata or {})}


def trace_to_json(trace, metadata=None):
    """JSON text: {"metadata": {...}, "tensors": {name: {"shape": [...], "values": nested lists}}}."""
    tensors = {}
    for name, value in trace_tensors(trace).items():
        array = np.asarray(value)
        tensors[name] = {"shape": list(array.shape), "values": array.tolist()}
    return json.dumps({"metadata": file_metadata(metadata), "tensors": tensors})


def _arrays(trace, metadata=None):
    """Every field of a trace as an array, and each setting of `metadata` as `metadata.<name>`:
    numbers, and text (a layer's name, a text's tokens) as string arrays, which `np.load` reads
    without pickle."""
    settings = {f"metadata.{name}": np.asarray(value) for name, value in file_metadata(metadata).items()}
    return {**{name: np.asarray(value) for name, value in trace_tensors(trace).items()}, **settings}


def trace_to_csv(trace, metadata=None):
    """CSV text in long format: one row per value, `tensor, i0, i1, …, value`.

    Index columns beyond a tensor's rank are left empty, so every tensor fits one table; a text
    field is one row whose value is the text. The settings follow as `metadata.<name>` rows.
    """
    tensors = _arrays(trace, metadata)
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


def trace_to_npz(trace, metadata=None):
    """NumPy .npz bytes of every field and setting: compact and exact, for traces too big for text."""
    out = io.BytesIO()
    np.savez_compressed(out, **_arrays(trace, metadata))
    return out.getvalue()


def number_count(trace):
    """How many numbers a trace holds, weights included: what sizes its JSON and CSV exports."""
    arrays = (np.asarray(value) for value in trace_tensors(trace).values())
    return sum(array.size for array in arrays if array.dtype.kind in "biuf")
