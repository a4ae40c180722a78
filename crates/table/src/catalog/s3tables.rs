//! Amazon S3 Tables as the table's catalog.
//!
//! A table bucket holds Iceberg tables by namespace and name, and S3 Tables itself keeps each
//! table's pointer: `GetTableMetadataLocation` answers the current metadata file with a
//! `versionToken`, and `UpdateTableMetadataLocation` moves the pointer only when it is given the
//! token of the version it replaces, so the token is the compare-and-swap
//! ([update-table-metadata-location](https://docs.aws.amazon.com/goto/cli2/s3tables-2018-05-10/UpdateTableMetadataLocation):
//! the token is required, and the new location "must be an S3 URI that begins with the table's
//! warehouse location" and end in `.metadata.json`). A token that is no longer the table's is
//! refused with a `ConflictException`, which is a lost swap here. No read-check-write is
//! needed, unlike Glue's `VersionId`.
//!
//! Unlike Glue and SQLite, the catalog also decides where the table's files go: every table has
//! its own `warehouseLocation` (`s3://<id>--table-s3`), an S3 bucket that only S3 Tables
//! creates and whose objects are read and written with the ordinary S3 API, authorised by the
//! table's `s3tables:GetTableData` and `s3tables:PutTableData`
//! ([Supported S3 object-level API operations for S3 Tables](https://docs.aws.amazon.com/AmazonS3/latest/API/developing-s3-tables-APIs.html):
//! GetObject, HeadObject, PutObject and the multipart calls, not ListObjects nor DeleteObject).
//! So the table must exist before its first metadata file can be written: [`S3TablesCatalog::warehouse`]
//! creates it empty (`CreateTable` with format `ICEBERG` and no metadata, as pyiceberg's
//! S3 Tables catalog of 0.9 did) and returns the location, and [`Catalog::create`] then points the
//! empty table at its first metadata file with the token `CreateTable` left.
//!
//! Everything else about the table is S3's: compaction, snapshot expiry and the removal of
//! unreferenced files run as S3 Tables maintenance, on by default
//! ([S3 Tables maintenance](https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-tables-maintenance-overview.html)),
//! and docs/table.md says why the compactor leaves such a table alone.

use super::{Catalog, CatalogError, Pointer, Swap};
use crate::table::TableLocation;
use aws_sdk_s3tables::{
    error::{ProvideErrorMetadata, SdkError},
    operation::get_table_metadata_location::GetTableMetadataLocationOutput,
    types::OpenTableFormat,
};

/// One Iceberg table of a table bucket: its namespace and name.
#[derive(Debug, Clone)]
pub struct S3TablesCatalog {
    client: aws_sdk_s3tables::Client,
    table_bucket_arn: String,
    namespace: String,
    table: String,
}

impl S3TablesCatalog {
    /// The table `table` in the namespace `namespace` (which must exist) of the table bucket
    /// `table_bucket_arn` (`arn:aws:s3tables:<region>:<account>:bucket/<name>`).
    pub fn new(
        client: aws_sdk_s3tables::Client,
        table_bucket_arn: impl Into<String>,
        namespace: impl Into<String>,
        table: impl Into<String>,
    ) -> Self {
        Self {
            client,
            table_bucket_arn: table_bucket_arn.into(),
            namespace: namespace.into(),
            table: table.into(),
        }
    }

    fn qualified(&self) -> String {
        format!("{}.{}", self.namespace, self.table)
    }

    /// A failed SDK call, classified from the service's answer.
    fn failed<E>(&self, operation: &'static str, error: &SdkError<E>) -> CatalogError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        CatalogError::sdk(self.describe(), operation, self.qualified(), error)
    }

    /// The table's pointer, token and warehouse as S3 Tables has them, or `None` when there is
    /// no such table.
    async fn get(
        &self,
        operation: &'static str,
    ) -> Result<Option<GetTableMetadataLocationOutput>, CatalogError> {
        let answer = self
            .client
            .get_table_metadata_location()
            .table_bucket_arn(&self.table_bucket_arn)
            .namespace(&self.namespace)
            .name(&self.table)
            .send()
            .await;
        match answer {
            Ok(output) => Ok(Some(output)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(self.failed(operation, &e)),
        }
    }

    /// The table as S3 Tables has it, created empty (no metadata location yet) if it does not
    /// exist. A table another writer created first is the table.
    async fn get_or_create(
        &self,
        operation: &'static str,
    ) -> Result<GetTableMetadataLocationOutput, CatalogError> {
        if let Some(found) = self.get(operation).await? {
            return Ok(found);
        }
        let created = self
            .client
            .create_table()
            .table_bucket_arn(&self.table_bucket_arn)
            .namespace(&self.namespace)
            .name(&self.table)
            .format(OpenTableFormat::Iceberg)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conflict_exception()) => {}
            Err(e) => return Err(self.failed(operation, &e)),
        }
        self.get(operation)
            .await?
            .ok_or_else(|| CatalogError::Call {
                catalog: self.describe(),
                operation,
                table: self.qualified(),
                code: None,
                retry: lambda_kit::Retry::Retryable,
                message: "the table was created but is not found yet".into(),
            })
    }

    /// The table's warehouse location (`s3://<id>--table-s3`), where its data and metadata
    /// files go; the table is created empty if it does not exist yet.
    pub async fn warehouse(&self) -> Result<String, CatalogError> {
        Ok(self.get_or_create("open").await?.warehouse_location)
    }

    /// Where the table's files go: the root of its warehouse bucket (or the path the warehouse
    /// location names in it). The table is created empty if it does not exist yet.
    pub async fn location(&self) -> Result<TableLocation, CatalogError> {
        let warehouse = self.warehouse().await?;
        TableLocation::from_uri(&warehouse).ok_or_else(|| CatalogError::Warehouse {
            catalog: self.describe(),
            table: self.qualified(),
            location: warehouse,
        })
    }

    /// Moves the pointer to `metadata_location` if the table is still at `version_token`.
    async fn update(
        &self,
        operation: &'static str,
        version_token: &str,
        metadata_location: &str,
    ) -> Result<Swap, CatalogError> {
        let answer = self
            .client
            .update_table_metadata_location()
            .table_bucket_arn(&self.table_bucket_arn)
            .namespace(&self.namespace)
            .name(&self.table)
            .version_token(version_token)
            .metadata_location(metadata_location)
            .send()
            .await;
        match answer {
            Ok(_) => Ok(Swap::Swapped),
            // The token is no longer the table's (another commit, or S3's maintenance, moved
            // it), or the table is gone.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conflict_exception() || e.is_not_found_exception()) =>
            {
                Ok(Swap::Conflict)
            }
            Err(e) => Err(self.failed(operation, &e)),
        }
    }
}

/// The metadata location of an answer, when the table has one.
fn location(answer: &GetTableMetadataLocationOutput) -> Option<&str> {
    answer.metadata_location().filter(|l| !l.is_empty())
}

impl Catalog for S3TablesCatalog {
    async fn load(&self) -> Result<Option<Pointer>, CatalogError> {
        let Some(answer) = self.get("load").await? else {
            return Ok(None);
        };
        Ok(location(&answer).map(|metadata_location| Pointer {
            metadata_location: metadata_location.to_string(),
            version: Some(answer.version_token.clone()),
        }))
    }

    async fn create(&self, metadata_location: &str) -> Result<Swap, CatalogError> {
        let answer = self.get_or_create("create").await?;
        if location(&answer).is_some() {
            // Another writer gave the table its first metadata file.
            return Ok(Swap::Conflict);
        }
        self.update("create", &answer.version_token, metadata_location)
            .await
    }

    async fn swap(&self, current: &Pointer, metadata_location: &str) -> Result<Swap, CatalogError> {
        let token = match &current.version {
            Some(token) => token.clone(),
            // A pointer without its token: the table's token, if the table is still there.
            None => match self.get("swap").await? {
                Some(now) if location(&now) == Some(current.metadata_location.as_str()) => {
                    now.version_token
                }
                _ => return Ok(Swap::Conflict),
            },
        };
        self.update("swap", &token, metadata_location).await
    }

    fn describe(&self) -> String {
        format!("s3tables:{}", self.table_bucket_arn)
    }
}
