"""Runs on disk and who may change them: the store, its schema, records, names, permissions, class rules, failures,
continuation and live curves."""
