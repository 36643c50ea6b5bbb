# Spinal cord mask on the T2w grid, from the best source a subject has: a manual
# mask, a centreline (30 mm tube), or the cord-source model's prediction.


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


# The cord source `model`: a cascade's cord stage trained once, outside the splits, on
# every unit whose cord mask is a label; it predicts the cord of the other units.
rule train_cord_source:
    input:
        unpack(cord_source_training_inputs),
    output:
        model=CORD_SOURCE_PT,
        summary=CORD_SOURCE_SUMMARY,
    params:
        model=CORD_SOURCE_MODEL,
        chain=lambda wildcards: CHAIN_STEPS[CORD_SOURCE_MODEL["chain"]],
        val_fraction=config["splits"]["val_fraction"],
        seed=config["splits"]["seed"],
        device=config["models"]["device"],
    wildcard_constraints:
        model=CORD_SOURCE_MODEL["name"] if CORD_SOURCE_MODEL else "(?!)",
    log:
        f"{LOGS}/models/{{model}}/cordsource/cord.log",
    benchmark:
        f"{BENCH}/models/{{model}}/cordsource/cord.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    threads: config["threads"]["train"]
    retries: config["models"]["retries"]
    resources:
        mem_mb=res("train", "mem_mb"),
        runtime=res("train", "runtime"),
        gpu=res("train", "gpu", 0),
    script:
        "../scripts/train_cord_source.py"


rule predict_cord_source:
    input:
        model=CORD_SOURCE_PT,
        t2w=t2w_of,
        validated=validated,
    output:
        mask=CORD_PREDICTED,
        sidecar=CORD_PREDICTED_JSON,
    params:
        model=CORD_SOURCE_MODEL,
        chain=lambda wildcards: CHAIN_STEPS[CORD_SOURCE_MODEL["chain"]],
        device=config["models"]["device"],
    wildcard_constraints:
        model=CORD_SOURCE_MODEL["name"] if CORD_SOURCE_MODEL else "(?!)",
    log:
        f"{LOGS}/cordmask/{{subpath}}/{{prefix}}_desc-{{model}}.log",
    benchmark:
        f"{BENCH}/cordmask/{{subpath}}/{{prefix}}_desc-{{model}}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    threads: config["threads"]["predict"]
    resources:
        mem_mb=res("predict", "mem_mb"),
        runtime=res("predict", "runtime"),
        gpu=res("predict", "gpu", 0),
    script:
        "../scripts/predict_cord_source.py"
