"""Federation: nodes, the central directory, cross-node evidence, off-site backup."""
