"""Database access: migrations, connections and the aggregate tables' contract."""
