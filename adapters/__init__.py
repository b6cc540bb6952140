"""Storage backends: memory, sqlite, file, postgres. Each is imported only when used."""
