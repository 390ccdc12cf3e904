"""The Hugging Face Hub client adapters: push a dataset folder in one commit, pull it back."""
