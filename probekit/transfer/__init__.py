"""The transfer pipeline: tokenizer training, pre-training (MLM/CLM), domain/task-adaptive
continued pre-training, fine-tuning, and checkpoint lineage (``probekit.json``)."""
