"""Where runs train: the job queue, the code that executes one run, the local worker pool and the Ray cluster."""
