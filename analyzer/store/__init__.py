"""The store of analyses and anomalies: one protocol, a SQLite and a Cosmos DB implementation."""
