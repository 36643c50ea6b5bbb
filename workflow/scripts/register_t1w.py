"""Register a subject's T1w onto its T2w and write the QC figure."""

from spinetumor import smk
from spinetumor.registration import jobs
from spinetumor.registration.settings import RegistrationSettings

smk.run(
    snakemake,
    jobs.run_registration,
    snakemake.input.t2w,
    snakemake.input.t1w,
    snakemake.output.t1w,
    snakemake.output.xfm,
    snakemake.output.qc,
    RegistrationSettings.from_config({**snakemake.params.settings, "threads": snakemake.threads}),
    subject=snakemake.params.subject,
    out_summary=snakemake.output.summary,
)
