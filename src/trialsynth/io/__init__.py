"""Readers and writers: the pool CSV, the review folder, search-record formats and their
SQLite store, RevMan files."""
