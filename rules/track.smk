# Stage 4a, tracking: each follow-up CT registered onto the patient's baseline CT, then one job per patient follows
# every lesion over the timepoints (labels need not be shared), assesses RECIST 1.1, iRECIST and PERCIST response and
# draws the patient's tracking QC picture (baseline and every registered follow-up).


rule register:
    input:
        baseline=at_baseline(CT_IMAGE),
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
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    script:
        "../scripts/register.py"


rule track:
    input:
        unpack(track_inputs),
    output:
        tracks=TRACKS,
        response=RESPONSE,
        qc=report(
            TRACKING_QC,
            caption="../report/tracking_qc.rst",
            category="Lesion tracking",
            subcategory="{patient}",
            labels={"patient": "{patient}"},
        ),
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
