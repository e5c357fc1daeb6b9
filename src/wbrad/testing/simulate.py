"""A synthetic cohort table with known truth, for tests and benchmarks: no images, one row per patient.

Clinical data and outcomes come from :func:`wbrad.synth.draw_patients` (a Cox model with known coefficients); the
imaging columns are the latent truths with measurement noise, as the pipeline would measure them, plus optional
pure-noise radiomics features.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wbrad.synth import draw_patients

# Columns with a true effect on OS and PFS (see wbrad.synth.registry.COEFFICIENTS); age, sex, braf, therapy have none.
TRUE_EFFECTS = ["ecog", "ldh", "bc_l3_smi_cm2m2", "ct_total_volume_ml", "delta_rel_ct_total_volume_ml"]
CLINICAL = ["age", "sex", "ecog", "ldh", "braf", "therapy"]
IMAGING = ["bc_l3_smi_cm2m2", "ct_total_volume_ml", "delta_rel_ct_total_volume_ml"]


def cohort_table(n: int, seed: int = 0, n_noise: int = 0) -> pd.DataFrame:
    """``n`` patients: registry columns, measured imaging columns, ``followup_day`` (the follow-up scan's day after
    therapy start, missing without one) and ``n_noise`` noise features ``ct_noise_0000``..."""
    patients = draw_patients(n, seed)
    rng = np.random.default_rng([seed, 7])
    rows = []
    for p in patients:
        rows.append({
            "patient_id": p.pid, **{k: p.clinical[k] for k in ("age", "sex", "ecog", "ldh", "braf", "therapy")},
            **{k: p.clinical[k] for k in ("os_days", "os_event", "pfs_days", "pfs_event", "best_response",
                                          "irae_any")},
            "bc_l3_smi_cm2m2": p.latent["l3_smi_cm2m2"] * rng.normal(1, 0.03),
            "ct_total_volume_ml": np.exp(p.latent["log_tumour_volume_ml"]) * rng.normal(1, 0.05),
            "delta_rel_ct_total_volume_ml": p.latent["rel_change_fu1"] + rng.normal(0, 0.02),
            "followup_day": p.timepoints.get("fu1", np.nan)})
    table = pd.DataFrame(rows)
    noise = pd.DataFrame(rng.normal(size=(n, n_noise)), columns=[f"ct_noise_{i:04d}" for i in range(n_noise)])
    return pd.concat([table, noise], axis=1)
