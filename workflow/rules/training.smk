# Training (spinetumor.training): every configured model, stage by stage, on each split, and
# the cord source `model`, a cascade's cord stage trained once outside the splits on every unit
# whose cord mask is a label. The rules pass unit ids (params) and the units' files (inputs, for
# the DAG); the job names each unit's files from its id.


rule train_model:
    input:
        unpack(training_inputs),
    output:
        model=MODEL_PT,
        summary=MODEL_SUMMARY,
    params:
        model=model_of,
        chain=model_chain_steps,
        chain_dir=model_chain_dir,
        units=training_units,
        cord_chain=model_cord_chain,
        device=config["models"]["device"],
        predicted_cords=PREDICTED_CORDS,
    log:
        f"{LOGS}/models/{{model}}/split-{{split}}/{{stage}}.log",
    benchmark:
        f"{BENCH}/models/{{model}}/split-{{split}}/{{stage}}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    threads: config["threads"]["train"]
    priority: training_priority
    # A killed training (SIGTERM: a pre-empted or timed-out SLURM job) saves its last
    # checkpoint and fails; the retry resumes from that checkpoint.
    retries: config["models"]["retries"]
    resources:
        mem_mb=res("train", "mem_mb"),
        runtime=res("train", "runtime"),
        gpu=res("train", "gpu", 0),
    script:
        "../scripts/train_model.py"


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
        chain=lambda wildcards: CHAIN_STEPS[CORD_SOURCE_CHAIN],
        chain_dir=cord_source_chain_dir,
        units=cord_source_units,
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
