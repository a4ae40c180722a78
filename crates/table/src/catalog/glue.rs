//! The AWS Glue Data Catalog as the table's catalog.
