"""Security event logs: line formats, reading, template mining, grouping and sequence models."""
