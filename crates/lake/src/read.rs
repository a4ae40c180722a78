//! Reading lake objects back: every row of a Parquet object, or just its footer (row count,
//! and the originals a merged object replaced: one or two small ranged reads, not the object), for the commands and checks that look
//! at what landed.

use bytes::Bytes;
use parquet::{
    arrow::arrow_reader::ParquetRecordBatchReaderBuilder, errors::ParquetError,
    file::metadata::ParquetMetaDataReader,
};

use crate::{
    LakeRow, LakeStore, ObjectInfo, Span, StoreError,
    compacted::{self, COMPACTED_FROM_KEY},
    rows::rows,
};

/// Why an object could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The store did not hand the object over.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The object is not readable Parquet.
    #[error("{key} is not readable Parquet: {source}")]
    Parquet {
        key: String,
        #[source]
        source: ParquetError,
    },
    /// The object's columns are not the lake's.
    #[error("{key} does not hold lake rows: {source}")]
    Rows {
        key: String,
        #[source]
        source: arrow::error::ArrowError,
    },
}

/// Every row of a Parquet object's body, in file order.
pub fn parquet_rows(key: &str, body: Bytes) -> Result<Vec<LakeRow>, ReadError> {
    let parquet = |source| ReadError::Parquet {
        key: key.to_string(),
        source,
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(body)
        .and_then(|b| b.build())
        .map_err(parquet)?;
    let mut all = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| parquet(ParquetError::from(e)))?;
        all.extend(rows(&batch).map_err(|source| ReadError::Rows {
            key: key.to_string(),
            source,
        })?);
    }
    Ok(all)
}

/// Every row of a Parquet object in the store.
pub async fn object_rows<S: LakeStore>(store: &S, key: &str) -> Result<Vec<LakeRow>, ReadError> {
    parquet_rows(key, store.get(key).await?)
}

/// Bytes read from an object's end on the first try: a lake object's footer fits many times.
const FOOTER_GUESS: u64 = 64 * 1024;

/// What an object's footer tells without its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footer {
    /// Rows the object holds.
    pub rows: u64,
    /// For a merged object, the spans of the originals it replaced
    /// ([`crate::compacted::COMPACTED_FROM_KEY`]); `None` when the footer has no such entry.
    pub compacted_from: Option<Vec<Span>>,
}

/// The rows a Parquet object holds, from its footer alone.
pub async fn row_count<S: LakeStore>(store: &S, object: &ObjectInfo) -> Result<u64, ReadError> {
    Ok(footer(store, object).await?.rows)
}

/// A Parquet object's footer: its row count and, for a merged object, the spans it replaced.
pub async fn footer<S: LakeStore>(store: &S, object: &ObjectInfo) -> Result<Footer, ReadError> {
    let parquet = |source| ReadError::Parquet {
        key: object.key.clone(),
        source,
    };
    let size = object.size;
    let mut want = FOOTER_GUESS.min(size);
    loop {
        let tail = store.get_range(&object.key, size - want..size).await?;
        let mut reader = ParquetMetaDataReader::new();
        match reader.try_parse_sized(&tail, size) {
            Ok(()) => {
                let metadata = reader.finish().map_err(parquet)?;
                let file = metadata.file_metadata();
                let compacted_from = file
                    .key_value_metadata()
                    .and_then(|kvs| kvs.iter().find(|kv| kv.key == COMPACTED_FROM_KEY))
                    .and_then(|kv| kv.value.as_deref())
                    .map(compacted::decode)
                    .transpose()
                    .map_err(|e| {
                        parquet(ParquetError::General(format!("{COMPACTED_FROM_KEY}: {e}")))
                    })?;
                return Ok(Footer {
                    rows: file.num_rows().max(0) as u64,
                    compacted_from,
                });
            }
            Err(ParquetError::NeedMoreData(needed)) if (needed as u64) > want => {
                want = (needed as u64).min(size);
            }
            Err(source) => return Err(parquet(source)),
        }
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use chrono::DateTime;
    use user_record::UserRecord;

    use super::*;
    use crate::testing::MemoryStore;

    fn body(rows: usize) -> Vec<u8> {
        let json = r#"{"id":"6f1c2f8e-2b7a-4c3e-9d1a-0a5b8c7d6e4f","first_name":"A","last_name":"B","gender":"x","address":"a","post_code":"1","email":"e","username":"u","dob":"2000-01-01T00:00:00Z","registered_date":"2020-01-01T00:00:00Z","phone":"p","picture":"q"}"#;
        let record = UserRecord::from_json_owned(json.as_bytes()).unwrap();
        let at = DateTime::from_timestamp_millis(1_795_525_198_000).unwrap();
        let rows: Vec<crate::LakeRow> = (0..rows as i64)
            .map(|offset| crate::LakeRow {
                record: record.clone(),
                topic: "users_created".into(),
                partition: 0,
                offset,
                timestamp: at,
            })
            .collect();
        crate::testing::parquet(&rows)
    }

    #[tokio::test]
    async fn the_row_count_comes_from_the_footer_and_matches_the_rows() {
        let store = MemoryStore::default();
        store.put("users/a.parquet", body(1234), "x").await.unwrap();
        let listed = store.list("users/").await.unwrap();
        assert_eq!(row_count(&store, &listed[0]).await.unwrap(), 1234);
        assert_eq!(
            object_rows(&store, "users/a.parquet").await.unwrap().len(),
            1234
        );
    }

    #[tokio::test]
    async fn an_object_that_is_not_parquet_is_named() {
        let store = MemoryStore::default();
        store
            .put("users/b.parquet", b"PAR1 not really".to_vec(), "x")
            .await
            .unwrap();
        let listed = store.list("users/").await.unwrap();
        let error = row_count(&store, &listed[0]).await.unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("users/b.parquet is not readable Parquet"),
            "{error}"
        );
    }
}
