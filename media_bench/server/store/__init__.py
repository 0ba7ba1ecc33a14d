"""The server's durable state: rooms, the ticket ledger, bans, messages and the token secret,
and the directory of a fleet of nodes (their workers, each room's origin and edges), in one SQL
database (SQLite in the data folder by default, or PostgreSQL) through SQLAlchemy Core.
``Ledger`` and ``Directory`` are the only code that reads or writes it; ``Database`` runs their
calls off the event loop."""
