# Stage 2, body composition: segmentation masks (a backend), then L3 and organ metrics with a QC picture.

BODYCOMP_SETTINGS = config["bodycomp"]
SEGMENTATION = for_tissue_source(config["segmentation"], BODYCOMP_SETTINGS["tissue_source"])
RUNS_MODEL = SEGMENTATION["backend"] == "totalsegmentator"  # a network, not a copy: its own threads, memory and GPU
MODEL = SEGMENTATION["totalsegmentator"]


# A model backend segments all CTs of a patient in one segment_batch job (each network loaded once); the per-scan
# segment job then links that CT's masks into its SEG_DIR. A new timepoint of a patient reruns the patient's batch
# (and so every timepoint's segment and downstream jobs); the precomputed backend keeps one job per scan. On SLURM the
# patient's conversions, batch, links and body composition go as one cluster job (group "scan": profiles/slurm).
SEG_BATCH = study.SEG_BATCH
SEGMENT_PARAMS = {key: SEGMENTATION[key] for key in ("backend", SEGMENTATION["backend"]) if key in SEGMENTATION}


if RUNS_MODEL:

    rule segment_batch:
        input:
            cts=lambda w: [path(CT_IMAGE, patient=w.patient, timepoint=tp) for tp in timepoints(w.patient)],
        output:
            batch=directory(SEG_BATCH),
        log:
            "logs/segment_batch/{patient}.log",
        benchmark:
            "logs/benchmark/segment_batch/{patient}.tsv"
        conda:
            "../envs/segmentation.yaml"
        threads: MODEL["threads"]
        resources:
            mem_mb=MODEL["mem_mb"],
            runtime=lambda w: 60 * len(timepoints(w.patient)),
            gpu=int(MODEL["device"] == "gpu"),
            segment_slots=1,  # the local profile runs one segmentation at a time
        params:
            segmentation=SEGMENT_PARAMS,
            tissue_source=BODYCOMP_SETTINGS["tissue_source"],
            timepoints=lambda w: timepoints(w.patient),
        script:
            "../scripts/segment.py"


rule segment:
    input:
        ct=CT_IMAGE,
        source=SEG_BATCH if RUNS_MODEL else lambda w: scan(w).segmentation or [],
    output:
        seg=directory(SEG_DIR),
    log:
        "logs/segment/{patient}_{timepoint}.log",
    benchmark:
        "logs/benchmark/segment/{patient}_{timepoint}.tsv"
    conda:
        "../envs/segmentation.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        segmentation=SEGMENT_PARAMS,
        tissue_source=BODYCOMP_SETTINGS["tissue_source"],
        batch=RUNS_MODEL,  # source is the patient's segment_batch folder
    script:
        "../scripts/segment.py"


rule bodycomp:
    input:
        ct=CT_IMAGE,
        seg=SEG_DIR,
        cutoffs=workflow_file(BODYCOMP_SETTINGS["cutoffs"]),
    output:
        table=BODYCOMP,
        qc=report(
            BODYCOMP_QC,
            caption="../report/bodycomp_qc.rst",
            category="Body composition QC",
            subcategory="{patient}",
            labels={"patient": "{patient}", "timepoint": "{timepoint}"},
        ),
    log:
        "logs/bodycomp/{patient}_{timepoint}.log",
    benchmark:
        "logs/benchmark/bodycomp/{patient}_{timepoint}.tsv"
    conda:
        "../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        body=lambda w: {key: registry_value(w.patient, key) for key in ("sex", "height_cm", "weight_kg")},
        settings={key: value for key, value in BODYCOMP_SETTINGS.items() if key != "cutoffs"},
    script:
        "../scripts/bodycomp.py"
