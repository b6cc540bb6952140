"""Framework integrations (Flask, FastAPI); each imports its framework only when used."""
