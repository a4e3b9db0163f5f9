"""The performance benchmark (``python -m core bench``) and its slow reference implementations; not library API."""
