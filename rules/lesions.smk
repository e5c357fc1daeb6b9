# Stage 3, lesion radiomics: one job per scan extracts every lesion's features (CT, and PET on the CT grid), its
# organ site (from seg/) and RECIST axes, and on PET the uptake metrics on the PET's own grid.


rule lesions:
    input:
        unpack(lesion_inputs),
        lesions="results/{patient}/{timepoint}/lesions.nii.gz",
        seg="results/{patient}/{timepoint}/seg",
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
