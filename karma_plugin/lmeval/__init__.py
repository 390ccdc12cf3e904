"""lm-eval adapters: read results and samples files, run lm-eval with the karma tasks, evaluate
trained models, install IFEval's tokenizer data."""
