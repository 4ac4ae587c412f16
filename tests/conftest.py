pytest_plugins = [
    "support.images",
    "support.testhosts",
    "support.preflight_samples",
    "support.verify_images",
    "support.ecs",
    "support.aliyun_cloud",
]
