"""One look for every figure: colour-blind-safe palette, fonts, sizes and file formats.

Every plotting function of :mod:`bayes_cluster.plots` is decorated with :func:`styled`,
which draws it under :data:`RC_PARAMS` (a ``matplotlib.rc_context``: the user's own
``rcParams`` are left alone).  Colours come from the Okabe-Ito palette (Okabe & Ito 2008,
"Color Universal Design"), distinguishable with the common forms of colour blindness;
change them here and every figure follows.

:func:`save_formats` writes a figure as PNG (300 dpi), PDF and SVG, with no time stamp
or software version inside, so that a rerun gives identical files.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import matplotlib as mpl
from cycler import cycler

__all__ = [
    "FIGURE_FORMATS",
    "OKABE_ITO",
    "PALETTE",
    "PUBLICATION_DPI",
    "RC_PARAMS",
    "palette",
    "save_formats",
    "stamp_label",
    "styled",
]

OKABE_ITO: Mapping[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
"""The eight Okabe-Ito colours by name."""

PALETTE: tuple[str, ...] = (
    OKABE_ITO["blue"],
    OKABE_ITO["vermillion"],
    OKABE_ITO["bluish_green"],
    OKABE_ITO["orange"],
    OKABE_ITO["reddish_purple"],
    OKABE_ITO["sky_blue"],
    OKABE_ITO["yellow"],
    OKABE_ITO["black"],
)
"""Order in which categorical series (methods, classes, types) take colours."""

NEUTRAL = "#BBBBBB"
"""Grey for 'neutral' / not-matched cells."""

ALERT = "#B00020"
"""Colour of the quick-preview label."""

PUBLICATION_DPI = 300
"""Resolution of the PNG files."""

FIGURE_FORMATS: tuple[str, ...] = ("png", "pdf", "svg")
"""Every figure is written in these formats, side by side."""

RC_PARAMS: dict[str, Any] = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],  # bundled with matplotlib: same glyphs everywhere
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "axes.labelsize": 9.0,
    "xtick.labelsize": 8.0,
    "ytick.labelsize": 8.0,
    "legend.fontsize": 8.0,
    "figure.titlesize": 11.0,
    "axes.prop_cycle": cycler(color=list(PALETTE)),
    "image.cmap": "cividis",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.dpi": PUBLICATION_DPI,
    "pdf.fonttype": 42,  # TrueType in the PDF: text stays text (editable, searchable)
    "svg.fonttype": "none",  # text as text in the SVG, in the font named above
    "svg.hashsalt": "bayes_cluster",  # stable element ids: reruns give identical SVGs
}
"""The ``rcParams`` every figure is drawn with."""


def palette(n: int) -> list[str]:
    """Return ``n`` colours from :data:`PALETTE`, repeating it when ``n`` is larger.

    Parameters
    ----------
    n : int
        Number of colours.

    Returns
    -------
    list of str

    Examples
    --------
    >>> palette(2)
    ['#0072B2', '#D55E00']
    """
    return [PALETTE[i % len(PALETTE)] for i in range(n)]


def styled[**P, R](function: Callable[P, R]) -> Callable[P, R]:
    """Decorate a plotting function so it draws under :data:`RC_PARAMS`.

    Parameters
    ----------
    function : callable
        A function returning a matplotlib Figure.

    Returns
    -------
    callable
        The same function, run inside ``matplotlib.rc_context(RC_PARAMS)``.
    """

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with mpl.rc_context(RC_PARAMS):
            return function(*args, **kwargs)

    return wrapper


def stamp_label(figure: Any, text: str) -> None:
    """Write a red label at the top right of ``figure``, above the axes.

    The top margin is enlarged just enough for it, so it never covers a title, tick
    labels or axis labels.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
    text : str
    """
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    with mpl.rc_context(RC_PARAMS):
        band = 0.25 / figure.get_size_inches()[1]  # one line of 8-point text, as a fraction
        engine = figure.get_layout_engine()
        # the figure title moves down into the band's lower edge ...
        title = figure.get_suptitle()
        for child in figure.texts:  # the suptitle is one of the figure's texts
            if title and child.get_text() == title:
                # an explicit y tells the layout engine to keep it there
                figure.suptitle(
                    title,
                    y=1.0 - band,
                    va="top",
                    fontsize=child.get_fontsize(),
                    fontweight=child.get_fontweight(),
                )
                break
        # ... and the layout keeps the axes below it
        if isinstance(engine, ConstrainedLayoutEngine):
            engine.set(rect=(0.0, 0.0, 1.0, 1.0 - band))
        else:
            figure.tight_layout(rect=(0.0, 0.0, 1.0, 1.0 - band))
        figure.text(
            0.995,
            0.995,
            text,
            ha="right",
            va="top",
            color=ALERT,
            weight="bold",
            fontsize=8.0,
        )


def save_formats(figure: Any, png_path: str | Path, *, dpi: int = PUBLICATION_DPI) -> list[Path]:
    """Write ``figure`` as PNG, PDF and SVG beside each other (same stem).

    Parameters
    ----------
    figure : matplotlib.figure.Figure
    png_path : str or pathlib.Path
        Path of the PNG; the PDF and SVG get the same name with their suffix.
    dpi : int
        Resolution of the PNG (the vector files do not depend on it).

    Returns
    -------
    list of pathlib.Path
        The written files, in :data:`FIGURE_FORMATS` order.

    Notes
    -----
    A figure with a layout engine (``layout="constrained"`` or ``"tight"``) is laid out
    once, when the PNG is drawn; the PDF and SVG keep those axes positions, and the
    figure gets its engine back afterwards.
    """
    png_path = Path(png_path)
    # no version or time stamp inside the files: reruns give identical files
    metadata = {
        "png": {"Software": None},
        "pdf": {"Creator": None, "Producer": None, "CreationDate": None},
        "svg": {"Creator": None, "Date": None},
    }
    written = []
    # the layout (constrained or tight) is computed once, for the PNG, and the PDF and SVG
    # drawn with the same axes positions: the three files share one layout, and the vector
    # files skip a second and third layout pass (a fifth of the Tumang run's figure time)
    engine = figure.get_layout_engine()
    try:
        with mpl.rc_context(RC_PARAMS), _lean_font_subsets(), _cached_font_subsets():
            for kind in FIGURE_FORMATS:
                path = png_path.with_suffix(f".{kind}")
                figure.savefig(path, dpi=dpi, format=kind, metadata=metadata[kind])
                written.append(path)
                if engine is not None and figure.get_layout_engine() is engine:
                    figure.set_layout_engine("none")
    finally:
        if engine is not None and figure.get_layout_engine() is not engine:
            figure.set_layout_engine(engine)  # the caller's figure keeps its own layout
    return written


FONT_LAYOUT_TABLES = ("GSUB", "GPOS", "GDEF", "BASE", "JSTF", "MATH")
"""OpenType layout tables left out of the fonts embedded in a PDF (:func:`_lean_font_subsets`)."""


@contextlib.contextmanager
def _lean_font_subsets() -> Iterator[None]:
    """Embed fonts in PDFs without their OpenType layout tables while the context runs.

    matplotlib embeds a subset of each font (Type 42), made by fontTools, which reads and
    subsets every table of the font: for DejaVu Sans most of the time goes to the layout
    tables (``GSUB``, ``GPOS``, ``GDEF``: ligatures, kerning pairs, mark positions), some
    0.08 of 0.12 s per font, three fonts a figure, 27 figures in the Tumang run. A PDF
    never reads them: its text is drawn glyph by glyph at the positions matplotlib laid
    out, so the pages look the same and the fonts are smaller. matplotlib's subsetting is
    kept otherwise (its ``fontTools.subset`` options, with these tables dropped too);
    where its code no longer makes them that way, nothing changes.
    """
    from matplotlib.backends import _backend_pdf_ps

    module = getattr(_backend_pdf_ps, "subset", None)
    if module is None or not callable(getattr(module, "Options", None)):
        yield
        return

    class _Subset:
        def __getattr__(self, name: str) -> Any:
            return getattr(module, name)

        @staticmethod
        def Options(*args: Any, **kwargs: Any) -> Any:  # noqa: N802 - fontTools' name
            options = module.Options(*args, **kwargs)
            options.drop_tables += [t for t in FONT_LAYOUT_TABLES if t not in options.drop_tables]
            return options

    _backend_pdf_ps.subset = _Subset()
    try:
        yield
    finally:
        _backend_pdf_ps.subset = module


FONT_SUBSET_CACHE_FILES = 4096
"""Most font subsets kept in :func:`font_subset_cache`; the oldest half goes beyond it."""


def font_subset_cache() -> Path | None:
    """Return the folder where the PDFs' font subsets are kept between runs (None: nowhere).

    ``$BAYES_CLUSTER_FONT_CACHE`` if set (empty: no cache), else ``bayes_cluster_font_subsets``
    in matplotlib's cache folder (``matplotlib.get_cachedir()``, which honours
    ``MPLCONFIGDIR``).

    Returns
    -------
    pathlib.Path or None
    """
    import os

    folder = os.environ.get("BAYES_CLUSTER_FONT_CACHE")
    if folder is not None:
        return Path(folder) if folder else None
    try:
        return Path(mpl.get_cachedir()) / "bayes_cluster_font_subsets"
    except Exception:  # no writable cache folder: subset every time, as matplotlib does
        return None


@contextlib.contextmanager
def _cached_font_subsets(folder: Path | None = None) -> Iterator[None]:
    """Reuse the PDFs' font subsets across figures and runs while the context runs.

    matplotlib subsets each font of each PDF with fontTools (about 40 ms a subset, three a
    figure: some 3 s of the Tumang run's 27 figures), the same fonts with the same glyphs
    run after run. The subset's bytes and its glyph map are kept in ``folder`` (default
    :func:`font_subset_cache`) under a hash of everything they depend on (the font file's
    path, size and modification time, the glyphs, the versions of matplotlib and
    fontTools, the tables :func:`_lean_font_subsets` leaves out), and later PDFs read them:
    the same bytes in the PDF (``tests/test_run_speed.py``). A file that cannot be read or
    written is subset as before; where matplotlib's code no longer looks as expected,
    nothing changes.
    """
    from matplotlib.backends import _backend_pdf_ps

    original = getattr(_backend_pdf_ps, "get_glyphs_subset", None)
    results = getattr(_backend_pdf_ps, "SubsetResults", None)
    folder = font_subset_cache() if folder is None else folder
    if folder is None or original is None or results is None:
        yield
        return

    def get_glyphs_subset(fontfile: Any, glyphs: Any) -> Any:
        import hashlib
        import io
        import json
        import os

        import fontTools
        from fontTools.ttLib import TTFont

        glyphs = sorted({int(g) for g in glyphs})
        try:
            stat = os.stat(fontfile)
        except (OSError, TypeError, ValueError):
            return original(fontfile, glyphs)
        key = json.dumps(
            [
                mpl.__version__,
                fontTools.version,
                list(FONT_LAYOUT_TABLES),
                str(fontfile),
                getattr(fontfile, "face_index", 0),
                stat.st_size,
                stat.st_mtime_ns,
                glyphs,
            ]
        )
        path = folder / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            data = bytes.fromhex(record["font"])
            mapping = {int(a): int(b) for a, b in record["glyph_index_map"]}
        except (OSError, ValueError, KeyError, TypeError):
            with original(fontfile, glyphs) as made:
                data = _backend_pdf_ps.font_as_file(made.font).getvalue()
                mapping = {int(a): int(b) for a, b in made.glyph_index_map.items()}
            _keep(path, {"font": data.hex(), "glyph_index_map": sorted(mapping.items())})
        font = TTFont(io.BytesIO(data), recalcTimestamp=False)  # saved as the same bytes
        return results(font, mapping)._as_cm()

    _backend_pdf_ps.get_glyphs_subset = get_glyphs_subset
    try:
        yield
    finally:
        _backend_pdf_ps.get_glyphs_subset = original


def _keep(path: Path, record: dict) -> None:
    """Write a font subset's record into the cache (whole or not at all; errors ignored)."""
    import json
    import os
    import tempfile

    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        entries = sorted(path.parent.glob("*.json"), key=lambda p: p.stat().st_mtime)
        if len(entries) >= FONT_SUBSET_CACHE_FILES:  # only this cache's own files
            for old in entries[: len(entries) // 2]:
                old.unlink(missing_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".part")
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(record, file)
        os.replace(temporary, path)
    except OSError:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
