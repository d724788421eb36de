"""Looking inside: library source (``show_source``), graph tables and diffs, an embedded Netron view."""
from __future__ import annotations

import html
import inspect
import os
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from qonnx.core.modelwrapper import ModelWrapper


@dataclass(frozen=True)
class Source:
    """Source code of a Python object; shows as highlighted code in a notebook, as text elsewhere."""

    name: str
    file: str
    text: str

    def __str__(self) -> str:
        return f"# {self.name} ({self.file})\n{self.text}"

    def _repr_markdown_(self) -> str:
        return f"`{self.name}` ({self.file})\n\n```python\n{self.text}\n```"


def show_source(obj: Any) -> Source:
    """The source of a class, function or method (FINN's ``showSrc``), e.g. ``show_source(Streamline)``."""
    try:
        text = inspect.getsource(obj)
        file = inspect.getsourcefile(obj) or "?"
    except (TypeError, OSError) as err:
        raise TypeError(f"no Python source for {obj!r} ({err}): pass a class, function or method.") from None
    name = getattr(obj, "__qualname__", getattr(obj, "__name__", repr(obj)))
    module = getattr(obj, "__module__", "")
    site = re.sub(r".*site-packages/", "", file)
    return Source(f"{module}.{name}" if module else name, site, textwrap.dedent(text).rstrip())


def show_error(func: Any, *args: Any, **kwargs: Any) -> str:
    """Call ``func(*args, **kwargs)``, which is expected to fail; print and return its error message.

    For demonstrations of what a mistake looks like; raises AssertionError if nothing failed.
    """
    try:
        func(*args, **kwargs)
    except Exception as err:  # noqa: BLE001 - showing any error is the point
        text = f"{type(err).__name__}: {err}"
        print(text)
        return text
    raise AssertionError(f"{getattr(func, '__name__', func)} was expected to fail, but it succeeded.")


def _tensor_desc(model: ModelWrapper, name: str) -> str:
    """``name: DTYPE [shape]`` (initializers marked as such)."""
    if not name:
        return ""
    shape = model.get_tensor_shape(name)
    kind = " (init)" if model.get_initializer(name) is not None else ""
    return f"{name}: {model.get_tensor_datatype(name).name} {list(shape) if shape else '?'}{kind}"


def graph_table(model: ModelWrapper) -> pd.DataFrame:
    """One row per node: name, op type, inputs and outputs with FINN datatypes and shapes."""
    import pandas as pd

    rows = [{"node": n.name, "op": n.op_type,
             "inputs": "; ".join(_tensor_desc(model, t) for t in n.input),
             "outputs": "; ".join(_tensor_desc(model, t) for t in n.output)} for n in model.graph.node]
    return pd.DataFrame(rows)


def graph_diff(before: ModelWrapper, after: ModelWrapper) -> pd.DataFrame:
    """Op types counted before and after a transformation (what disappeared, what appeared)."""
    from collections import Counter

    import pandas as pd

    a = Counter(n.op_type for n in before.graph.node)
    b = Counter(n.op_type for n in after.graph.node)
    ops = sorted(set(a) | set(b), key=lambda op: (-(a[op] + b[op]), op))
    df = pd.DataFrame({"op": ops, "before": [a[o] for o in ops], "after": [b[o] for o in ops]})
    df["change"] = df["after"] - df["before"]
    return df.set_index("op")


@dataclass(frozen=True)
class GraphView:
    """A model served by Netron on this machine, shown as an embedded frame in a notebook."""

    url: str
    file: str
    height: int = 500

    def _repr_html_(self) -> str:
        url = html.escape(self.url, quote=True)
        name = html.escape(Path(self.file).name)
        return (f'<iframe src="{url}" width="100%" height="{self.height}" '
                'style="border:1px solid #ccc"></iframe>'
                f'<div>Netron: <a href="{url}" target="_blank">{url}</a> ({name}); '
                "if the frame stays empty, open the link (on a remote server, forward that port).</div>")

    def __str__(self) -> str:
        return f"Netron serving {self.file} at {self.url}"


def graph_view(model: ModelWrapper | str | Path, name: str = "model", height: int = 500) -> GraphView:
    """Serve ``model`` with Netron (offline, local) and return an embeddable view.

    ``$COURSE_NETRON_HOST`` / ``$COURSE_NETRON_PORT`` choose the address (in a container: ``0.0.0.0``
    and a fixed port that the container publishes); by default localhost and a free port.
    """
    import netron

    from course_utils import fileio
    from course_utils.paths import build_dir

    if isinstance(model, (str, Path)):
        path = Path(model)
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: save the model first (model.save(path)).")
    else:
        path = build_dir("lab2", "views") / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.onnx"
        with fileio.atomic_path(path) as tmp:
            model.save(str(tmp))
    host = os.environ.get("COURSE_NETRON_HOST", "localhost")
    port = int(os.environ["COURSE_NETRON_PORT"]) if os.environ.get("COURSE_NETRON_PORT") else 0
    import logging

    level = logging.getLogger("netron").level
    logging.getLogger("netron").setLevel(logging.WARNING)
    try:
        addr = netron.serve(str(path), browse=False, address=(host, port))
    finally:
        logging.getLogger("netron").setLevel(level)
    shown = "localhost" if addr[0] in ("0.0.0.0", "") else addr[0]  # bound to all interfaces (a container)
    return GraphView(f"http://{shown}:{addr[1]}", str(path), height)
