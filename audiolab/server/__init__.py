"""The embedded OpenAI-compatible local backend (FastAPI + real engines)."""
