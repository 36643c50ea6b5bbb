# Spinal cord mask on the T2w grid, from the best source a subject has: a manual
# mask, a centreline (30 mm tube), or the cord-source model's prediction (trained in
# training.smk, predicted in inference.smk).


rule cord_mask:
    input:
        t2w=t2w_of,
        validated=validated,
        source_file=lambda wildcards: cord_source(wildcards)[1],
    output:
        mask=CORD_MASK,
        info=CORD_JSON,
    params:
        source=lambda wildcards: cord_source(wildcards)[0],
        diameter_mm=config["cord_mask"]["cylinder_diameter_mm"],
    log:
        f"{LOGS}/cordmask/{{subpath}}/{{prefix}}.log",
    benchmark:
        f"{BENCH}/cordmask/{{subpath}}/{{prefix}}.tsv"
    conda:
        f"{ENVS}/imaging.yaml"
    group:
        "subject"
    threads: 1
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    script:
        "../scripts/make_cord_mask.py"
