//! The table's settings, shared by every function and command that reads or writes the lake
//! (see `docs/configuration.md`), and the catalog they open.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `LAKE_FORMAT` | `iceberg` | `iceberg`: the lake is an Iceberg table; `files`: plain Parquet objects under `users/dt=…/hour=…/` |
//! | `ICEBERG_CATALOG` | `glue` | `glue`, or `sqlite:<path>` (the local stack's catalog file) |
//! | `ICEBERG_DATABASE` | `user_lake` | the Glue database (the SQL catalog's namespace) |
//! | `ICEBERG_TABLE` | `users` | the table's name |
//! | `GLUE_CATALOG_ID` | the caller's account | the Data Catalog's account id |

use std::path::PathBuf;

use lambda_kit::settings::{SettingError, Source, or_default};

use crate::{
    Catalog, CatalogError, Pointer, Swap,
    catalog::{glue::GlueCatalog, sqlite::SqliteCatalog, sqlite::sqlite_uri_path},
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
    /// A SQLite file in pyiceberg's `SqlCatalog` tables.
    Sqlite { path: PathBuf },
}

/// Where the table is and which catalog holds it, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableConfig {
    pub catalog: CatalogChoice,
    /// The Glue database, or the SQL catalog's namespace (`ICEBERG_DATABASE`).
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
            other => match sqlite_uri_path(other) {
                Some(path) => CatalogChoice::Sqlite { path },
                None => {
                    return Err(SettingError::Invalid {
                        name: "ICEBERG_CATALOG",
                        value: catalog,
                        reason: "must be glue or sqlite:<path of the catalog file>".into(),
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

    /// Where the table lives in the lake bucket.
    pub fn location(&self, bucket: &str, lake_prefix: &str) -> TableLocation {
        TableLocation::new(bucket, lake_prefix, &self.table)
    }

    /// Opens the catalog: a Glue client from `shared`, or the SQLite file (created if missing).
    pub async fn open(
        &self,
        shared: &aws_config::SdkConfig,
        location: &TableLocation,
    ) -> Result<AnyCatalog, CatalogError> {
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
                .with_location(location.uri());
                Ok(AnyCatalog::Glue(match catalog_id {
                    Some(id) => catalog.with_catalog_id(id),
                    None => catalog,
                }))
            }
            CatalogChoice::Sqlite { path } => {
                let (path, database, table) =
                    (path.clone(), self.database.clone(), self.table.clone());
                let opened = tokio::task::spawn_blocking(move || {
                    SqliteCatalog::open(&path, SQL_CATALOG_NAME, &database, &table)
                })
                .await
                .expect("opening the catalog does not panic")?;
                Ok(AnyCatalog::Sqlite(opened))
            }
        }
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
    Sqlite(SqliteCatalog),
    /// The tests' catalog, shared with the test that inspects it.
    #[cfg(feature = "testing")]
    Memory(std::sync::Arc<crate::catalog::memory::MemoryCatalog>),
}

impl Catalog for AnyCatalog {
    async fn load(&self) -> Result<Option<Pointer>, CatalogError> {
        match self {
            AnyCatalog::Glue(c) => c.load().await,
            AnyCatalog::Sqlite(c) => c.load().await,
            #[cfg(feature = "testing")]
            AnyCatalog::Memory(c) => c.load().await,
        }
    }

    async fn create(&self, metadata_location: &str) -> Result<Swap, CatalogError> {
        match self {
            AnyCatalog::Glue(c) => c.create(metadata_location).await,
            AnyCatalog::Sqlite(c) => c.create(metadata_location).await,
            #[cfg(feature = "testing")]
            AnyCatalog::Memory(c) => c.create(metadata_location).await,
        }
    }

    async fn swap(&self, current: &Pointer, metadata_location: &str) -> Result<Swap, CatalogError> {
        match self {
            AnyCatalog::Glue(c) => c.swap(current, metadata_location).await,
            AnyCatalog::Sqlite(c) => c.swap(current, metadata_location).await,
            #[cfg(feature = "testing")]
            AnyCatalog::Memory(c) => c.swap(current, metadata_location).await,
        }
    }

    fn describe(&self) -> String {
        match self {
            AnyCatalog::Glue(c) => c.describe(),
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
}
