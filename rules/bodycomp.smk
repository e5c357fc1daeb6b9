# Stage 2, body composition: segmentation masks (a backend), then L3 and organ metrics with a QC picture.

BODYCOMP_SETTINGS = config["bodycomp"]
SEGMENTATION = for_tissue_source(config["segmentation"], BODYCOMP_SETTINGS["tissue_source"])
RUNS_MODEL = SEGMENTATION["backend"] == "totalsegmentator"  # a network, not a copy: its own threads, memory and GPU
MODEL = SEGMENTATION["totalsegmentator"]


rule segment:
    input:
        ct=CT_IMAGE,
        source=lambda w: scan(w).segmentation or [],
    output:
        seg=directory(SEG_DIR),
    log:
        "logs/segment/{patient}_{timepoint}.log",
    benchmark:
        "logs/benchmark/segment/{patient}_{timepoint}.tsv"
    group:
        "scan"
    conda:
        "../envs/segmentation.yaml"
    threads: MODEL["threads"] if RUNS_MODEL else 1
    resources:
        mem_mb=MODEL["mem_mb"] if RUNS_MODEL else 4000,
        runtime=60 if RUNS_MODEL else 30,
        gpu=int(RUNS_MODEL and MODEL["device"] == "gpu"),
        segment_slots=1,  # the local profile runs one segmentation at a time
    params:
        segmentation={key: SEGMENTATION[key] for key in ("backend", SEGMENTATION["backend"]) if key in SEGMENTATION},
        tissue_source=BODYCOMP_SETTINGS["tissue_source"],
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
    group:
        "scan"
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
