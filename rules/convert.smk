# Stage 1, convert: scans from the manifest to canonical NIfTI under results/<patient>/<timepoint>/.
# Images are NIfTI files or DICOM series folders; CT lesions a NIfTI label map or a DICOM RTSTRUCT.


rule convert_ct:
    input:
        unpack(convert_ct_inputs),
    output:
        ct=CT_IMAGE,
        lesions=LESION_MAP,
        provenance=CT_PROVENANCE,
    log:
        "logs/convert_ct/{patient}_{timepoint}.log",
    benchmark:
        "logs/benchmark/convert_ct/{patient}_{timepoint}.tsv"
    conda:
        "../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        roi_pattern=config["convert"]["roi_pattern"],
        slice_gap_tolerance=config["convert"]["slice_gap_tolerance"],
    script:
        "../scripts/convert_ct.py"


rule convert_pet:
    input:
        image=lambda w: scan(w, study.PET).image,
        ct=CT_IMAGE,
    output:
        pet=PET_SUV,
        pet_ct=PET_SUV_ON_CT,
        provenance=PET_PROVENANCE,
    log:
        "logs/convert_pet/{patient}_{timepoint}.log",
    benchmark:
        "logs/benchmark/convert_pet/{patient}_{timepoint}.tsv"
    conda:
        "../envs/imaging.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        suv=suv_settings,
        slice_gap_tolerance=config["convert"]["slice_gap_tolerance"],
    script:
        "../scripts/convert_pet.py"
