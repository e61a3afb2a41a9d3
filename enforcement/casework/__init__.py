"""Casework: violation records become cases in a SQL database, reviewed by officers (BOAs).

`models` holds the tables, `db` the engine and migrations, `intake` turns records into cases,
`review` the officers' actions (claim, confirm, reject, correct, escalate, four-eyes approval),
`export` the batches for the fine authority, `audit` the hash-chained log and `purge` the
retention rules. Nothing here speaks HTTP: the web app (`enforcement.web`) and the CLI sit on it.
"""
