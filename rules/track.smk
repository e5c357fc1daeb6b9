# Stage 4a, tracking: each follow-up CT registered onto the patient's baseline CT, then one job per patient follows
# every lesion over the timepoints (labels need not be shared) and assesses RECIST 1.1, iRECIST and PERCIST response.


rule register:
    input:
        baseline=lambda w: path(CT_IMAGE, patient=w.patient, timepoint=BASELINE),
        followup=CT_IMAGE,
    output:
        transform=TRANSFORM,
        quality=REGISTRATION_QUALITY,
    log:
        "logs/register/{patient}_{timepoint}.log",
    benchmark:
        "logs/benchmark/register/{patient}_{timepoint}.tsv"
    conda:
        "../envs/radiomics.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=20,
    script:
        "../scripts/register.py"


rule track:
    input:
        maps=lambda w: tracked_files(LESION_MAP, w.patient),
        tables=lambda w: tracked_files(LESION_TABLE, w.patient, modality="ct"),
        transforms=lambda w: tracked_files(TRANSFORM, w.patient)[1:],
        pets=lambda w: tracked_files(PET_SUV, w.patient, pet=True),
        segs=lambda w: tracked_files(SEG_DIR, w.patient, pet=True),
    output:
        tracks=TRACKS,
        response=RESPONSE,
    log:
        "logs/track/{patient}.log",
    benchmark:
        "logs/benchmark/track/{patient}.tsv"
    conda:
        "../envs/radiomics.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=10,
    params:
        days=lambda w: tracked_days(w.patient),
        pet_timepoints=lambda w: tracked_timepoints(w.patient, pet=True),
        body=lambda w: body_size(w.patient),
        labels=config["tracking"]["labels"],
        gates=config["tracking"]["gates"],
    script:
        "../scripts/track.py"


rule tracking_qc:
    input:
        baseline=lambda w: path(CT_IMAGE, patient=w.patient, timepoint=BASELINE),
        baseline_lesions=lambda w: path(LESION_MAP, patient=w.patient, timepoint=BASELINE),
        followup=CT_IMAGE,
        followup_lesions=LESION_MAP,
        transform=TRANSFORM,
        tracks=lambda w: path(TRACKS, patient=w.patient),
    output:
        png=report(
            TRACKING_QC,
            caption="../report/tracking_qc.rst",
            category="Lesion tracking",
            subcategory="{patient}",
            labels={"patient": "{patient}", "timepoint": "{timepoint}"},
        ),
    log:
        "logs/tracking_qc/{patient}_{timepoint}.log",
    benchmark:
        "logs/benchmark/tracking_qc/{patient}_{timepoint}.tsv"
    conda:
        "../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        baseline=BASELINE,
    script:
        "../scripts/tracking_qc.py"
