"""Data dictionary of the cohort table (unit, source and description of every column) and the column tables of
docs/data-contracts.md, both made from the declarations.

Registry columns are declared in schemas/registry.schema.yaml (each property's ``unit`` and ``description``),
``bc_<metric>`` in wbrad.bodycomp.columns, ``ct_``/``pet_<aggregate>`` and ``delta_<abs|rel>_<ct|pet>_<aggregate>``
in wbrad.lesions.columns, ``burden_<value>`` and ``delta_<abs|rel>_burden_<value>`` in wbrad.burden.columns, and the
cohort stage's own columns in ``COHORT``. A column that none declares is described
as undeclared (source ``... (undeclared)``, no unit), never guessed.

After changing a declaration, rewrite the doc's tables (a ``make doc`` target would run this)::

    python -m wbrad.cohort.dictionary --write-doc docs/data-contracts.md
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from wbrad.bodycomp import columns as bodycomp
from wbrad.burden import columns as burden
from wbrad.cohort.merge import SCANNER
from wbrad.columns import Column
from wbrad.lesions import columns as lesions
from wbrad.response import cohort as response
from wbrad.study import CT, LANDMARK, MODALITY_OF_FILE, MODALITY_WORDS, PET, modality, schema

Described = tuple[str | None, str, str]  # unit, source, description

IMAGE_UNITS = {CT: "HU", PET: "SUV"}
FILE_WORDS = "|".join(MODALITY_OF_FILE)  # ct|pet, the cohort's column prefixes
REGISTRY = "registry.csv"
BODYCOMP = ("bodycomp.tsv ({baseline})", "{what} ({baseline} CT body composition)")  # source, description
AGGREGATES = ("aggregates.tsv ({baseline}, {modality})", "{what} ({baseline} {modality})")
DELTA_ABS = ("delta.tsv ({followup})", "change {followup} - {baseline} of: {what} ({modality})")
DELTA_REL = ("delta.tsv ({followup})", "relative change ({followup} - {baseline}) / {baseline} of: {what} ({modality})")
BURDEN = ("burden.tsv ({baseline})", "{what} ({baseline} PET tumour burden)")
BURDEN_ABS = ("burden.tsv ({followup}, {baseline})", "change {followup} - {baseline} of: {what} (PET tumour burden)")
BURDEN_REL = ("burden.tsv ({followup}, {baseline})",
              "relative change ({followup} - {baseline}) / {baseline} of: {what} (PET tumour burden)")
DELTA_UNITS = {"0/1": "-1/0/1"}  # the unit of an absolute change where it differs from the value's
COHORT = (  # the cohort stage's own columns and their sources
    (Column("delta_baseline_days", "days", "days from the {baseline} scan to the {followup} scan"),
     "delta.tsv ({followup})"),
    (Column(LANDMARK, "days", "days from therapy start (registry therapy_start) to the {followup} CT scan "
                                     "(manifest scan_date)"), "manifest.tsv, registry.csv"),
    (Column(SCANNER, "category", "scanner or protocol profile of the {baseline} CT scan (manifest scanner; the ComBat "
                         "batch of model.harmonise)"), "manifest.tsv"),
    *((column, "tracks.tsv, response.tsv ({followup})") for column in response.COLUMNS),
)
UNDECLARED = {"bc_": "bodycomp.tsv", "burden_": "burden.tsv", "delta_abs_burden_": "burden.tsv",
              "delta_rel_burden_": "burden.tsv", "delta_": "delta.tsv",
              **{f"{w}_": "aggregates.tsv" for w in MODALITY_OF_FILE}}


def registry_properties() -> dict[str, dict]:
    """The registry schema's properties: each column's validation keywords, ``unit`` and ``description``."""
    return schema("registry")["properties"]


def radiomics_unit(feature: str, modality_name: str) -> str | None:
    """Unit of a pyradiomics feature name such as ``original_shape_VoxelVolume``; None if not one."""
    return lesions.feature_unit(feature, IMAGE_UNITS[modality(modality_name)])


def aggregate_column(name: str, file_word: str) -> Column | None:
    """The declaration of an aggregates.tsv column of a modality (``ct``/``pet``); None if undeclared."""
    return lesions.aggregate_column(name, IMAGE_UNITS[modality(file_word)])


def _registry(column: str, words: dict[str, str]) -> Described | None:
    prop = registry_properties().get(column)
    return None if prop is None else (prop.get("unit"), REGISTRY, prop.get("description", ""))


def _bodycomp(column: str, words: dict[str, str]) -> Described | None:
    found = next((c for c in bodycomp.COLUMNS if f"bc_{c.name}" == column), None)
    return None if found is None else (found.unit, *_texts(BODYCOMP, words, found.description))


def _aggregate(column: str, words: dict[str, str]) -> Described | None:
    match = re.fullmatch(rf"({FILE_WORDS})_(.+)", column)
    found = match and aggregate_column(match[2], match[1])
    if not found:
        return None
    return found.unit, *_texts(AGGREGATES, words | {"modality": MODALITY_WORDS[modality(match[1])]}, found.description)


def _delta(column: str, words: dict[str, str]) -> Described | None:
    match = re.fullmatch(rf"delta_(abs|rel)_({FILE_WORDS})_(.+)", column)
    found = match and aggregate_column(match[3], match[2])
    if not found:
        return None
    words = words | {"modality": MODALITY_WORDS[modality(match[2])]}
    if match[1] == "rel":
        return "fraction", *_texts(DELTA_REL, words, found.description)
    return DELTA_UNITS.get(found.unit, found.unit), *_texts(DELTA_ABS, words, found.description)


def _burden(column: str, words: dict[str, str]) -> Described | None:
    match = re.fullmatch(r"(?:delta_(abs|rel)_)?burden_(.+)", column)
    found = match and match[2] in burden.COHORT_VALUES and burden.column(match[2])
    if not found:
        return None
    if match[1] == "rel":
        return "fraction", *_texts(BURDEN_REL, words, found.description)
    return found.unit, *_texts(BURDEN_ABS if match[1] else BURDEN, words, found.description)


def _cohort(column: str, words: dict[str, str]) -> Described | None:
    for found, source in COHORT:
        if found.name == column:
            return found.unit, source.format(**words), found.description.format(**words)
    return None


def _texts(templates: tuple[str, str], words: dict[str, str], what: str) -> tuple[str, str]:
    source, text = templates
    return source.format(**words), text.format(**words, what=what)


def _undeclared(column: str) -> Described:
    source = next((s for prefix, s in UNDECLARED.items() if column.startswith(prefix)), REGISTRY)
    return None, f"{source} (undeclared)", (f"{column}: declared in none of schemas/registry.schema.yaml, "
                                            "wbrad.bodycomp.columns, wbrad.lesions.columns, wbrad.burden.columns")


FAMILIES = (_registry, _bodycomp, _aggregate, _delta, _burden, _cohort)


def describe(column: str, baseline: str = "baseline", followup: str = "fu1") -> Described:
    """``(unit, source, description)`` of one cohort column."""
    words = {"baseline": baseline, "followup": followup}
    return next((d for family in FAMILIES if (d := family(column, words)) is not None), None) or _undeclared(column)


def data_dictionary(columns: list[str], baseline: str = "baseline", followup: str = "fu1") -> pd.DataFrame:
    """One row per column: ``column, unit, source, description``."""
    rows = [(c, *describe(c, baseline, followup)) for c in columns]
    return pd.DataFrame(rows, columns=["column", "unit", "source", "description"])


# --- the tables of docs/data-contracts.md -----------------------------------------------------------------------------
def _markdown(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(str(cell).replace("|", "\\|") for cell in line) + " |" for line in lines)


def schema_type(prop: dict) -> str:
    """A registry property's JSON-schema type in words: enum values, range or pattern, ``or empty`` if nullable."""
    kinds = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
    text = " or ".join(k for k in kinds if k != "null")
    if "enum" in prop:
        text = " / ".join(f"`{v}`" for v in prop["enum"] if v is not None)
    elif "minimum" in prop:
        text += f" {prop['minimum']}-{prop['maximum']}" if "maximum" in prop else f" >= {prop['minimum']}"
    elif "pattern" in prop:
        text += f" `{prop['pattern']}`"
    return text + (" or empty" if "null" in kinds else "")


def _family_row(family: lesions.Family) -> tuple[str, str, str]:
    restricted = f" (`{'`, `'.join(family.values)}`)" if family.values else ""
    return (f"`{family.pattern}`", family.unit or f"the {family.word}'s",
            family.description.format(f"`<{family.word}>`") + restricted)


def _cohort_rows(words: dict[str, str]) -> list[tuple[str, str, str, str]]:
    def row(pattern: str, unit: str, templates: tuple[str, str], what: str, **more: str) -> tuple[str, str, str, str]:
        return (pattern, unit, *_texts(templates, words | more, what))

    image = {"modality": "CT / PET"}
    own = {c.name: (f"`{c.name}`", c.unit, source.format(**words), c.description.format(**words))
           for c, source in COHORT}
    return [
        ("`<registry column>`", "as declared", REGISTRY, "the registry's columns, as above"),
        own[LANDMARK],
        own[SCANNER],
        row("`bc_<metric>`", "the metric's", BODYCOMP, "`<metric>` of bodycomp.tsv but l3_slice and qc_reason"),
        row(f"`<{FILE_WORDS}>_<aggregate>`", "the aggregate's", AGGREGATES, "`<aggregate>` of aggregates.tsv", **image),
        own["delta_baseline_days"],
        row(f"`delta_abs_<{FILE_WORDS}>_<aggregate>`", "the aggregate's", DELTA_ABS, "`<aggregate>`", **image),
        row(f"`delta_rel_<{FILE_WORDS}>_<aggregate>`", "fraction", DELTA_REL, "`<aggregate>`", **image),
        row(f"`burden_<{'|'.join(burden.COHORT_VALUES)}>`", "the value's", BURDEN, "`<value>` of burden.tsv"),
        row("`delta_abs_burden_<value>`", "the value's", BURDEN_ABS, "`<value>`"),
        row("`delta_rel_burden_<value>`", "fraction", BURDEN_REL, "`<value>`"),
        *(own[c.name] for c in response.COLUMNS),
    ]


def markdown_tables(baseline: str = "baseline", followup: str = "fu1") -> dict[str, str]:
    """The doc's column tables by name (``registry``, ``bodycomp``, ``lesion_values``, ``aggregates``, ``burden``,
    ``cohort``)."""
    registry = schema("registry")
    values = [(f"`{c.name}`", c.unit, c.description) for c in lesions.VALUES]
    values.append(("`<pyradiomics feature>`", "from the name", "e.g. `original_firstorder_Mean`: shape features in "
                   "mm, mm2, mm3 or unitless; first-order ones in the image's unit (HU, SUV; squared for Energy and "
                   "Variance; a.u. on filtered images); texture features unitless"))
    aggregates = [_family_row(e) if isinstance(e, lesions.Family) else (f"`{e.name}`", e.unit, e.description)
                  for e in lesions.AGGREGATES]
    return {
        "registry": _markdown(["column", "type", "unit", "required", "description"], (
            (f"`{name}`", schema_type(prop), prop.get("unit", ""), "yes" if name in registry["required"] else "",
             prop.get("description", "")) for name, prop in registry["properties"].items())),
        "bodycomp": _markdown(["column", "unit", "description"],
                              ((f"`{c.name}`", c.unit, c.description) for c in bodycomp.COLUMNS)),
        "lesion_values": _markdown(["value", "unit", "description"], values),
        "aggregates": _markdown(["column", "unit", "description"], aggregates),
        "burden": _markdown(["column", "unit", "description"],
                            ((f"`{c.name}`", c.unit, c.description) for c in burden.COLUMNS)),
        "cohort": _markdown(["column", "unit", "source", "description"],
                            _cohort_rows({"baseline": baseline, "followup": followup})),
    }


MARKERS = re.compile(r"(<!-- columns:(?P<name>\w+):start -->\n).*?(<!-- columns:(?P=name):end -->)", re.S)


def rewrite_doc(text: str, tables: dict[str, str] | None = None) -> str:
    """``text`` with every table between ``<!-- columns:<name>:start -->`` and ``<!-- columns:<name>:end -->``
    regenerated; an error for an unknown name or a table without its markers."""
    tables = markdown_tables() if tables is None else tables
    found = [m["name"] for m in MARKERS.finditer(text)]
    if sorted(found) != sorted(tables):
        raise ValueError(f"column table markers {sorted(found)} differ from the tables {sorted(tables)}")
    return MARKERS.sub(lambda m: f"{m[1]}{tables[m['name']]}\n{m[3]}", text)


def main(argv: list[str] | None = None) -> int:
    """``--write-doc FILE`` rewrites the doc's column tables; ``--check-doc FILE`` exits 1 where they are stale."""
    parser = argparse.ArgumentParser(prog="python -m wbrad.cohort.dictionary", description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write-doc", type=Path, metavar="MARKDOWN", help="rewrite the tables in place")
    action.add_argument("--check-doc", type=Path, metavar="MARKDOWN", help="exit 1 if the tables are stale")
    args = parser.parse_args(argv)
    path = args.write_doc or args.check_doc
    text = path.read_text(encoding="utf-8")
    fresh = rewrite_doc(text)
    if args.write_doc:
        path.write_text(fresh, encoding="utf-8")
    elif fresh != text:
        print(f"{path}: column tables differ from the declarations; run python -m wbrad.cohort.dictionary "
              f"--write-doc {path}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
