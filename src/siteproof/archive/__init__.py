"""Reading image tarballs without a Docker engine."""
