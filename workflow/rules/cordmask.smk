# Spinal cord mask on the T2w grid, from the best source a subject has.


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
