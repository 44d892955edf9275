"""Forensic tests, one module per family. Nothing here prints or exits."""
