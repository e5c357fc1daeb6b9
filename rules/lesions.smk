# Stage 3, lesion radiomics: one job per scan extracts every lesion's features (CT, and PET on the CT grid), its
# organ site (from seg/) and RECIST axes, and on PET the uptake metrics on the PET's own grid.


rule lesions:
    input:
        unpack(lesion_inputs),
        lesions=LESION_MAP,
        seg=SEG_DIR,
    output:
        table=LESION_TABLE,
    log:
        "logs/lesions/{patient}_{timepoint}_{modality}.log",
    benchmark:
        "logs/benchmark/lesions/{patient}_{timepoint}_{modality}.tsv"
    conda:
        "../envs/radiomics.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        site_shell_mm=config["lesions"]["site_shell_mm"],
        border=config["lesions"]["border"],
        delineation=config["lesions"]["pet"]["delineation"],
    script:
        "../scripts/lesions.py"
