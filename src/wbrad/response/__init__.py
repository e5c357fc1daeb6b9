"""Response assessment from lesion tracks: RECIST 1.1, iRECIST and PERCIST 1.0, as pure functions over pandas tables.

Input (the tracking stage's output joined with the lesion tables): one row per (track, timepoint, lesion) with
``track`` (int), ``timepoint``, ``day`` (since baseline), ``lesion`` (that scan's label, NA if not seen), ``status``
(``baseline`` at the baseline; then matched/new/disappeared/merged/split), ``site``
(:data:`wbrad.lesions.columns.SITES`), ``long_axis_mm``, ``short_axis_mm`` (NA if not seen), optionally
``volume_ml``. Names in :mod:`.vocabulary`; how split and merged lesions are counted in :mod:`.measures`.

API:

- ``recist.select_targets(table, rules=None) -> DataFrame``: baseline role (target/nontarget/normal) per track.
- ``recist.recist_table(table, rules: RecistRules | None) -> DataFrame``: one row per timepoint with the sums, nadir,
  changes, non-target and new-lesion numbers and ``category``.
- ``recist.best_overall_response(recist_table, rules: BestResponseRules | None) -> str``.
- ``irecist.irecist_table(table, rules: IrecistRules | None) -> DataFrame``: the RECIST columns plus new-lesion sums,
  the iUPD bar and ``irecist_category``; ``irecist.best_overall_response(irecist_table, rules) -> str``;
  ``irecist.confirmed_progression(irecist_table) -> dict | None`` (first iCPD: timepoint, day, iupd_day).
- ``percist.sul_factor(weight_kg, height_cm, sex, formula="james")``, ``percist.liver_reference(suv, liver_mask,
  factor=...) -> LiverReference``, ``percist.hottest_sulpeak(suv, lesion_map, ids, factor) -> (lesion, SULpeak)``,
  ``percist.percist_table(scans, rules: PercistRules | None) -> DataFrame`` (one row per PET timepoint in, the
  numbers behind each call and ``category`` out).

Each module's docstring cites the sections of the paper it implements and states where an interpretation was needed.
"""
