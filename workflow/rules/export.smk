# Export (spinetumor.export): each trained model as a self-contained folder, every split's weights
# with the settings prediction needs, that `spinetumor predict` runs outside the study.


rule export_model:
    input:
        export_inputs,
    output:
        directory(EXPORT_DIR),
    params:
        model=model_of,
        chain=model_chain_steps,
        stage1_chain=model_stage1_chain_steps,
        registration=config["registration"],
        runs=export_runs,
    wildcard_constraints:
        model=model_names(["cascade", "single_stage", "unet"]),
    log:
        f"{LOGS}/export/{{model}}.log",
    benchmark:
        f"{BENCH}/export/{{model}}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    threads: 1
    resources:
        mem_mb=res("light", "mem_mb"),
        runtime=res("light", "runtime"),
    script:
        "../scripts/export_model.py"
