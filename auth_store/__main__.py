"""``python -m auth_store``: the auth-store command line."""

from auth_store.cli import main

if __name__ == "__main__":
    main()
