# Stage 1, convert: scans from the manifest to canonical NIfTI under results/<patient>/<timepoint>/.
# Images are NIfTI files or DICOM series folders; CT lesions a NIfTI label map or a DICOM RTSTRUCT.


rule convert_ct:
    input:
        unpack(convert_ct_inputs),
    output:
        ct="results/{patient}/{timepoint}/ct.nii.gz",
        lesions="results/{patient}/{timepoint}/lesions.nii.gz",
        provenance="results/{patient}/{timepoint}/provenance.json",
    params:
        roi_pattern=config["convert"]["roi_pattern"],
    log:
        "logs/convert_ct/{patient}_{timepoint}.log",
    benchmark:
        "logs/benchmark/convert_ct/{patient}_{timepoint}.tsv",
    group:
        "scan"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/imaging.yaml"
    script:
        "../scripts/convert_ct.py"


rule convert_pet:
    input:
        image=lambda w: scan(w, "PT").image,
        ct="results/{patient}/{timepoint}/ct.nii.gz",
    output:
        pet="results/{patient}/{timepoint}/pet_suv.nii.gz",
        pet_ct="results/{patient}/{timepoint}/pet_suv_ct.nii.gz",
        provenance="results/{patient}/{timepoint}/provenance_pet.json",
    params:
        suv=suv_settings,
    log:
        "logs/convert_pet/{patient}_{timepoint}.log",
    benchmark:
        "logs/benchmark/convert_pet/{patient}_{timepoint}.tsv",
    group:
        "scan"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/imaging.yaml"
    script:
        "../scripts/convert_pet.py"
