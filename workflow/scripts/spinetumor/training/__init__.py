"""Training of one model stage on one split: data, loop, checkpoints, logs and the job."""
