# The embedded synthetic demo dataset, written under the results (DEMO_BIDS), never under a
# user's bids_dir: its jobs run only when bids_dir is `demo`.

DEMO_ANAT = f"{DEMO_BIDS}/sub-{{demo_id}}/anat/sub-{{demo_id}}"
DEMO_LABELS = f"{DEMO_BIDS}/derivatives/labels/sub-{{demo_id}}/anat/sub-{{demo_id}}"


rule demo_subject:
    output:
        t2w=f"{DEMO_ANAT}_T2w.nii.gz",
        t2w_json=f"{DEMO_ANAT}_T2w.json",
        t1w=f"{DEMO_ANAT}_ce-gadolinium_T1w.nii.gz",
        t1w_json=f"{DEMO_ANAT}_ce-gadolinium_T1w.json",
        dseg=f"{DEMO_LABELS}_T2w_dseg.nii.gz",
        cord=f"{DEMO_LABELS}_T2w_seg-manual.nii.gz",
        centerline=f"{DEMO_LABELS}_T2w_centerline-manual.nii.gz",
    params:
        bids_dir=lambda wildcards, output: demo_root(output.t2w, levels=3),
        index=lambda wildcards: int(wildcards.demo_id),
        seed=config["demo"]["seed"],
    log:
        f"{LOGS}/demo/sub-{{demo_id}}.log",
    benchmark:
        f"{BENCH}/demo/sub-{{demo_id}}.tsv"
    conda:
        f"{ENVS}/imaging.yaml"
    threads: 1
    resources:
        mem_mb=res("demo", "mem_mb"),
        runtime=res("demo", "runtime"),
    script:
        "../scripts/generate_demo_subject.py"


rule demo_dataset:
    output:
        participants=f"{DEMO_BIDS}/participants.tsv",
        description=f"{DEMO_BIDS}/dataset_description.json",
    params:
        bids_dir=lambda wildcards, output: demo_root(output.participants, levels=1),
        n_subjects=config["demo"]["n_subjects"],
        seed=config["demo"]["seed"],
    log:
        f"{LOGS}/demo/dataset.log",
    benchmark:
        f"{BENCH}/demo/dataset.tsv"
    conda:
        f"{ENVS}/imaging.yaml"
    threads: 1
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    script:
        "../scripts/generate_demo_dataset.py"
