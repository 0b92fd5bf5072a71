"""The course: ``course.toml`` (metadata, one entry per exercise) and one check module per
exercise, named after it. Nothing here imports student code."""
