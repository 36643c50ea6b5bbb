# Prediction (spinetumor.inference): each split's test units with the split's trained models, and
# the cord mask of the units without a cord label with the cord-source model, on the native T2w grid.


rule predict_cascade:
    input:
        unpack(trained_stages),
        t2w=t2w_of,
        t1w=REG_T1W,
    output:
        dseg=PRED_DSEG,
        sidecar=PRED_JSON,
        probs=PRED_PROBSEG,
        cord=PRED_CORD,
    params:
        model=model_of,
        chain=model_chain_steps,
        stage1_chain=model_stage1_chain_steps,
        device=config["models"]["device"],
    wildcard_constraints:
        model=model_names(["cascade"]),
    log:
        f"{LOGS}/predictions/{{model}}/split-{{split}}/{{subpath}}/{{prefix}}.log",
    benchmark:
        f"{BENCH}/predictions/{{model}}/split-{{split}}/{{subpath}}/{{prefix}}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    threads: config["threads"]["predict"]
    resources:
        mem_mb=res("predict", "mem_mb"),
        runtime=res("predict", "runtime"),
        gpu=res("predict", "gpu", 0),
    script:
        "../scripts/predict_subject.py"


rule predict:
    input:
        unpack(trained_stages),
        t2w=t2w_of,
        t1w=REG_T1W,
    output:
        dseg=PRED_DSEG,
        sidecar=PRED_JSON,
        probs=PRED_PROBSEG,
    params:
        model=model_of,
        chain=model_chain_steps,
        device=config["models"]["device"],
    wildcard_constraints:
        model=model_names(["single_stage", "unet"]),
    log:
        f"{LOGS}/predictions/{{model}}/split-{{split}}/{{subpath}}/{{prefix}}.log",
    benchmark:
        f"{BENCH}/predictions/{{model}}/split-{{split}}/{{subpath}}/{{prefix}}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    threads: config["threads"]["predict"]
    resources:
        mem_mb=res("predict", "mem_mb"),
        runtime=res("predict", "runtime"),
        gpu=res("predict", "gpu", 0),
    script:
        "../scripts/predict_subject.py"


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
        chain=lambda wildcards: CHAIN_STEPS[CORD_SOURCE_CHAIN],
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
