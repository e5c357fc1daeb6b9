# Stage 2, body composition: segmentation masks (a backend), then L3 and organ metrics with a QC picture.

BODYCOMP = config["bodycomp"]
SEGMENTATION = for_tissue_source(config["segmentation"], BODYCOMP["tissue_source"])
RUNS_MODEL = SEGMENTATION["backend"] == "totalsegmentator"  # a network, not a copy: its own threads, memory and GPU
MODEL = SEGMENTATION["totalsegmentator"]


rule segment:
    input:
        ct="results/{patient}/{timepoint}/ct.nii.gz",
        source=lambda w: scan(w).segmentation or [],
    output:
        seg=directory("results/{patient}/{timepoint}/seg"),
    params:
        segmentation={key: SEGMENTATION[key] for key in ("backend", SEGMENTATION["backend"]) if key in SEGMENTATION},
    log:
        "logs/segment/{patient}_{timepoint}.log",
    benchmark:
        "logs/benchmark/segment/{patient}_{timepoint}.tsv",
    group:
        "scan"
    threads: MODEL["threads"] if RUNS_MODEL else 1
    resources:
        mem_mb=MODEL["mem_mb"] if RUNS_MODEL else 4000,
        runtime=60 if RUNS_MODEL else 30,
        gpu=int(RUNS_MODEL and MODEL["device"] == "gpu"),
        segment_slots=1,  # the local profile runs one segmentation at a time
    conda:
        "../envs/segmentation.yaml"
    script:
        "../scripts/segment.py"


rule bodycomp:
    input:
        ct="results/{patient}/{timepoint}/ct.nii.gz",
        seg="results/{patient}/{timepoint}/seg",
        cutoffs=workflow_file(BODYCOMP["cutoffs"]),
    output:
        table="results/{patient}/{timepoint}/bodycomp.tsv",
        qc=report(
            "results/{patient}/{timepoint}/qc/bodycomp.png",
            caption="../report/bodycomp_qc.rst",
            category="Body composition QC",
            subcategory="{patient}",
            labels={"patient": "{patient}", "timepoint": "{timepoint}"},
        ),
    params:
        body=lambda w: {key: registry_value(w.patient, key) for key in ("sex", "height_cm", "weight_kg")},
        settings={key: value for key, value in BODYCOMP.items() if key != "cutoffs"},
    log:
        "logs/bodycomp/{patient}_{timepoint}.log",
    benchmark:
        "logs/benchmark/bodycomp/{patient}_{timepoint}.tsv",
    group:
        "scan"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/imaging.yaml"
    script:
        "../scripts/bodycomp.py"
