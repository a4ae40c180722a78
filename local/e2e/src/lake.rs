//! Reading the lake back through the S3 API of the local store, with the Parquet reader.

use arrow::{
    array::AsArray,
    datatypes::{Int32Type, Int64Type, TimestampMillisecondType},
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use user_record::UserRecord;

use crate::env_file::local_env;

/// One row of the lake with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct LakeRow {
    pub key: String,
    pub record: UserRecord,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp_ms: i64,
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
            let batch = batch.unwrap();
            let text = |name: &str| {
                batch
                    .column_by_name(name)
                    .unwrap()
                    .as_string::<i32>()
                    .clone()
            };
            let ms = |name: &str| {
                batch
                    .column_by_name(name)
                    .unwrap()
                    .as_primitive::<TimestampMillisecondType>()
                    .clone()
            };
            let (id, first, last, gender, address) = (
                text("id"),
                text("first_name"),
                text("last_name"),
                text("gender"),
                text("address"),
            );
            let (post_code, email, username, phone, picture) = (
                text("post_code"),
                text("email"),
                text("username"),
                text("phone"),
                text("picture"),
            );
            let (dob, registered, kafka_ts, topic) = (
                ms("dob"),
                ms("registered_date"),
                ms("kafka_timestamp"),
                text("kafka_topic"),
            );
            let partition = batch
                .column_by_name("kafka_partition")
                .unwrap()
                .as_primitive::<Int32Type>()
                .clone();
            let offset = batch
                .column_by_name("kafka_offset")
                .unwrap()
                .as_primitive::<Int64Type>()
                .clone();
            for i in 0..batch.num_rows() {
                rows.push(LakeRow {
                    key: key.clone(),
                    record: UserRecord {
                        id: id.value(i).parse().unwrap(),
                        first_name: first.value(i).into(),
                        last_name: last.value(i).into(),
                        gender: gender.value(i).into(),
                        address: address.value(i).into(),
                        post_code: post_code.value(i).into(),
                        email: email.value(i).into(),
                        username: username.value(i).into(),
                        dob: chrono_ms(dob.value(i)),
                        registered_date: chrono_ms(registered.value(i)),
                        phone: phone.value(i).into(),
                        picture: picture.value(i).into(),
                    },
                    topic: topic.value(i).into(),
                    partition: partition.value(i),
                    offset: offset.value(i),
                    timestamp_ms: kafka_ts.value(i),
                });
            }
        }
    }
    rows
}

fn chrono_ms(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap()
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
