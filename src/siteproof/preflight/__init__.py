"""Static checks of an image against a site profile (``siteproof inspect``)."""
