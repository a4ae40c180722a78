//! Reading the lake back through the S3 API of the local store, with the Parquet reader.

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::env_file::local_env;

/// One row of the lake and the object it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct LakeRow {
    pub key: String,
    pub row: user_record::lake::LakeRow,
}

/// An S3 client for the local store, configured only from the local env file.
pub async fn client() -> aws_sdk_s3::Client {
    let env = local_env();
    let credentials = aws_sdk_s3::config::Credentials::new(
        &env["AWS_ACCESS_KEY_ID"],
        &env["AWS_SECRET_ACCESS_KEY"],
        None,
        None,
        "local-env",
    );
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new(env["AWS_REGION"].clone()))
        .endpoint_url(&env["AWS_ENDPOINT_URL_S3"])
        .credentials_provider(credentials)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Every key under `prefix` in the lake bucket.
pub async fn keys(s3: &aws_sdk_s3::Client, prefix: &str) -> Vec<String> {
    let bucket = &local_env()["LAKE_BUCKET"];
    let mut keys = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        keys.extend(
            page.unwrap()
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
    }
    keys.sort();
    keys
}

pub async fn get(s3: &aws_sdk_s3::Client, key: &str) -> Vec<u8> {
    let bucket = &local_env()["LAKE_BUCKET"];
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    object.body.collect().await.unwrap().into_bytes().to_vec()
}

/// Every row of every Parquet object under `users/`.
pub async fn rows(s3: &aws_sdk_s3::Client) -> Vec<LakeRow> {
    let mut rows = Vec::new();
    for key in keys(s3, "users/").await {
        let body = bytes::Bytes::from(get(s3, &key).await);
        let reader = ParquetRecordBatchReaderBuilder::try_new(body)
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            for row in user_record::lake::rows(&batch.unwrap()).unwrap() {
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
pub async fn errors(s3: &aws_sdk_s3::Client) -> Vec<(String, serde_json::Value)> {
    let mut lines = Vec::new();
    for key in keys(s3, "_errors/").await {
        let body = get(s3, &key).await;
        for line in body.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            lines.push((key.clone(), serde_json::from_slice(line).unwrap()));
        }
    }
    lines
}
