"""The server's durable state: rooms, the ticket ledger, bans, messages and the token secret,
in one SQL database (SQLite in the data folder by default, or PostgreSQL) through SQLAlchemy
Core. ``Ledger`` is the only code that reads or writes it; ``Database`` runs its calls off the
event loop."""
