"""The response vocabulary, declared once: category words, input columns and track statuses."""

from __future__ import annotations

# --- RECIST 1.1 (Eisenhauer et al., Eur J Cancer 2009, sections 4.3-4.4) ----------------------------------------------
CR, PR, SD, PD, NE = "CR", "PR", "SD", "PD", "NE"
NON_CR_NON_PD = "non-CR/non-PD"  # non-target disease only (section 4.4.1, Table 2)
RECIST_CATEGORIES = (CR, PR, SD, NON_CR_NON_PD, PD, NE)

# --- iRECIST (Seymour et al., Lancet Oncol 2017, Table 2) -------------------------------------------------------------
ICR, IPR, ISD, IUPD, ICPD = "iCR", "iPR", "iSD", "iUPD", "iCPD"
INON_CR_NON_UPD = "non-iCR/non-iUPD"
IRECIST_CATEGORIES = (ICR, IPR, ISD, INON_CR_NON_UPD, IUPD, ICPD, NE)

# --- PERCIST 1.0 (Wahl et al., J Nucl Med 2009, Table 9) --------------------------------------------------------------
CMR, PMR, SMD, PMD = "CMR", "PMR", "SMD", "PMD"
PERCIST_CATEGORIES = (CMR, PMR, SMD, PMD, NE)

# --- lesion roles at baseline (RECIST 1.1 section 3.3) ----------------------------------------------------------------
TARGET, NONTARGET, NORMAL = "target", "nontarget", "normal"

# --- the input table: one row per (track, timepoint, lesion) ----------------------------------------------------------
TRACK, TIMEPOINT, DAY, LESION, STATUS, SITE = "track", "timepoint", "day", "lesion", "status", "site"
LONG, SHORT, VOLUME = "long_axis_mm", "short_axis_mm", "volume_ml"  # VOLUME optional (a non-target rule may use it)
DIAMETER = "diameter_mm"  # RECIST's measure: the short axis of a lymph node, the long axis of anything else
INPUT_COLUMNS = (TRACK, TIMEPOINT, DAY, LESION, STATUS, SITE, LONG, SHORT)
BASELINE, MATCHED, NEW, DISAPPEARED, MERGED, SPLIT = "baseline", "matched", "new", "disappeared", "merged", "split"
STATUSES = (BASELINE, MATCHED, NEW, DISAPPEARED, MERGED, SPLIT)
NODE = "lymph_node"  # the site whose lesions are measured by their short axis
