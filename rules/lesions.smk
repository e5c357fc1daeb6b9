# Stage 3, lesion radiomics: one job per scan extracts every lesion's features (CT, and PET on the CT grid), its
# organ site (from seg/) and RECIST axes, and on PET the uptake metrics on the PET's own grid.

MODALITY_IMAGE = {"ct": "ct.nii.gz", "pet": "pet_suv_ct.nii.gz"}
MODALITY_PARAMS = {"ct": workflow_file(config["lesions"]["params"]["CT"]), "pet": workflow_file(config["lesions"]["params"]["PT"])}


rule lesions:
    input:
        image=lambda w: f"{RESULTS}/{w.patient}/{w.timepoint}/{MODALITY_IMAGE[w.modality]}",
        lesions="results/{patient}/{timepoint}/lesions.nii.gz",
        params=lambda w: MODALITY_PARAMS[w.modality],
        seg="results/{patient}/{timepoint}/seg",
        pet=lambda w: f"{RESULTS}/{w.patient}/{w.timepoint}/pet_suv.nii.gz" if w.modality == "pet" else [],
    output:
        table="results/{patient}/{timepoint}/lesions_{modality}.tsv",
    log:
        "logs/lesions/{patient}_{timepoint}_{modality}.log",
    benchmark:
        "logs/benchmark/lesions/{patient}_{timepoint}_{modality}.tsv",
    params:
        site_shell_mm=config["lesions"]["site_shell_mm"],
        delineation=config["lesions"]["pet"]["delineation"],
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../envs/radiomics.yaml"
    script:
        "../scripts/lesions.py"
