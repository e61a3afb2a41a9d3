"""Casework: violation records become cases in a SQL database, reviewed by officers (BOAs).

`models` holds the tables, `db` the engine and migrations, `intake` turns records into cases
(`consumer` feeds it through `batches`, the one Kafka batch loop), `review` the officers'
actions (claim, confirm, reject, correct, escalate, four-eyes approval), `notes` their
encrypted notes, `export` the batches for the fine authority, `audit` the hash-chained log,
`purge` the retention rules and `logins` the review app's login and counter tables. Nothing
here speaks HTTP (tests/test_layers.py holds it to that): the web app (`enforcement.web`)
and the CLI sit on it, and `zes.cli` mounts the web app's `serve` beside these commands.
"""
