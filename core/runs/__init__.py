"""Run folders: names, atomic writes, locks, loading a trained run."""
