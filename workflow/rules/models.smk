# Per-split training of every configured model (stage by stage) and prediction of
# the split's test units on their native T2w grid.


rule train_model:
    input:
        unpack(training_inputs),
    output:
        model=MODEL_PT,
        summary=MODEL_SUMMARY,
    params:
        model=model_of,
        chain=model_chain_steps,
        device=config["models"]["device"],
        predicted_cords=PREDICTED_CORDS,
    log:
        f"{LOGS}/models/{{model}}/split-{{split}}/{{stage}}.log",
    benchmark:
        f"{BENCH}/models/{{model}}/split-{{split}}/{{stage}}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    threads: config["threads"]["train"]
    # A killed training (SIGTERM: a pre-empted or timed-out SLURM job) saves its last
    # checkpoint and fails; the retry resumes from that checkpoint.
    retries: config["models"]["retries"]
    resources:
        mem_mb=res("train", "mem_mb"),
        runtime=res("train", "runtime"),
        gpu=res("train", "gpu", 0),
    script:
        "../scripts/train_model.py"


rule predict_cascade:
    input:
        unpack(trained_stages),
        t2w=t2w_of,
        t1w=REG_T1W,
    output:
        dseg=PRED_DSEG,
        sidecar=PRED_JSON,
        cord=PRED_CORD,
    params:
        model=model_of,
        chain=model_chain_steps,
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
