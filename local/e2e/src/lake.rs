//! Reading the lake back through the S3 API of the local store, with the lake crate's own
//! store and the Parquet reader, configured only from the local env file.

use ::lake::{LakeConfig, LakeStore, Layout, S3Store};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::env_file::local_env;

/// One row of the lake and the object it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct LakeRow {
    pub key: String,
    pub row: ::lake::LakeRow,
}

/// The local lake's settings, from the local env file.
pub fn config() -> LakeConfig {
    let env = local_env();
    let settings: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    LakeConfig::from_source(&settings).expect("the local env file configures the lake")
}

/// The key layout of the local lake (its `LAKE_PREFIX`).
pub fn layout() -> Layout {
    config().layout
}

/// The local lake through the S3 API, with the credentials, region and endpoint of the local
/// env file (not the process environment, which a test does not set).
pub async fn client() -> S3Store {
    bucket(&config().bucket).await
}

/// A store over another bucket of the local S3 store (the failure destination's, say).
pub async fn bucket(name: &str) -> S3Store {
    let env = local_env();
    let credentials = aws_sdk_s3::config::Credentials::new(
        &env["AWS_ACCESS_KEY_ID"],
        &env["AWS_SECRET_ACCESS_KEY"],
        None,
        None,
        "local-env",
    );
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(env["AWS_REGION"].clone()))
        .endpoint_url(&env["AWS_ENDPOINT_URL_S3"])
        .credentials_provider(credentials)
        .load()
        .await;
    S3Store::new(config().s3_client_from(&shared), name)
}

/// Every key under `prefix` in the lake bucket, in order.
pub async fn keys(s3: &S3Store, prefix: &str) -> Vec<String> {
    let listed = s3.list(prefix).await.unwrap();
    listed.into_iter().map(|o| o.key).collect()
}

/// An object's body.
pub async fn get(s3: &S3Store, key: &str) -> Vec<u8> {
    s3.get(key).await.unwrap().to_vec()
}

/// Every row of every Parquet object under `users/`.
pub async fn rows(s3: &S3Store) -> Vec<LakeRow> {
    let mut rows = Vec::new();
    for key in keys(s3, "users/").await {
        let body = s3.get(&key).await.unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(body)
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            for row in ::lake::rows::rows(&batch.unwrap()).unwrap() {
                rows.push(LakeRow {
                    key: key.clone(),
                    row,
                });
            }
        }
    }
    rows
}

/// Every line of every error object under `_errors/`, with its object key.
pub async fn errors(s3: &S3Store) -> Vec<(String, serde_json::Value)> {
    let mut lines = Vec::new();
    for key in keys(s3, "_errors/").await {
        let body = get(s3, &key).await;
        for line in body.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            lines.push((key.clone(), serde_json::from_slice(line).unwrap()));
        }
    }
    lines
}
