# Stage 3, lesion radiomics: one job per scan extracts every lesion's features (CT, and PET on the CT grid).

MODALITY_IMAGE = {"ct": "ct.nii.gz", "pet": "pet_suv_ct.nii.gz"}
MODALITY_PARAMS = {"ct": workflow_file(config["lesions"]["params"]["CT"]), "pet": workflow_file(config["lesions"]["params"]["PT"])}


rule lesions:
    input:
        image=lambda w: f"{RESULTS}/{w.patient}/{w.timepoint}/{MODALITY_IMAGE[w.modality]}",
        lesions="results/{patient}/{timepoint}/lesions.nii.gz",
        params=lambda w: MODALITY_PARAMS[w.modality],
    output:
        table="results/{patient}/{timepoint}/lesions_{modality}.tsv",
    log:
        "logs/lesions/{patient}_{timepoint}_{modality}.log",
    benchmark:
        "logs/benchmark/lesions/{patient}_{timepoint}_{modality}.tsv",
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../envs/radiomics.yaml"
    script:
        "../scripts/lesions.py"
