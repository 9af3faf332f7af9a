"""The operator dashboard: a static page at / and the snapshot it loads."""
