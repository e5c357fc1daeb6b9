# Stage 2, body composition: segmentation masks (a backend), then L3 and organ metrics with a QC picture.


rule segment:
    input:
        ct="results/{patient}/{timepoint}/ct.nii.gz",
        source=lambda w: scan(w).segmentation or [],
    output:
        seg=directory("results/{patient}/{timepoint}/seg"),
    params:
        backend=config["segmentation"]["backend"],
    log:
        "logs/segment/{patient}_{timepoint}.log",
    benchmark:
        "logs/benchmark/segment/{patient}_{timepoint}.tsv",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../envs/segmentation.yaml"
    script:
        "../scripts/segment.py"


rule bodycomp:
    input:
        ct="results/{patient}/{timepoint}/ct.nii.gz",
        seg="results/{patient}/{timepoint}/seg",
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
        height_cm=lambda w: registry_value(w.patient, "height_cm"),
    log:
        "logs/bodycomp/{patient}_{timepoint}.log",
    benchmark:
        "logs/benchmark/bodycomp/{patient}_{timepoint}.tsv",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/imaging.yaml"
    script:
        "../scripts/bodycomp.py"
