//! The AWS Glue Data Catalog as the table's catalog.
//!
//! In AWS the table is registered in Glue, where Athena, EMR, Glue jobs and every other Iceberg
//! engine look it up: a Glue table of type `EXTERNAL_TABLE` whose parameters say
//! `table_type = ICEBERG` and name the current metadata file in `metadata_location` (and the
//! one before it in `previous_metadata_location`), as Apache Iceberg's Java `GlueCatalog`
//! writes it.
//!
//! Glue's only compare-and-swap is the table's `VersionId`: `UpdateTable` with the `VersionId`
//! a writer read fails with `ConcurrentModificationException` if the table changed since, and
//! an `UpdateTable` without one overwrites whatever a concurrent writer committed (the lost
//! update of apache/iceberg-rust issue #1868). So a swap here, like Java's
//! `GlueTableOperations`, first reads the table again and refuses if its `metadata_location`
//! is no longer the one the writer started from, then updates with the `VersionId`. The
//! re-read also keeps the table's other parameters, description and storage descriptor,
//! which `UpdateTable` would otherwise replace with nothing; and it is the only check where
//! `VersionId` is ignored (moto's Glue, in local tests).
//!
//! [`UpdateTable`](https://docs.aws.amazon.com/glue/latest/webapi/API_UpdateTable.html):
//! `VersionId` is "the version ID at which to update the table contents"; the errors include
//! `ConcurrentModificationException` ("two processes are trying to modify a resource
//! simultaneously") and `EntityNotFoundException`. Every update is sent with `SkipArchive`:
//! Glue otherwise archives a table version per update, and a table committed every few
//! minutes would reach Glue's quota of table versions (100,000 per table).

use std::collections::HashMap;

use aws_sdk_glue::{
    error::{BuildError, ProvideErrorMetadata, SdkError},
    types::{Column, StorageDescriptor, Table, TableInput},
};
use lambda_kit::Retry;

use super::{Catalog, CatalogError, Pointer, Swap};

/// The parameter that marks a Glue table as an Iceberg table, and its value.
const TABLE_TYPE: &str = "table_type";
const ICEBERG: &str = "ICEBERG";
/// The parameters that name the current and the previous metadata file.
const METADATA_LOCATION: &str = "metadata_location";
const PREVIOUS_METADATA_LOCATION: &str = "previous_metadata_location";
/// The Glue table type Iceberg tables are registered with.
const EXTERNAL_TABLE: &str = "EXTERNAL_TABLE";

/// One Iceberg table's pointer in the Glue Data Catalog: a database and a table, in the
/// account's catalog or in the catalog (account) named by [`GlueCatalog::with_catalog_id`].
#[derive(Debug, Clone)]
pub struct GlueCatalog {
    client: aws_sdk_glue::Client,
    database: String,
    table: String,
    catalog_id: Option<String>,
    columns: Option<Vec<(String, String)>>,
    location: Option<String>,
}

impl GlueCatalog {
    /// The table `table` of the Glue database `database` (which must exist).
    pub fn new(
        client: aws_sdk_glue::Client,
        database: impl Into<String>,
        table: impl Into<String>,
    ) -> Self {
        Self {
            client,
            database: database.into(),
            table: table.into(),
            catalog_id: None,
            columns: None,
            location: None,
        }
    }

    /// The Data Catalog to use (an account id), instead of the caller's account's.
    pub fn with_catalog_id(mut self, catalog_id: impl Into<String>) -> Self {
        self.catalog_id = Some(catalog_id.into());
        self
    }

    /// The columns (name, Glue/Hive type such as `string`, `bigint`, `timestamp`) written to
    /// the Glue table's storage descriptor on create and on every swap, which is where Athena's
    /// console and other Glue clients show a table's columns from. Without them, a swap keeps
    /// the columns the table has.
    pub fn with_columns(mut self, columns: Vec<(String, String)>) -> Self {
        self.columns = Some(columns);
        self
    }

    /// The table's location (`s3://bucket/prefix`), written to the storage descriptor on create
    /// and on every swap. Without it, a swap keeps the location the table has.
    pub fn with_location(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }

    fn qualified(&self) -> String {
        format!("{}.{}", self.database, self.table)
    }

    /// A failed SDK call, classified from the service's answer.
    fn failed<E>(&self, operation: &'static str, error: &SdkError<E>) -> CatalogError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        CatalogError::sdk(self.describe(), operation, self.qualified(), error)
    }

    /// A request the SDK refused to build (a required field missing): a bug, not a state.
    fn unbuildable(&self, operation: &'static str, error: BuildError) -> CatalogError {
        CatalogError::Call {
            catalog: self.describe(),
            operation,
            table: self.qualified(),
            code: None,
            retry: Retry::Fatal,
            message: error.to_string(),
        }
    }

    /// The Glue table, or `None` when Glue has no such table (or no such database).
    async fn get(&self, operation: &'static str) -> Result<Option<Table>, CatalogError> {
        let answer = self
            .client
            .get_table()
            .set_catalog_id(self.catalog_id.clone())
            .database_name(&self.database)
            .name(&self.table)
            .send()
            .await;
        match answer {
            Ok(output) => Ok(output.table),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_entity_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(self.failed(operation, &e)),
        }
    }

    /// The pointer a Glue table holds, if it is an Iceberg table with a metadata location.
    fn pointer(&self, table: &Table) -> Result<Pointer, CatalogError> {
        let not_iceberg = |reason: String| CatalogError::NotIceberg {
            catalog: self.describe(),
            table: self.qualified(),
            reason,
        };
        let parameters = table.parameters.as_ref();
        let parameter = |key: &str| parameters.and_then(|p| p.get(key)).map(String::as_str);
        match parameter(TABLE_TYPE) {
            Some(kind) if kind.eq_ignore_ascii_case(ICEBERG) => {}
            Some(kind) => {
                return Err(not_iceberg(format!(
                    "its {TABLE_TYPE} parameter is {kind:?}"
                )));
            }
            None => return Err(not_iceberg(format!("it has no {TABLE_TYPE} parameter"))),
        }
        match parameter(METADATA_LOCATION).filter(|location| !location.is_empty()) {
            Some(location) => Ok(Pointer {
                metadata_location: location.to_string(),
                version: table.version_id.clone(),
            }),
            None => Err(not_iceberg(format!(
                "it has no {METADATA_LOCATION} parameter"
            ))),
        }
    }

    /// The storage descriptor to write: `existing` (or an empty one) with the configured
    /// columns and location, or `existing` unchanged when none is configured.
    fn storage_descriptor(
        &self,
        existing: Option<&StorageDescriptor>,
    ) -> Result<Option<StorageDescriptor>, BuildError> {
        if self.columns.is_none() && self.location.is_none() {
            return Ok(existing.cloned());
        }
        let mut descriptor = existing
            .cloned()
            .unwrap_or_else(|| StorageDescriptor::builder().build());
        if let Some(columns) = &self.columns {
            let columns = columns
                .iter()
                .map(|(name, kind)| Column::builder().name(name).r#type(kind).build())
                .collect::<Result<Vec<_>, _>>()?;
            descriptor.columns = Some(columns);
        }
        if let Some(location) = &self.location {
            descriptor.location = Some(location.clone());
        }
        Ok(Some(descriptor))
    }

    /// The table as it is to be after a swap: `existing` with the new pointer, its other
    /// parameters, description, owner, partition keys and storage descriptor kept (as Java's
    /// `GlueTableOperations` keeps them), the configured columns and location applied.
    fn updated_input(
        &self,
        existing: &Table,
        previous: &str,
        metadata_location: &str,
    ) -> Result<TableInput, BuildError> {
        let mut parameters: HashMap<String, String> =
            existing.parameters.clone().unwrap_or_default();
        parameters.insert(TABLE_TYPE.into(), ICEBERG.into());
        parameters.insert(METADATA_LOCATION.into(), metadata_location.into());
        parameters.insert(PREVIOUS_METADATA_LOCATION.into(), previous.into());
        TableInput::builder()
            .name(&self.table)
            .table_type(EXTERNAL_TABLE)
            .set_parameters(Some(parameters))
            .set_description(existing.description.clone())
            .set_owner(existing.owner.clone())
            .retention(existing.retention)
            .set_partition_keys(existing.partition_keys.clone())
            .set_storage_descriptor(self.storage_descriptor(existing.storage_descriptor.as_ref())?)
            .build()
    }
}

impl Catalog for GlueCatalog {
    async fn load(&self) -> Result<Option<Pointer>, CatalogError> {
        match self.get("load").await? {
            Some(table) => self.pointer(&table).map(Some),
            None => Ok(None),
        }
    }

    async fn create(&self, metadata_location: &str) -> Result<Swap, CatalogError> {
        let input = self
            .storage_descriptor(None)
            .and_then(|descriptor| {
                TableInput::builder()
                    .name(&self.table)
                    .table_type(EXTERNAL_TABLE)
                    .parameters(TABLE_TYPE, ICEBERG)
                    .parameters(METADATA_LOCATION, metadata_location)
                    .set_storage_descriptor(descriptor)
                    .build()
            })
            .map_err(|e| self.unbuildable("create", e))?;
        let answer = self
            .client
            .create_table()
            .set_catalog_id(self.catalog_id.clone())
            .database_name(&self.database)
            .table_input(input)
            .send()
            .await;
        match answer {
            Ok(_) => Ok(Swap::Swapped),
            // Another writer created it first, or is creating it now.
            Err(e)
                if e.as_service_error().is_some_and(|e| {
                    e.is_already_exists_exception() || e.is_concurrent_modification_exception()
                }) =>
            {
                Ok(Swap::Conflict)
            }
            Err(e) => Err(self.failed("create", &e)),
        }
    }

    async fn swap(&self, current: &Pointer, metadata_location: &str) -> Result<Swap, CatalogError> {
        // The table as it is now: gone, or moved on from `current`, is a conflict.
        let Some(table) = self.get("swap").await? else {
            return Ok(Swap::Conflict);
        };
        let now = self.pointer(&table)?;
        if now.metadata_location != current.metadata_location {
            return Ok(Swap::Conflict);
        }
        // The version the writer read is the compare-and-swap token; a table changed since
        // (even in a parameter of its own) would be refused by Glue anyway.
        let version = match (&current.version, &now.version) {
            (Some(read), Some(now)) if read != now => return Ok(Swap::Conflict),
            (Some(read), _) => Some(read.clone()),
            (None, now) => now.clone(),
        };
        if version.is_none() {
            tracing::warn!(
                table = %self.qualified(),
                "Glue returned the table without a VersionId: updating without the compare-and-swap token"
            );
        }
        let input = self
            .updated_input(&table, &current.metadata_location, metadata_location)
            .map_err(|e| self.unbuildable("swap", e))?;
        let answer = self
            .client
            .update_table()
            .set_catalog_id(self.catalog_id.clone())
            .database_name(&self.database)
            .table_input(input)
            .set_version_id(version)
            .skip_archive(true)
            .send()
            .await;
        match answer {
            Ok(_) => Ok(Swap::Swapped),
            // Another writer updated (or dropped) the table after our read.
            Err(e)
                if e.as_service_error().is_some_and(|e| {
                    e.is_concurrent_modification_exception() || e.is_entity_not_found_exception()
                }) =>
            {
                Ok(Swap::Conflict)
            }
            Err(e) => Err(self.failed("swap", &e)),
        }
    }

    fn describe(&self) -> String {
        match &self.catalog_id {
            Some(id) => format!("glue:{id}"),
            None => "glue".into(),
        }
    }
}
