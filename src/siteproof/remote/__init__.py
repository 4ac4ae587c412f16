"""Running commands and moving files on the host that verifies the image."""
