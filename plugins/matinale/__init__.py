"""Matinale: overnight content pipeline for political campaigns."""
