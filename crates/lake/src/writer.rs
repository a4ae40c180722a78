//! How every lake object is written to Parquet, by the sink, the compactor and the export
//! alike: the settings, so that a merged object is encoded as its originals were, and the
//! encoding itself.

use arrow::record_batch::RecordBatch;
use parquet::{
    arrow::ArrowWriter,
    basic::{Compression, ZstdLevel},
    errors::ParquetError,
    file::{
        metadata::KeyValue,
        properties::{EnabledStatistics, WriterProperties},
    },
    schema::types::ColumnPath,
};

/// Columns with few distinct values, where dictionary encoding pays; the rest are mostly
/// unique per row (ids, names, emails), where a dictionary only costs time.
const DICTIONARY_COLUMNS: [&str; 3] = ["gender", "kafka_topic", "kafka_partition"];

/// Columns whose min and max per row group let a reader skip row groups: time, place on the
/// topic, and the few-valued ones. The others are random per row (ids, emails, addresses),
/// where every row group spans nearly the whole range, so their statistics would only cost the
/// sink comparisons on every value.
pub const STATISTICS_COLUMNS: [&str; 7] = [
    "dob",
    "registered_date",
    "gender",
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
    "kafka_timestamp",
];

/// Writer settings for every lake object; `created_by` names the writer (`user-lake sink 0.1.0`).
pub fn writer_properties(compression: Compression, created_by: &str) -> WriterProperties {
    let builder = WriterProperties::builder()
        .set_compression(compression)
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::None)
        .set_created_by(created_by.into());
    let builder = DICTIONARY_COLUMNS.iter().fold(builder, |builder, column| {
        builder.set_column_dictionary_enabled(ColumnPath::from(*column), true)
    });
    let builder = STATISTICS_COLUMNS.iter().fold(builder, |builder, column| {
        builder.set_column_statistics_enabled(ColumnPath::from(*column), EnabledStatistics::Chunk)
    });
    builder.build()
}

/// `batch` as one complete Parquet file written with `properties`, its footer carrying the
/// `metadata` pairs (a merged object's list of the originals it replaced). Built in memory: an
/// object is at most one sink batch or one merge target.
pub fn encode(
    batch: &RecordBatch,
    properties: &WriterProperties,
    metadata: &[(&str, String)],
) -> Result<Vec<u8>, ParquetError> {
    let mut writer = ArrowWriter::try_new(
        Vec::with_capacity(batch.get_array_memory_size() / 2),
        batch.schema(),
        Some(properties.clone()),
    )?;
    writer.write(batch)?;
    for (key, value) in metadata {
        writer.append_key_value_metadata(KeyValue::new((*key).to_string(), value.clone()));
    }
    writer.into_inner()
}

/// Parses `zstd`, `zstd(3)`, `snappy`, `gzip`, `gzip(9)`, `lz4`, `none`. A bare `zstd` means
/// level 1: nearly the ratio of the default level 3 at a fraction of the encode time.
pub fn parse_compression(value: &str) -> Result<Compression, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "zstd" => Ok(Compression::ZSTD(
            ZstdLevel::try_new(1).map_err(|e| e.to_string())?,
        )),
        "gzip" => Ok(Compression::GZIP(Default::default())),
        "lz4" | "lz4_raw" => Ok(Compression::LZ4_RAW),
        "none" | "uncompressed" => Ok(Compression::UNCOMPRESSED),
        "snappy" => Ok(Compression::SNAPPY),
        other if other.starts_with("zstd(") || other.starts_with("gzip(") => other
            .parse()
            .map_err(|e: parquet::errors::ParquetError| e.to_string()),
        _ => Err("must be one of zstd, zstd(1..22), snappy, gzip, gzip(0..9), lz4, none".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_are_kept_only_where_they_can_skip_row_groups() {
        let properties = writer_properties(Compression::UNCOMPRESSED, "test");
        let level = |column: &str| properties.statistics_enabled(&ColumnPath::from(column));
        assert_eq!(level("kafka_offset"), EnabledStatistics::Chunk);
        assert_eq!(level("registered_date"), EnabledStatistics::Chunk);
        assert_eq!(level("address"), EnabledStatistics::None);
        assert_eq!(level("id"), EnabledStatistics::None);
    }

    #[test]
    fn every_documented_codec_parses() {
        for codec in [
            "zstd", "ZSTD(3)", "snappy", "gzip", "gzip(9)", "lz4", "none",
        ] {
            assert!(parse_compression(codec).is_ok(), "{codec}");
        }
        assert_eq!(
            parse_compression("zstd(7)").unwrap(),
            Compression::ZSTD(ZstdLevel::try_new(7).unwrap())
        );
        assert!(parse_compression("zstd(99)").is_err());
        assert!(parse_compression("brotli").is_err());
    }
}
