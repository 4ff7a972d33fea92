"""nutpie's C callbacks around compiled numba functions, generated from source and cached.

nutpie's chain threads call a model's log-density (and the expansion of a draw to the
model's variables) through C callbacks (numba ``cfunc``) that read the fit's data from
nutpie's ``user_data`` record. :func:`_nutpie_cfunc` writes such a callback as Python
source around a compiled function and caches its code in PyTensor's numba cache folder,
so a callback compiled once on a machine loads in every later process. Used by the
``nutpie_c`` backend (:func:`bayes_cluster.inference.sampling.compile_pytensor_c`) and by
the simulation study's fused logit density
(:func:`bayes_cluster.inference.fast_logit.fuse_logit_logp`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

_CFUNC_SIGNATURES: dict[str, Any] = {}
_CFUNC_KEY_VERSION = "bayes_cluster-cfunc-2"


def _cfunc_signature(kind: str) -> Any:
    """Return the C signature nutpie calls: log-density ``"logp"`` or expansion ``"expand"``."""
    if not _CFUNC_SIGNATURES:
        from numba import types

        double_pointer = types.CPointer(types.double)
        _CFUNC_SIGNATURES["logp"] = types.int64(
            types.uint64, double_pointer, double_pointer, double_pointer, types.voidptr
        )
        _CFUNC_SIGNATURES["expand"] = types.int64(
            types.uint64, types.uint64, double_pointer, double_pointer, types.voidptr
        )
    return _CFUNC_SIGNATURES[kind]


def _cfunc_source(
    kind: str, n_dim: int, n_expanded: int, arguments: list[tuple[str, int, str]]
) -> str:
    """Python source of nutpie's C callback around a compiled graph function.

    ``arguments`` are the graph function's data arguments after the point: (key in
    nutpie's ``user_data`` record, number of dimensions, dtype name). Every constant the
    callback needs is written into the source, so that the source (with the graph's own
    cache key) identifies the compiled code on disk.
    """
    lines = [
        f"def nutpie_{kind}(dim, {'expanded, ' if kind == 'expand' else ''}x_, out_, "
        f"{'logp_, ' if kind == 'logp' else ''}user_data_):",
        f"    if dim != {n_dim}:",
        "        return -1",
    ]
    if kind == "expand":
        lines += [f"    if expanded != {n_expanded}:", "        return -1"]
    lines += [
        "    try:",
        "        shared = numba.carray(user_data_, (), RECORD)['shared']",
    ]
    # a key that is no Python name (nutpie's own records use hex uuids) gets a local name
    names = [key if key.isidentifier() else f"arg_{i}" for i, (key, _, _) in enumerate(arguments)]
    for name, (key, ndim, dtype) in zip(names, arguments, strict=True):
        shape = "".join(f"int(shared['shape']['{key}'][{axis}]), " for axis in range(ndim))
        lines.append(
            f"        {name} = numba.carray(address_as_void_pointer("
            f"shared['data']['{key}'][()]), int(shared['size']['{key}'][()]), "
            f"np.{dtype}).reshape(({shape}))"
        )
    call = ", ".join(["x", *names])
    # the results are copied (and checked) element by element: an array assignment or
    # np.all would make numba compile its shape-mismatch message formatting, about 2 s of
    # every callback's compile on an empty cache
    lines.append(f"        x = numba.carray(x_, ({n_dim},))")
    if kind == "logp":
        lines += [
            f"        out = numba.carray(out_, ({n_dim},))",
            "        logp = numba.carray(logp_, ())",
            f"        value, gradient = graph({call})",
            "        logp[()] = value",
            "        finite = True",
            f"        for index in range({n_dim}):",
            "            out[index] = gradient[index]",
            "            finite = finite and math.isfinite(gradient[index])",
            "        if not finite:",
            "            return 3",
            "        if not math.isfinite(logp[()]):",
            "            return 4",
            "    except Exception:",
            "        return 1",
        ]
    else:
        lines += [
            f"        out = numba.carray(out_, ({n_expanded},))",
            f"        (values,) = graph({call})",
            f"        for index in range({n_expanded}):",
            "            out[index] = values[index]",
            "    except Exception:",
            "        return -2",
        ]
    return "\n".join([*lines, "    return 0", ""])


def _inlinable_graph(graph: Any) -> Any:
    """Return the graph function for the callback to call, inlined where it can be.

    PyTensor's compiled function is a wrapper ``(*args)`` around the function of the graph
    (``jitable_func``), which calls the per-op functions. Calling the wrapper, the callback
    would link the graph's compiled code and optimise and compile it again (some 5-7 s
    per model structure on a cold cache, on top of the graph's own compile); the graph's
    Python function, inlined into the callback at numba's IR level, is compiled once,
    there. Falls back to the wrapper where PyTensor's layout is not this one.
    """
    import inspect

    import numba

    inner = graph.py_func.__globals__.get("jitable_func")
    function = getattr(inner, "py_func", None)
    if function is None:
        return graph
    parameters = inspect.signature(function).parameters.values()
    if any(p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters):
        return graph
    return numba.njit(inline="always")(function)


def _nutpie_cfunc(
    kind: str, source: str, graph: Any, record: np.dtype, graph_key: str | None = None
) -> Any:
    """Compile nutpie's C callback ``source`` around ``graph``, cached on disk with it.

    The cache entry (PyTensor's numba cache folder) is keyed by the graph function's own
    PyTensor cache key (or ``graph_key``, for a function PyTensor did not compile: it must
    name everything the function's code depends on), the callback's source and the data
    record's layout: a new graph, layout or callback never loads another's code. Where
    the graph has no disk cache key (or PyTensor's numba cache is off), the callback is
    compiled without a cache.
    """
    import hashlib

    import numba
    import pytensor
    from nutpie.compile_pymc import address_as_void_pointer
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS, compile_numba_function_src

    if graph_key is None:
        graph_key = CACHED_SRC_FUNCTIONS.get(graph.py_func)
    cache_key = None
    if graph_key is not None and pytensor.config.numba__cache:
        text = f"{_CFUNC_KEY_VERSION}\n{graph_key}\n{record.descr}\n{source}"
        cache_key = hashlib.sha256(text.encode()).hexdigest()
    callee = _inlinable_graph(graph)
    function = compile_numba_function_src(
        src=source,
        function_name=f"nutpie_{kind}",
        global_env={
            # numba's cached environment re-imports the module named here
            "__name__": __name__,
            "math": math,
            "numba": numba,
            "np": np,
            "graph": callee,
            "RECORD": record,
            "address_as_void_pointer": address_as_void_pointer,
        },
        cache_key=cache_key,
    )
    return numba.cfunc(_cfunc_signature(kind), cache=cache_key is not None)(function)
