"""The survey codebook of the Tumang study, as data.

One :class:`Column` per survey column: its type, allowed values, the Indonesian
questionnaire label and the meaning.  :mod:`bayes_cluster.surveys.survey` validates files
against it, ``data/README.md`` documents it, and the simulator writes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bayes_cluster.surveys.markusen import SIGNATURES

ColumnKind = Literal["id", "binary", "count", "number", "likert", "category"]

DECIMAL_MARKS: tuple[str, ...] = (".", ",")
"""Decimal marks a survey file may use (declared, or told from the file)."""

THOUSANDS_SEPARATORS: tuple[str, ...] = ("", ".", ",", " ", "'")
"""Thousands separators a survey file may declare (``""``: none)."""


@dataclass(frozen=True)
class Column:
    """One column of a survey codebook.

    Parameters
    ----------
    name : str
        Column name in the file (English snake_case).
    kind : {"id", "binary", "count", "number", "likert", "category"}
        ``id``: unique string; ``binary``: 0/1; ``count``: integer >= ``minimum``;
        ``number``: real >= ``minimum``; ``likert``: integer in ``levels``;
        ``category``: a label (free unless ``levels`` is given).
    label_id : str
        The Indonesian questionnaire label.
    meaning : str
        What the column measures, in English.
    minimum : float or None
        Smallest allowed value for ``count``/``number`` columns.
    levels : tuple or None
        Allowed values for ``likert`` (integers) and, optionally, ``category`` columns.
    required : bool
        Whether a file must contain the column.
    """

    name: str
    kind: ColumnKind
    label_id: str
    meaning: str
    minimum: float | None = None
    levels: tuple | None = None
    required: bool = True
    role: str = field(default="", compare=False)

    def expected(self) -> str:
        """Describe, in words, what a valid value of this column looks like."""
        match self.kind:
            case "id":
                return "a unique, non-empty identifier"
            case "binary":
                return "0 or 1"
            case "count":
                return f"a whole number >= {self.minimum:g}"
            case "number":
                return f"a number >= {self.minimum:g}"
            case "likert":
                lo, hi = min(self.levels), max(self.levels)
                return f"a whole number from {lo} to {hi}"
            case "category":
                if self.levels:
                    return "one of " + ", ".join(map(str, self.levels))
                return "a non-empty label"
        raise AssertionError(self.kind)  # pragma: no cover


LIKERT_5 = (1, 2, 3, 4, 5)

PRODUCT_LINES = ("household_utensils", "casting", "repousse_decor", "lamps_domes")
"""Product lines of the Tumang metal-craft cluster (grouping factor of the hierarchy)."""

_MARKUSEN_LABELS_ID = {
    "mk_small_local_firms": "klaster terdiri dari usaha kecil milik warga setempat",
    "mk_hub_dependence": "usaha saya bergantung pada satu/beberapa perusahaan atau pengepul besar",
    "mk_local_trade": "saya membeli dari dan menjual ke usaha lain di klaster",
    "mk_long_term_ties": "hubungan dengan pembeli/pemasok lokal bersifat jangka panjang",
    "mk_cooperation": "antarusaha di sini bekerja sama (berbagi pesanan, alat, pengetahuan)",
    "mk_external_links": "usaha saya punya hubungan kuat dengan usaha di luar klaster",
    "mk_local_labour": "tenaga kerja berasal dan menetap di daerah ini",
    "mk_cultural_identity": "kerajinan logam adalah bagian dari identitas lokal bersama",
    "mk_local_finance": "pembiayaan dan jasa usaha tersedia di daerah ini",
    "mk_government_role": "pemerintah daerah aktif mendukung industri ini",
    "mk_external_ownership": "usaha kunci dimiliki/berkantor pusat di luar daerah",
    "mk_trade_association": "ada asosiasi/paguyuban yang melayani para pengrajin",
}

TUMANG_CODEBOOK: tuple[Column, ...] = (
    Column("firm_id", "id", "nomor responden", "respondent id", role="id"),
    Column(
        "export",
        "binary",
        "orientasi pasar",
        "market orientation: 1 = outward (export), 0 = inward (domestic)",
        role="outcome",
    ),
    Column("workers", "count", "tenaga kerja", "number of workers", minimum=1, role="predictor"),
    Column("firm_age", "number", "umur usaha", "years in business", minimum=0, role="predictor"),
    Column(
        "buyer_network",
        "likert",
        "jaringan pembeli terbesar",
        "reach/intensity of the largest-buyer network (1 = local only .. 5 = international)",
        levels=LIKERT_5,
        role="predictor",
    ),
    Column(
        "promotion",
        "likert",
        "keaktifan berpromosi",
        "promotion activity (1 = none .. 5 = very active: fairs, catalogue, online)",
        levels=LIKERT_5,
        role="predictor",
    ),
    Column(
        "training",
        "binary",
        "pelatihan",
        "owner/workers attended training (1 = yes)",
        role="predictor",
    ),
    Column(
        "technology",
        "likert",
        "teknologi peralatan",
        "equipment from manual tools (1) to machine-assisted (5)",
        levels=LIKERT_5,
        role="predictor",
    ),
    Column(
        "supplier_network",
        "likert",
        "jaringan pemasok bahan baku",
        "raw-material supplier network (1 = single local supplier .. 5 = many, incl. outside)",
        levels=LIKERT_5,
        role="predictor",
    ),
    Column(
        "product_line",
        "category",
        "jenis produk",
        "main product line (grouping factor for the hierarchy)",
        role="group",
    ),
    *(
        Column(
            item,
            "likert",
            _MARKUSEN_LABELS_ID[item],
            f"Markusen item (1 = strongly disagree .. 5 = strongly agree): {statement}",
            levels=LIKERT_5,
            role="markusen",
        )
        for item, (statement, _) in SIGNATURES.items()
    ),
)
"""The built-in codebook of the Tumang survey (design.md, 'Data: the survey schema')."""

TUMANG_PREDICTORS: tuple[str, ...] = tuple(
    c.name for c in TUMANG_CODEBOOK if c.role == "predictor"
)
"""The seven predictors of the export model, in the thesis's order."""


def codebook_frame(codebook: tuple[Column, ...] = TUMANG_CODEBOOK):
    """Return the codebook as a :class:`pandas.DataFrame` (one row per column).

    Parameters
    ----------
    codebook : tuple of Column
        Defaults to the built-in Tumang codebook.

    Returns
    -------
    pandas.DataFrame
        Columns ``column``, ``type``, ``allowed``, ``label_id``, ``meaning``.
    """
    import pandas as pd

    return pd.DataFrame(
        {
            "column": [c.name for c in codebook],
            "type": [c.kind for c in codebook],
            "allowed": [c.expected() for c in codebook],
            "label_id": [c.label_id for c in codebook],
            "meaning": [c.meaning for c in codebook],
        }
    )
