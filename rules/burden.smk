# Stage 3b, PET tumour burden without contours: one job per PET scan finds lesions by an SUV rule on the PET's own grid,
# removes physiological uptake with the segmentation's organ masks, and measures TMTV, TLG, Dmax and the lesions' uptake
# and pyradiomics features, and draws the coronal MIP for the report (in the same job: both read the same PET, and a
# second job per scan costs more in Snakemake and in imports than the drawing itself).


rule burden:
    input:
        pet=PET_SUV,
        seg=SEG_DIR,
        contours=LESION_MAP,
        params=LESION_PARAMS[study.file_modality(study.PET)],
    output:
        labels=BURDEN_LESIONS,
        excluded=BURDEN_EXCLUDED,
        lesions=BURDEN_LESION_TABLE,
        table=BURDEN_TABLE,
        mip=report(
            BURDEN_MIP,
            caption="../report/burden_mip.rst",
            category="PET tumour burden",
            subcategory="{patient}",
            labels={"patient": "{patient}", "timepoint": "{timepoint}"},
        ),
    log:
        "logs/burden/{patient}_{timepoint}.log",
    benchmark:
        "logs/benchmark/burden/{patient}_{timepoint}.tsv"
    conda:
        "../envs/radiomics.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        settings=config["burden"],
        contoured=lambda w: bool(scan(w).lesions),
    script:
        "../scripts/burden.py"
