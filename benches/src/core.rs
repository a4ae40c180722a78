//! The sink's hot path on one event: from the raw event bytes to the Parquet bytes ready to
//! put, through the function's own `sink::handle` with a store that only keeps the bodies,
//! and each stage on its own so that a profile is at hand when a figure moves.

use std::sync::Mutex;

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use sink::{
    MskEvent, ObjectStore, Sink, SinkConfig, SinkSummary, StoreError,
    decode::{self, MskRecord},
};
use user_record::UserRecord;

use crate::figure::{Figure, Repeats, time_ms};

/// A lake that takes every object and keeps only its size: what the handler would put.
#[derive(Default)]
pub struct CountingStore {
    pub bytes: Mutex<usize>,
}

impl ObjectStore for CountingStore {
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

/// The sink as deployed, with `codec` (a `PARQUET_COMPRESSION` value) and a counting store.
pub fn sink_with(codec: &str) -> anyhow::Result<Sink<CountingStore>> {
    let settings = [
        ("LAKE_BUCKET", "bench-lake"),
        ("PARQUET_COMPRESSION", codec),
    ];
    let config = SinkConfig::from_source(&settings)?;
    let mut sink = Sink::new(CountingStore::default(), &config);
    // The summary line is still built, as in Lambda, but kept off stdout, which carries the
    // harness's own results (the memory child reports through it).
    sink.metrics = user_record::emf::Metrics::captured(config.metrics.clone()).0;
    Ok(sink)
}

/// Raw event bytes to stored Parquet: what one invocation does, less the network.
pub fn handle_event(
    bytes: &[u8],
    sink: &Sink<CountingStore>,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<SinkSummary> {
    let event: MskEvent = serde_json::from_slice(bytes)?;
    // The same instant on every run: records carry their own timestamps.
    let now = chrono::DateTime::UNIX_EPOCH;
    Ok(runtime.block_on(sink::handle(&event, sink, now))?)
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
        &time_ms(repeats, || handle_event(bytes, &sink, &runtime)),
    );
    let mib = bytes.len() as f64 / (1024.0 * 1024.0);
    let mut figures = vec![
        Figure::rate("sink core: throughput", "records/s", records as f64, &whole),
        Figure::rate("sink core: payload", "MiB/s", mib, &whole),
        whole,
    ];
    figures.extend(stages(bytes, repeats)?);
    Ok(figures)
}

/// Each stage alone, on the output of the one before, as the sink's modules run them.
fn stages(bytes: &[u8], repeats: Repeats) -> anyhow::Result<Vec<Figure>> {
    let parse = |bytes: &[u8]| -> anyhow::Result<MskEvent> { Ok(serde_json::from_slice(bytes)?) };
    let event = parse(bytes)?;
    let entries = |event: &MskEvent| -> Vec<Box<serde_json::value::RawValue>> {
        event.records.values().flatten().cloned().collect()
    };
    let raw = entries(&event);
    let event_parse = time_ms(repeats, || {
        let event = parse(bytes).unwrap();
        entries(&event)
            .iter()
            .map(|e| serde_json::from_str::<MskRecord>(e.get()).unwrap().offset)
            .sum::<i64>()
    });
    let records: Vec<MskRecord> = raw
        .iter()
        .map(|e| serde_json::from_str(e.get()))
        .collect::<Result<_, _>>()?;
    let values = || -> Vec<Vec<u8>> {
        records
            .iter()
            .map(|r| {
                BASE64
                    .decode(r.value.as_deref().unwrap_or_default())
                    .unwrap()
            })
            .collect()
    };
    let base64 = time_ms(repeats, values);
    let values = values();
    let record_parse = time_ms(repeats, || {
        values
            .iter()
            .map(|v| UserRecord::from_json(v).unwrap())
            .collect::<Vec<_>>()
    });
    let accepted = decode::decode(&event).accepted;
    let arrow = time_ms(repeats, || sink::batch::build(&accepted).unwrap());
    let slots = sink::batch::build(&accepted)?;
    let properties = sink_with("zstd")?.properties;
    let parquet = time_ms(repeats, || {
        slots
            .iter()
            .map(|s| sink::encode::parquet(&s.batch, &properties).unwrap().len())
            .sum::<usize>()
    });
    Ok(vec![
        Figure::of(
            "stage: event parse (event + entries)",
            "ms/event",
            &event_parse,
        ),
        Figure::of("stage: base64 decode", "ms/event", &base64),
        Figure::of(
            "stage: record parse (JSON -> UserRecord)",
            "ms/event",
            &record_parse,
        ),
        Figure::of("stage: Arrow build", "ms/event", &arrow),
        Figure::of("stage: Parquet encode (zstd 1)", "ms/event", &parquet),
    ])
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
        let millis = time_ms(repeats, || handle_event(bytes, &sink, &runtime));
        figures.push(Figure::of(
            &format!("sink core, {codec}"),
            "ms/event",
            &millis,
        ));
    }
    Ok(figures)
}
