"""conda environment files: validated environment.yml uploads, served at /envs/OWNER/NAME for conda and rattler."""
