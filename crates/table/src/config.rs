//! The table's settings, shared by every function and command that reads or writes the lake
//! (see `docs/configuration.md`), and the catalog they open.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `LAKE_FORMAT` | `iceberg` | `iceberg`: the lake is an Iceberg table; `files`: plain Parquet objects under `users/dt=…/hour=…/` |
//! | `ICEBERG_CATALOG` | `glue` | `glue`, `s3tables:<table bucket ARN>` (Amazon S3 Tables), or `sqlite:<path>` (the local stack's catalog file) |
//! | `ICEBERG_DATABASE` | `user_lake` | the Glue database (the S3 Tables or SQL catalog's namespace) |
//! | `ICEBERG_TABLE` | `users` | the table's name |
//! | `GLUE_CATALOG_ID` | the caller's account | the Data Catalog's account id |

use std::path::PathBuf;

use lambda_kit::settings::{SettingError, Source, or_default};

use crate::{
    Catalog, CatalogError, Pointer, Swap,
    catalog::{
        glue::GlueCatalog, s3tables::S3TablesCatalog, sqlite::SqliteCatalog,
        sqlite::sqlite_uri_path,
    },
    table::TableLocation,
};

/// The catalog name the local SQL catalog records its table under (pyiceberg's `SqlCatalog`
/// `name`): readers open it as `SqlCatalog("user_lake", uri=…)`.
pub const SQL_CATALOG_NAME: &str = "user_lake";

/// Which catalog holds the table's pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogChoice {
    /// The AWS Glue Data Catalog of this account (or of `GLUE_CATALOG_ID`).
    Glue { catalog_id: Option<String> },
    /// An Amazon S3 Tables table bucket, which also holds the table's files.
    S3Tables { table_bucket_arn: String },
    /// A SQLite file in pyiceberg's `SqlCatalog` tables.
    Sqlite { path: PathBuf },
}

/// Where the table is and which catalog holds it, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableConfig {
    pub catalog: CatalogChoice,
    /// The Glue database, or the S3 Tables or SQL catalog's namespace (`ICEBERG_DATABASE`).
    pub database: String,
    /// The table's name (`ICEBERG_TABLE`).
    pub table: String,
}

/// A Glue database or table name: lowercase letters, digits and `_`, as Athena reads them.
fn valid_name(name: &str) -> bool {
    (1..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl TableConfig {
    /// Reads `LAKE_FORMAT` and, when it is `iceberg`, the table's settings; `None` for the
    /// plain-files layout.
    pub fn from_source(env: &impl Source) -> Result<Option<Self>, SettingError> {
        let format: String = or_default(env, "LAKE_FORMAT", "iceberg".into())?;
        match format.trim().to_ascii_lowercase().as_str() {
            "iceberg" => {}
            "files" => return Ok(None),
            _ => {
                return Err(SettingError::Invalid {
                    name: "LAKE_FORMAT",
                    value: format,
                    reason: "must be iceberg or files".into(),
                });
            }
        }
        let catalog: String = or_default(env, "ICEBERG_CATALOG", "glue".into())?;
        let catalog = match catalog.trim() {
            "glue" => CatalogChoice::Glue {
                catalog_id: or_default(env, "GLUE_CATALOG_ID", String::new())
                    .map(|id: String| (!id.is_empty()).then_some(id))?,
            },
            other => match (other.strip_prefix("s3tables:"), sqlite_uri_path(other)) {
                (Some(arn), _) if is_table_bucket_arn(arn) => CatalogChoice::S3Tables {
                    table_bucket_arn: arn.into(),
                },
                (None, Some(path)) => CatalogChoice::Sqlite { path },
                _ => {
                    return Err(SettingError::Invalid {
                        name: "ICEBERG_CATALOG",
                        value: catalog,
                        reason: "must be glue, s3tables:<table bucket ARN> \
                                 (arn:aws:s3tables:<region>:<account>:bucket/<name>) \
                                 or sqlite:<path of the catalog file>"
                            .into(),
                    });
                }
            },
        };
        let name = |variable: &'static str, default: &str| -> Result<String, SettingError> {
            let value: String = or_default(env, variable, default.into())?;
            if valid_name(&value) {
                Ok(value)
            } else {
                Err(SettingError::Invalid {
                    name: variable,
                    value,
                    reason: "must be 1-255 lowercase letters, digits or '_'".into(),
                })
            }
        };
        Ok(Some(Self {
            catalog,
            database: name("ICEBERG_DATABASE", "user_lake")?,
            table: name("ICEBERG_TABLE", "users")?,
        }))
    }

    /// Where the table lives in the lake bucket, which is where the Glue and SQLite catalogs'
    /// tables are; an S3 Tables table is in its own bucket, which [`TableConfig::open`] finds.
    pub fn location(&self, bucket: &str, lake_prefix: &str) -> TableLocation {
        TableLocation::new(bucket, lake_prefix, &self.table)
    }

    /// Whether the catalog maintains the table itself, so that this project's maintenance
    /// (compaction, snapshot expiry, removal of unreferenced files) must leave it alone: S3
    /// Tables does all three, and its table buckets refuse the listing and deletes the removal
    /// needs (docs/table.md).
    pub fn maintained_by_catalog(&self) -> bool {
        matches!(self.catalog, CatalogChoice::S3Tables { .. })
    }

    /// Opens the catalog and finds the table: a Glue client from `shared`, or the SQLite file
    /// (created if missing), with the table in the lake bucket (`bucket`, under `lake_prefix`);
    /// or an S3 Tables client, with the table in its warehouse bucket (the table is created
    /// empty if it does not exist yet, since its files can only be written once it does).
    pub async fn open(
        &self,
        shared: &aws_config::SdkConfig,
        bucket: &str,
        lake_prefix: &str,
    ) -> Result<OpenedTable, CatalogError> {
        let in_lake = self.location(bucket, lake_prefix);
        match &self.catalog {
            CatalogChoice::Glue { catalog_id } => {
                let columns = crate::spec::lake_table_schema()
                    .fields
                    .iter()
                    .map(|f| (f.name.clone(), glue_type(&f.field_type).to_string()))
                    .collect();
                let catalog = GlueCatalog::new(
                    aws_sdk_glue::Client::new(shared),
                    &self.database,
                    &self.table,
                )
                .with_columns(columns)
                .with_location(in_lake.uri());
                let catalog = match catalog_id {
                    Some(id) => catalog.with_catalog_id(id),
                    None => catalog,
                };
                Ok(OpenedTable {
                    catalog: AnyCatalog::Glue(catalog),
                    location: in_lake,
                })
            }
            CatalogChoice::S3Tables { table_bucket_arn } => {
                let catalog = S3TablesCatalog::new(
                    aws_sdk_s3tables::Client::new(shared),
                    table_bucket_arn,
                    &self.database,
                    &self.table,
                );
                let location = catalog.location().await?;
                Ok(OpenedTable {
                    catalog: AnyCatalog::S3Tables(catalog),
                    location,
                })
            }
            CatalogChoice::Sqlite { path } => {
                let (path, database, table) =
                    (path.clone(), self.database.clone(), self.table.clone());
                let opened = tokio::task::spawn_blocking(move || {
                    SqliteCatalog::open(&path, SQL_CATALOG_NAME, &database, &table)
                })
                .await
                .expect("opening the catalog does not panic")?;
                Ok(OpenedTable {
                    catalog: AnyCatalog::Sqlite(opened),
                    location: in_lake,
                })
            }
        }
    }
}

/// Whether `arn` is a table bucket's ARN as S3 Tables accepts it
/// (`arn:aws[-a-z0-9]*:[a-z0-9]+:[-a-z0-9]*:[0-9]{12}:bucket/[a-z0-9_-]{3,63}`, the
/// `tableBucketARN` pattern of the S3 Tables API), for the service `s3tables`.
fn is_table_bucket_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts[..] else {
        return false;
    };
    let lower_digits_dash = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let name = resource.strip_prefix("bucket/").unwrap_or_default();
    prefix == "arn"
        && partition.starts_with("aws")
        && lower_digits_dash(partition)
        && service == "s3tables"
        && lower_digits_dash(region)
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The table as [`TableConfig::open`] found it: the catalog that holds its pointer, and where
/// its files are.
#[derive(Debug)]
pub struct OpenedTable {
    pub catalog: AnyCatalog,
    pub location: TableLocation,
}

impl OpenedTable {
    /// The store over the table's files when they are not in the bucket of `lake` (an S3
    /// Tables table's warehouse bucket): `lake`'s client on the table's bucket. `None` when the
    /// lake's store serves them.
    pub fn own_store(&self, lake: &lake::S3Store) -> Option<lake::S3Store> {
        (self.location.bucket != lake.bucket()).then(|| lake.on_bucket(&self.location.bucket))
    }
}

/// The Glue (Hive) type Athena's console shows for an Iceberg type.
fn glue_type(iceberg: &str) -> &'static str {
    match iceberg {
        "int" => "int",
        "long" => "bigint",
        "timestamptz" => "timestamp",
        _ => "string",
    }
}

/// The catalog a function opened from its settings.
#[derive(Debug)]
pub enum AnyCatalog {
    Glue(GlueCatalog),
    S3Tables(S3TablesCatalog),
    Sqlite(SqliteCatalog),
    /// The tests' catalog, shared with the test that inspects it.
    #[cfg(feature = "testing")]
    Memory(std::sync::Arc<crate::catalog::memory::MemoryCatalog>),
}

impl Catalog for AnyCatalog {
    async fn load(&self) -> Result<Option<Pointer>, CatalogError> {
        match self {
            AnyCatalog::Glue(c) => c.load().await,
            AnyCatalog::S3Tables(c) => c.load().await,
            AnyCatalog::Sqlite(c) => c.load().await,
            #[cfg(feature = "testing")]
            AnyCatalog::Memory(c) => c.load().await,
        }
    }

    async fn create(&self, metadata_location: &str) -> Result<Swap, CatalogError> {
        match self {
            AnyCatalog::Glue(c) => c.create(metadata_location).await,
            AnyCatalog::S3Tables(c) => c.create(metadata_location).await,
            AnyCatalog::Sqlite(c) => c.create(metadata_location).await,
            #[cfg(feature = "testing")]
            AnyCatalog::Memory(c) => c.create(metadata_location).await,
        }
    }

    async fn swap(&self, current: &Pointer, metadata_location: &str) -> Result<Swap, CatalogError> {
        match self {
            AnyCatalog::Glue(c) => c.swap(current, metadata_location).await,
            AnyCatalog::S3Tables(c) => c.swap(current, metadata_location).await,
            AnyCatalog::Sqlite(c) => c.swap(current, metadata_location).await,
            #[cfg(feature = "testing")]
            AnyCatalog::Memory(c) => c.swap(current, metadata_location).await,
        }
    }

    fn describe(&self) -> String {
        match self {
            AnyCatalog::Glue(c) => c.describe(),
            AnyCatalog::S3Tables(c) => c.describe(),
            AnyCatalog::Sqlite(c) => c.describe(),
            #[cfg(feature = "testing")]
            AnyCatalog::Memory(c) => c.describe(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_the_default_and_glue_its_catalog() {
        let config = TableConfig::from_source(&[("LAKE_BUCKET", "b")])
            .unwrap()
            .unwrap();
        assert_eq!(config.catalog, CatalogChoice::Glue { catalog_id: None });
        assert_eq!(
            (config.database.as_str(), config.table.as_str()),
            ("user_lake", "users")
        );
        assert_eq!(
            config.location("b", "lake/").uri(),
            "s3://b/lake/iceberg/users"
        );
    }

    #[test]
    fn the_plain_files_layout_has_no_table_settings() {
        assert_eq!(
            TableConfig::from_source(&[("LAKE_FORMAT", "files")]).unwrap(),
            None
        );
    }

    #[test]
    fn a_sqlite_catalog_is_a_path_and_bad_values_are_named() {
        let config = TableConfig::from_source(&[("ICEBERG_CATALOG", "sqlite:/tmp/c.db")])
            .unwrap()
            .unwrap();
        assert_eq!(
            config.catalog,
            CatalogChoice::Sqlite {
                path: "/tmp/c.db".into()
            }
        );
        for (name, value) in [
            ("LAKE_FORMAT", "delta"),
            ("ICEBERG_CATALOG", "hive"),
            ("ICEBERG_DATABASE", "User-Lake"),
            ("ICEBERG_TABLE", "users*"),
        ] {
            let err = TableConfig::from_source(&[(name, value)]).unwrap_err();
            assert!(
                matches!(err, SettingError::Invalid { name: n, .. } if n == name),
                "{err}"
            );
        }
    }

    const ARN: &str = "arn:aws:s3tables:eu-west-1:123456789012:bucket/user-lake-tables";

    #[test]
    fn an_s3_tables_catalog_is_a_table_bucket_arn_and_keeps_its_namespace_and_table() {
        let value = format!("s3tables:{ARN}");
        let config = TableConfig::from_source(&[
            ("ICEBERG_CATALOG", value.as_str()),
            ("ICEBERG_DATABASE", "lake"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            config.catalog,
            CatalogChoice::S3Tables {
                table_bucket_arn: ARN.into()
            }
        );
        assert_eq!(
            (config.database.as_str(), config.table.as_str()),
            ("lake", "users")
        );
        assert!(config.maintained_by_catalog());
        assert!(
            !TableConfig::from_source(&[("LAKE_BUCKET", "b")])
                .unwrap()
                .unwrap()
                .maintained_by_catalog()
        );
        // Other partitions, as the API's pattern allows them.
        let china = "s3tables:arn:aws-cn:s3tables:cn-north-1:123456789012:bucket/b_1";
        assert!(TableConfig::from_source(&[("ICEBERG_CATALOG", china)]).is_ok());
    }

    #[test]
    fn a_value_that_is_not_a_table_bucket_arn_is_refused_naming_iceberg_catalog() {
        for value in [
            "s3tables:",
            "s3tables:user-lake-tables",
            "s3tables:arn:aws:s3:::user-lake-tables",
            "s3tables:arn:aws:s3tables:eu-west-1:12345678901:bucket/user-lake-tables",
            "s3tables:arn:aws:s3tables:eu-west-1:123456789012:bucket/ab",
            "s3tables:arn:aws:s3tables:eu-west-1:123456789012:bucket/User-Lake",
            "s3tables:arn:aws:s3tables:eu-west-1:123456789012:bucket/t/table/x",
            "S3TABLES:arn:aws:s3tables:eu-west-1:123456789012:bucket/user-lake-tables",
        ] {
            let err = TableConfig::from_source(&[("ICEBERG_CATALOG", value)]).unwrap_err();
            assert!(
                matches!(&err, SettingError::Invalid { name: "ICEBERG_CATALOG", reason, .. }
                    if reason.contains("s3tables:<table bucket ARN>")),
                "{value}: {err}"
            );
        }
    }

    #[test]
    fn a_location_is_read_from_its_uri_and_a_bucket_root_has_no_prefix() {
        let root = TableLocation::from_uri("s3://abc--table-s3").unwrap();
        assert_eq!(
            (root.bucket.as_str(), root.prefix.as_str()),
            ("abc--table-s3", "")
        );
        assert_eq!(root.uri(), "s3://abc--table-s3");
        assert_eq!(
            root.uri_of("metadata/1.json"),
            "s3://abc--table-s3/metadata/1.json"
        );
        assert_eq!(
            root.key_of("s3://abc--table-s3/data/x.parquet").as_deref(),
            Some("data/x.parquet")
        );
        let nested = TableLocation::from_uri("s3://lake/iceberg/users/").unwrap();
        assert_eq!(nested, TableLocation::new("lake", "", "users"));
        assert_eq!(nested.uri(), "s3://lake/iceberg/users");
        for bad in ["abc--table-s3", "s3://", "s3:///x", "gs://b"] {
            assert_eq!(TableLocation::from_uri(bad), None, "{bad}");
        }
    }
}
