"""Developer tools: the plant simulator, evaluation on labelled CSVs, a local Redis."""
