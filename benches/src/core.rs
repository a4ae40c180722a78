//! The sink's hot path on one event: from the raw event bytes to the Parquet bytes ready to
//! put, through the function's own `sink::handle` with a store that only keeps the bodies,
//! and each stage on its own so that a profile is at hand when a figure moves.

use std::sync::Mutex;

use bytes::Bytes;
use lake::{Condition, LakeStore, ObjectInfo, StoreError, Tagged};
use msk_event::{Entry, MskEvent, MskRecord};
use sink::{Sink, SinkConfig, SinkSummary, batch::Batcher, decode::Accepted};
use user_record::UserRecordRef;

use crate::figure::{Figure, Repeats, time_checked_ms, time_ms};

/// A lake that takes every object and keeps only its size: what the handler would put. The
/// sink only puts; the other calls answer as an empty bucket would.
#[derive(Default)]
pub struct CountingStore {
    pub bytes: Mutex<usize>,
}

impl LakeStore for CountingStore {
    async fn list(&self, _prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        Ok(Vec::new())
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        Err(StoreError::Get {
            bucket: "bench-lake".into(),
            key: key.into(),
            code: Some("NoSuchKey".into()),
            retry: lambda_kit::Retry::Fatal,
            message: "the counting store keeps no bodies".into(),
        })
    }

    async fn get_range(
        &self,
        key: &str,
        _range: std::ops::Range<u64>,
    ) -> Result<Bytes, StoreError> {
        self.get(key).await
    }

    async fn delete(&self, _key: &str) -> Result<(), StoreError> {
        Ok(())
    }

    async fn get_tagged(&self, _key: &str) -> Result<Option<Tagged>, StoreError> {
        Ok(None)
    }

    async fn put_if(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &'static str,
        _condition: Condition,
    ) -> Result<bool, StoreError> {
        self.put(key, body, content_type).await.map(|()| true)
    }

    async fn put(
        &self,
        _key: &str,
        body: Vec<u8>,
        _content_type: &'static str,
    ) -> Result<(), StoreError> {
        *self.bytes.lock().unwrap() += std::hint::black_box(body).len();
        Ok(())
    }
}

/// The sink's hot path, with `codec` (a `PARQUET_COMPRESSION` value) and a counting store:
/// decode, batch and encode to Parquet objects (the plain-files layout, whose writes are the
/// store's only work; the table's commit adds the catalog's round trips, not measured here).
pub fn sink_with(codec: &str) -> anyhow::Result<Sink<CountingStore>> {
    let settings = [
        ("LAKE_BUCKET", "bench-lake"),
        ("LAKE_FORMAT", "files"),
        ("PARQUET_COMPRESSION", codec),
    ];
    let config = SinkConfig::from_source(&settings)?;
    let mut sink = Sink::new(CountingStore::default(), &config);
    // The summary line is still built, as in Lambda, but kept off stdout, which carries the
    // harness's own results (the memory child reports through it).
    sink.metrics = lambda_kit::emf::Metrics::captured(config.metrics.clone()).0;
    Ok(sink)
}

/// Raw event bytes to stored Parquet: what one invocation does, less the network.
pub fn handle_event(
    bytes: &[u8],
    sink: &Sink<CountingStore>,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<SinkSummary> {
    // The same instant on every run: records carry their own timestamps. The body goes to the
    // handler as the runtime received it (`lambda_kit::raw_body`).
    let now = chrono::DateTime::UNIX_EPOCH;
    Ok(runtime.block_on(sink::handle_bytes(bytes, sink, now))?)
}

/// A single-threaded runtime: the figures are for one core.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime builds")
}

/// The whole path and each stage, on `bytes` holding `records` records.
pub fn figures(bytes: &[u8], records: usize, repeats: Repeats) -> anyhow::Result<Vec<Figure>> {
    let sink = sink_with("zstd")?;
    let runtime = runtime();
    let summary = handle_event(bytes, &sink, &runtime)?;
    anyhow::ensure!(
        summary.written == records && summary.rejected == 0,
        "the sink wrote {} and rejected {} of {records} records",
        summary.written,
        summary.rejected
    );
    let whole = Figure::of(
        "sink core: event -> Parquet",
        "ms/event",
        &time_checked_ms(repeats, || handle_event(bytes, &sink, &runtime))?,
    );
    let mib = bytes.len() as f64 / (1024.0 * 1024.0);
    let mut figures = vec![
        // The same bytes on every CPU: the aarch64 run is checked against the x86-64 one by it.
        Figure::single(
            "sink core: Parquet bytes written per event",
            "bytes",
            summary.bytes as f64,
        ),
        Figure::rate("sink core: throughput", "records/s", records as f64, &whole),
        Figure::rate("sink core: payload", "MiB/s", mib, &whole),
        whole,
    ];
    figures.extend(stages(bytes, repeats)?);
    Ok(figures)
}

/// Every entry of the event, parsed (a well-formed event's entries are read with the event).
fn entries<'a>(event: MskEvent<'a>) -> anyhow::Result<Vec<MskRecord<'a>>> {
    let entries = event.records.into_values().flatten();
    Ok(entries
        .map(|entry| match entry {
            Entry::Record(record) => Ok(record),
            Entry::Raw(raw) => serde_json::from_str(raw.get()),
        })
        .collect::<Result<_, _>>()?)
}

/// A plain scan: every byte read once and summed, the least any pass over the bytes can cost
/// (the compiler vectorises it); each envelope stage is held against it on the same bytes.
fn scan<'a>(parts: impl Iterator<Item = &'a [u8]>) -> u8 {
    parts.fold(0u8, |sum, part| {
        part.iter().fold(sum, |sum, &b| sum.wrapping_add(b))
    })
}

/// `text` decoded from base64 into `buffer`, emptied first, as the sink decodes each value;
/// how many bytes it holds.
fn decode_reusing(buffer: &mut Vec<u8>, text: &[u8]) -> usize {
    buffer.clear();
    base64_simd::STANDARD.decode_append(text, buffer).unwrap();
    buffer.len()
}

/// Each stage alone, on the output of the one before, as the sink's modules run them.
fn stages(bytes: &[u8], repeats: Repeats) -> anyhow::Result<Vec<Figure>> {
    let body_scan = time_ms(repeats, || scan(std::iter::once(bytes)));
    let utf8 = time_ms(repeats, || std::str::from_utf8(bytes).is_ok());
    let json = std::str::from_utf8(bytes)?;
    let parse_event = |json: &str| entries(MskEvent::from_json(json).unwrap()).unwrap().len();
    let event_parse = time_ms(repeats, || parse_event(json));
    // The same event with every object's fields in alphabetical order (serde_json's map
    // order): entries in an order other than Lambda's, read field by field.
    let reordered = serde_json::to_string(&serde_json::from_str::<serde_json::Value>(json)?)?;
    anyhow::ensure!(
        !reordered.contains(r#"[{"topic":"#),
        "the reordered event kept Lambda's field order"
    );
    let event_parse_any_order = time_ms(repeats, || parse_event(&reordered));
    let records = entries(MskEvent::from_json(json)?)?;
    let encoded: Vec<&[u8]> = records
        .iter()
        .map(|r| r.value.as_deref().unwrap_or_default().as_bytes())
        .collect();
    let base64_scan = time_ms(repeats, || scan(encoded.iter().copied()));
    // As the sink decodes: each value into one reused buffer.
    let mut buffer = Vec::new();
    let base64 = time_ms(repeats, || {
        encoded
            .iter()
            .map(|text| decode_reusing(&mut buffer, text))
            .sum::<usize>()
    });
    let values: Vec<Vec<u8>> = encoded
        .iter()
        .map(|text| base64_simd::STANDARD.decode_to_vec(text))
        .collect::<Result<_, _>>()?;
    // The decoder's own pace: the same bytes as one base64 string, decoded in one call.
    let joined = base64_simd::STANDARD.encode_to_string(values.concat());
    buffer.reserve(joined.len());
    let base64_one_call = time_ms(repeats, || decode_reusing(&mut buffer, joined.as_bytes()));
    let parse_all = || -> Vec<UserRecordRef<'_>> {
        values
            .iter()
            .map(|v| UserRecordRef::from_json(v).unwrap())
            .collect()
    };
    let record_parse = time_parses(&values, repeats, |v| UserRecordRef::from_json(v).unwrap());
    let parsers = parser_figures(&values, repeats);
    let accepted: Vec<Accepted<'_>> = records
        .iter()
        .zip(parse_all())
        .map(|(r, record)| Accepted {
            topic: r.topic.as_deref().unwrap_or_default(),
            partition: r.partition as i32,
            offset: r.offset,
            timestamp: chrono::DateTime::from_timestamp_millis(r.timestamp.0).unwrap_or_default(),
            record,
            added: Vec::new(),
        })
        .collect();
    let build = || {
        let mut batcher = Batcher::default();
        accepted.iter().for_each(|row| batcher.push(row));
        batcher.finish().unwrap()
    };
    let arrow = time_ms(repeats, build);
    let slots = build();
    let properties = sink_with("zstd")?.properties;
    let parquet = time_ms(repeats, || {
        slots
            .iter()
            .map(|s| sink::encode::parquet(&s.batch, &properties).unwrap().len())
            .sum::<usize>()
    });
    let mut figures = vec![
        Figure::of("scan: the event's bytes", "ms/event", &body_scan),
        Figure::of("stage: body UTF-8 check", "ms/event", &utf8),
        Figure::of(
            "stage: event parse (event + entries)",
            "ms/event",
            &event_parse,
        ),
        Figure::of(
            "stage: event parse, fields in another order",
            "ms/event",
            &event_parse_any_order,
        ),
        Figure::of("scan: the values' base64 text", "ms/event", &base64_scan),
        Figure::of("stage: base64 decode", "ms/event", &base64),
        Figure::of(
            "base64 decode: the same bytes as one string, one call",
            "ms/event",
            &base64_one_call,
        ),
        Figure::of(
            "stage: record parse (JSON -> UserRecordRef)",
            "ms/event",
            &record_parse,
        ),
        Figure::of("stage: Arrow build", "ms/event", &arrow),
        Figure::of("stage: Parquet encode (zstd 1)", "ms/event", &parquet),
    ];
    figures.extend(parsers);
    Ok(figures)
}

/// Every value parsed by `parse` and handed to black_box, timed: the one way each parser,
/// the sink's included, is measured.
fn time_parses<'v, R>(
    values: &'v [Vec<u8>],
    repeats: Repeats,
    parse: impl Fn(&'v [u8]) -> R,
) -> Vec<f64> {
    time_ms(repeats, || {
        for value in values {
            std::hint::black_box(parse(value));
        }
    })
}

/// The record parse with each JSON parser measured, on the same decoded values, into the same
/// borrowed record: the figure the sink's own parse is held against.
fn parser_figures(values: &[Vec<u8>], repeats: Repeats) -> Vec<Figure> {
    let serde_json = time_parses(values, repeats, |v| {
        serde_json::from_slice::<UserRecordRef<'_>>(v).unwrap()
    });
    let sonic = time_parses(values, repeats, |v| {
        sonic_rs::from_slice::<UserRecordRef<'_>>(v).unwrap()
    });
    // simd-json parses in place, so each value is first copied into one reused buffer (as the
    // sink decodes base64 into one); its scratch buffers are reused too.
    let mut buffer = Vec::new();
    let mut scratch = simd_json::Buffers::default();
    let simd = time_ms(repeats, || {
        for value in values {
            buffer.clear();
            buffer.extend_from_slice(value);
            let record: UserRecordRef<'_> =
                simd_json::serde::from_slice_with_buffers(&mut buffer, &mut scratch).unwrap();
            std::hint::black_box(record);
        }
    });
    vec![
        Figure::of("parser: record, serde_json", "ms/event", &serde_json),
        Figure::of("parser: record, sonic-rs", "ms/event", &sonic),
        Figure::of(
            "parser: record, simd-json (copy + parse)",
            "ms/event",
            &simd,
        ),
    ]
}

/// The codecs `PARQUET_COMPRESSION` accepts that are worth comparing.
pub const CODECS: [&str; 6] = ["zstd", "zstd(3)", "snappy", "lz4", "gzip", "none"];

/// Parquet bytes per 1,000 records, and the whole path's time, for each codec.
pub fn codec_figures(
    bytes: &[u8],
    records: usize,
    repeats: Repeats,
) -> anyhow::Result<Vec<Figure>> {
    let runtime = runtime();
    let mut figures = Vec::new();
    for codec in CODECS {
        let sink = sink_with(codec)?;
        let summary = handle_event(bytes, &sink, &runtime)?;
        let kib = summary.bytes as f64 / records as f64 * 1000.0 / 1024.0;
        figures.push(Figure::single(
            &format!("Parquet size, {codec}"),
            "KiB/1000 records",
            kib,
        ));
        let millis = time_checked_ms(repeats, || handle_event(bytes, &sink, &runtime))?;
        figures.push(Figure::of(
            &format!("sink core, {codec}"),
            "ms/event",
            &millis,
        ));
    }
    Ok(figures)
}
