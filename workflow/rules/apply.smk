# Apply (spinetumor.apply): an exported model (`apply_model`, e.g. trained by another study) segments
# every unit of bids_dir into a BIDS derivative dataset of its own, `{results_dir}/apply/MODEL/`.


rule apply_model:
    input:
        unpack(apply_inputs),
    output:
        **apply_outputs(),
    wildcard_constraints:
        applied=APPLIED,
    params:
        model=APPLY_MODEL,
        out_dir=lambda wildcards, output: str(Path(output.dseg).parent),
        stem=lambda wildcards: wildcards.prefix,
        device=config["models"]["device"],
    log:
        f"{LOGS}/apply/{{applied}}/{{subpath}}/{{prefix}}.log",
    benchmark:
        f"{BENCH}/apply/{{applied}}/{{subpath}}/{{prefix}}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    threads: config["threads"]["predict"]
    resources:
        mem_mb=res("predict", "mem_mb"),
        runtime=res("predict", "runtime"),
        gpu=res("predict", "gpu", 0),
    script:
        "../scripts/apply_model.py"
