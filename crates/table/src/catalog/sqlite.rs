//! A SQLite file in the tables pyiceberg's `SqlCatalog` uses, as the local catalog.
